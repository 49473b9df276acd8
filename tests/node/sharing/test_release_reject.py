"""Rejecting a share that waits for four-eyes release: an approver's comment the author sees, and nothing leaves.

What left is taken from the bytes that crossed the wire (tests/node/federation.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from node import audit
from node.errors import NodeError, NotFound, PolicyError
from node.home import Node
from node.sharing.records import add_record, edit_record
from node.sharing.release import MAX_COMMENT, list_shares, pending_shares, reject_share, release_share
from node.sharing.shares import share_record, unshare
from node.users import ADMIN, Actor, add_user
from tests.node.federation import Federation

RECORD: dict[str, Any] = {"title": "Sicherheitsaudit Innenstadt", "summary": "Begehungen und Befragung."}
OLGA, ANTON, BERTA = Actor("olga", "officer"), Actor("anton", "approver"), Actor("berta", "approver")
COMMENT = "Bitte die Kosten herausnehmen und die Zielgruppen genauer fassen."


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path)
    a = await federation.add("augsburg", {"release": {"four_eyes": True}})
    federation.pair(a, await federation.add("bonn"))
    for actor in (OLGA, ANTON, BERTA):
        add_user(a, actor.name, actor.role, "correct horse battery", by=ADMIN)
    yield federation
    await federation.close()


def ab(fed: Federation) -> tuple[Node, Node]:
    a, b = fed.nodes.values()
    return a, b


def state(a: Node) -> dict[str, Any]:
    """What a refused rejection must leave as it was."""
    tables = ("shares", "grants", "deliveries", "envelopes", "audit")
    return {table: a.db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall() for table in tables}


def requested(fed: Federation) -> tuple[Node, Node, str, dict[str, Any]]:
    """olga asked to share a record with bonn; the share waits for release."""
    a, b = ab(fed)
    record_id = add_record(a, "experience", RECORD, by=OLGA)
    share_record(a, record_id, [b.node_id], all_peers=False, by=OLGA)
    [waiting] = pending_shares(a)
    return a, b, record_id, waiting


async def test_a_rejected_share_leaves_the_list_sends_nothing_and_its_author_reads_why(fed: Federation) -> None:
    a, b, record_id, waiting = requested(fed)
    outcome = reject_share(a, waiting["id"], comment=f"  {COMMENT}\n", by=ANTON)
    assert outcome == {"id": waiting["id"], "record_id": record_id, "version": 1, "peer_id": b.node_id}
    assert pending_shares(a) == []
    [mine] = list_shares(a, requested_by="olga")
    assert (mine["state"], mine["rejected_by"], mine["reject_comment"]) == ("rejected", "anton", COMMENT)
    assert mine["rejected"] is not None
    [entry] = [e for e in audit.list_entries(a) if e["action"] == "share.reject"]
    assert (entry["user"], entry["record_id"], entry["version"], entry["recipients"]) == (
        "anton",
        record_id,
        1,
        [b.node_id],
    )
    assert COMMENT in entry["detail"]
    assert audit.verify(a) == []
    with pytest.raises(NodeError, match="is withdrawn, not pending"):
        release_share(a, waiting["id"], version=1, sha256=waiting["sha256"], by=BERTA)
    await fed.deliver(a)
    await fed.pull(b, a)
    assert [e for w in fed.bytes_from(a) for e in w.envelopes()] == []


async def test_the_author_may_share_again_after_a_rejection(fed: Federation) -> None:
    a, b, record_id, waiting = requested(fed)
    reject_share(a, waiting["id"], comment=COMMENT, by=ANTON)
    edit_record(a, record_id, {**RECORD, "summary": "Überarbeitet nach dem Kommentar."}, by=OLGA)
    share_record(a, record_id, [b.node_id], all_peers=False, by=OLGA)
    [again] = pending_shares(a)
    assert again["version"] == 2
    release_share(a, again["id"], version=2, sha256=again["sha256"], by=ANTON)
    await fed.deliver(a)
    assert [(e["version"], e["content"]["summary"]) for w in fed.bytes_from(a) for e in w.envelopes()] == [
        (2, "Überarbeitet nach dem Kommentar.")
    ]


@pytest.mark.parametrize(
    ("comment", "actor", "error", "match"),
    [
        ("", ANTON, NodeError, "needs a comment"),
        (" \n\t ", ANTON, NodeError, "needs a comment"),
        ("x" * (MAX_COMMENT + 1), ANTON, NodeError, f"at most {MAX_COMMENT}"),
        (COMMENT, OLGA, NodeError, "may not release shares"),
        (COMMENT, ADMIN, NodeError, "built-in"),
    ],
)
async def test_a_rejection_needs_a_comment_and_an_approver(
    fed: Federation, comment: str, actor: Actor, error: type[Exception], match: str
) -> None:
    a, _, _, waiting = requested(fed)
    before = state(a)
    with pytest.raises(error, match=match):
        reject_share(a, waiting["id"], comment=comment, by=actor)
    assert state(a) == before
    assert [s["id"] for s in pending_shares(a)] == [waiting["id"]]


async def test_a_comment_of_the_greatest_length_is_kept_whole(fed: Federation) -> None:
    a, _, _, waiting = requested(fed)
    reject_share(a, waiting["id"], comment="ä" * MAX_COMMENT, by=ANTON)
    assert list_shares(a)[0]["reject_comment"] == "ä" * MAX_COMMENT


async def test_the_requester_cannot_reject_their_own_share(fed: Federation) -> None:
    a, b = ab(fed)
    record_id = add_record(a, "experience", RECORD, by=OLGA)
    share_record(a, record_id, [b.node_id], all_peers=False, by=ANTON)  # an approver asked for this one
    [waiting] = pending_shares(a)
    before = state(a)
    with pytest.raises(PolicyError, match="anton requested share"):
        reject_share(a, waiting["id"], comment=COMMENT, by=ANTON)
    assert state(a) == before


async def test_only_a_share_waiting_for_release_can_be_rejected(fed: Federation) -> None:
    a, _, record_id, waiting = requested(fed)
    with pytest.raises(NotFound, match="no share with id 999"):
        reject_share(a, 999, comment=COMMENT, by=ANTON)
    release_share(a, waiting["id"], version=1, sha256=waiting["sha256"], by=ANTON)
    before = state(a)
    with pytest.raises(NodeError, match="is released, not pending"):
        reject_share(a, waiting["id"], comment=COMMENT, by=BERTA)
    assert state(a) == before
    edit_record(a, record_id, {**RECORD, "summary": "Neu."}, by=OLGA)  # the released share waits again, for v2
    edit_record(a, record_id, {**RECORD, "summary": "Neuer."}, by=OLGA)  # ... and that request is voided by v3
    voided = [s for s in list_shares(a) if s["state"] == "voided"]
    for share in voided:
        with pytest.raises(NodeError, match="is voided, not pending"):
            reject_share(a, share["id"], comment=COMMENT, by=ANTON)


async def test_a_peer_holding_an_earlier_version_keeps_it_and_its_share_when_the_new_one_is_rejected(
    fed: Federation,
) -> None:
    a, b, record_id, waiting = requested(fed)
    release_share(a, waiting["id"], version=1, sha256=waiting["sha256"], by=ANTON)
    edit_record(a, record_id, {**RECORD, "summary": "Eine zweite Fassung."}, by=OLGA)
    [again] = pending_shares(a)
    assert again["version"] == 2
    reject_share(a, again["id"], comment=COMMENT, by=ANTON)
    assert pending_shares(a) == []
    shares = [(s["state"], s["version"]) for s in list_shares(a)]
    assert shares == [("rejected", 2), ("released", 1)]
    await fed.deliver(a)
    assert [e["version"] for w in fed.bytes_from(a) for e in w.envelopes()] == [1]
    unshare(a, record_id, b.node_id, by=OLGA)  # the share for what bonn holds can still be withdrawn
    await fed.deliver(a)
    assert [e["type"] for w in fed.bytes_from(a) for e in w.envelopes()] == ["experience", "retraction"]
