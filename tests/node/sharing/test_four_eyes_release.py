"""Four-eyes release binds to what was reviewed: the version and sealed bytes named, never an edit made since.

Security review #11, finding 2: an approver could edit a record an officer had asked to share and then
release the officer's pending share, so that a version nobody else had seen left the node.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from node import audit
from node.errors import NodeError, PolicyError
from node.exchange.received import list_inbox
from node.home import Node
from node.migrations import migrations
from node.sharing.expiry import purge_expired
from node.sharing.preview import preview
from node.sharing.records import add_record, edit_record, get_record, send_alert
from node.sharing.release import list_shares, pending_shares, release_share
from node.sharing.shares import share_record, unshare
from node.users import ADMIN, Actor, add_user
from protocol.canonical import canonical_bytes
from tests.conftest import SetClock, alert_content
from tests.node.federation import Federation

RECORD: dict[str, Any] = {"title": "Sicherheitsaudit Innenstadt", "summary": "Begehungen und Befragung."}
UNSEEN: dict[str, Any] = {**RECORD, "summary": "Eine Fassung, die niemand sonst gesehen hat."}
OLGA, ANTON, BERTA = Actor("olga", "officer"), Actor("anton", "approver"), Actor("berta", "approver")


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path)
    a = await federation.add("augsburg", {"release": {"four_eyes": True}})
    federation.pair(a, await federation.add("bonn"))
    for actor in (OLGA, ANTON, BERTA):
        add_user(a, actor.name, actor.role, "correct horse battery", by=ADMIN)
    yield federation
    await federation.close()


def release(a: Node, pending: dict[str, Any], by: Actor) -> dict[str, Any]:
    """Release a share exactly as `pending_shares` listed it."""
    return release_share(a, pending["id"], version=pending["version"], sha256=pending["sha256"], by=by)


async def left(fed: Federation, a: Node, b: Node) -> list[tuple[int, str]]:
    """(version, summary) of every envelope that crossed the wire from `a` (pushed, or pulled by `b`), in order."""
    await fed.deliver(a)
    await fed.pull(b, a)
    crossed = [(e["version"], e["content"]["summary"]) for w in fed.bytes_from(a) for e in w.envelopes()]
    return sorted(set(crossed))


def state(a: Node) -> dict[str, Any]:
    """What a refused release must leave as it was: shares, grants, queued sends and the audit head."""
    tables = ("shares", "grants", "deliveries", "envelopes", "audit")
    return {table: a.db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall() for table in tables}


async def test_four_eyes_release_bypass_by_editing(fed: Federation) -> None:
    a, b = fed.nodes.values()
    record_id = add_record(a, "experience", RECORD, by=OLGA)
    share_record(a, record_id, [b.node_id], all_peers=False, by=OLGA)
    [requested] = pending_shares(a)
    assert (requested["version"], requested["made_by"]) == (1, "olga")

    edit_record(a, record_id, UNSEEN, by=ANTON)  # the approver edits, then tries to release olga's request
    assert pending_shares(a) == []
    for version, digest in ((1, requested["sha256"]), (2, requested["sha256"])):
        with pytest.raises(NodeError, match=f"share {requested['id']} was voided by the edit to version 2"):
            release_share(a, requested["id"], version=version, sha256=digest, by=ANTON)
    assert await left(fed, a, b) == []
    assert list_inbox(b) == []
    [voided] = list_shares(a, requested_by="olga")
    assert (voided["state"], voided["version"], voided["voided_by_version"]) == ("voided", 1, 2)
    assert get_record(a, record_id)["shares"] == [voided]
    [void] = [e for e in audit.list_entries(a, record_id=record_id) if e["action"] == "share.void"]
    assert (void["user"], void["version"], void["recipients"]) == ("anton", 2, [b.node_id])
    assert "requested by olga" in void["detail"]

    share_record(a, record_id, [b.node_id], all_peers=False, by=OLGA)  # olga asks again, now for version 2
    [again] = pending_shares(a)
    assert (again["version"], again["made_by"]) == (2, "anton")
    with pytest.raises(PolicyError, match=r"anton made version 2 of \w+; a different approver must release it"):
        release(a, again, by=ANTON)
    assert await left(fed, a, b) == []

    release(a, again, by=BERTA)  # a second person, who neither asked nor wrote it, lets version 2 go
    assert await left(fed, a, b) == [(2, UNSEEN["summary"])]


async def test_a_release_names_the_version_and_the_sealed_bytes(fed: Federation) -> None:
    a, b = fed.nodes.values()
    record_id = add_record(a, "experience", RECORD, by=OLGA)
    share_record(a, record_id, [b.node_id], all_peers=False, by=OLGA)
    [pending] = pending_shares(a)
    assert preview(a, record_id, b.node_id, by=OLGA)["sha256"] == pending["sha256"]  # what the approver can read
    before = state(a)
    other = "sha256:" + "A" * 43
    refusals = [
        (2, pending["sha256"], rf"asks to release version 1 of {record_id}, not version 2"),
        (0, pending["sha256"], rf"asks to release version 1 of {record_id}, not version 0"),
        (1, other, re.escape(f"sends {pending['sha256']}, not '{other}'")),
        (1, "", re.escape(f"sends {pending['sha256']}, not ''")),
    ]
    for version, digest, message in refusals:
        with pytest.raises(PolicyError, match=message):
            release_share(a, pending["id"], version=version, sha256=digest, by=ANTON)
        assert state(a) == before
    assert await left(fed, a, b) == []
    outcome = release(a, pending, by=ANTON)
    assert (outcome["version"], outcome["sha256"]) == (1, pending["sha256"])
    await fed.deliver(a)
    [sent] = [e for w in fed.bytes_from(a) for e in w.envelopes()]
    assert audit.digest_of(canonical_bytes(sent)) == pending["sha256"]
    [entry] = [e for e in audit.list_entries(a, record_id=record_id) if e["action"] == "share.release"]
    assert (entry["user"], entry["version"], entry["digest"]) == ("anton", 1, pending["sha256"])


async def test_an_edit_renews_a_waiting_update_for_a_peer_that_holds_an_earlier_version(fed: Federation) -> None:
    a, b = fed.nodes.values()
    record_id = add_record(a, "experience", RECORD, by=OLGA)
    share_record(a, record_id, [b.node_id], all_peers=False, by=OLGA)
    release(a, pending_shares(a)[0], by=ANTON)
    edit_record(a, record_id, {**RECORD, "summary": "Zweite Fassung"}, by=OLGA)
    edit_record(a, record_id, UNSEEN, by=ANTON)  # voids olga's update to version 2, asks for version 3 instead
    [update] = pending_shares(a)
    assert (update["version"], update["author"], update["made_by"]) == (3, "anton", "anton")
    states = [(s["state"], s["version"], s["author"]) for s in list_shares(a, record_id=record_id)]
    assert states == [("voided", 2, "olga"), ("pending", 3, "anton")]
    with pytest.raises(PolicyError, match="anton requested share"):
        release(a, update, by=ANTON)
    release(a, update, by=BERTA)
    assert await left(fed, a, b) == [(1, RECORD["summary"]), (3, UNSEEN["summary"])]
    assert unshare(a, record_id, b.node_id, by=OLGA) == [b.node_id]  # the peer is still one the record is shared with


async def test_shares_of_a_purged_alert_are_not_listed_for_release(fed: Federation, clock: SetClock) -> None:
    a, b = fed.nodes.values()
    send_alert(a, alert_content(days=1), [b.node_id], all_peers=False, by=OLGA)
    assert len(pending_shares(a)) == 1
    sealed = a.db.execute("SELECT count(*) FROM envelopes").fetchone()[0]
    purge_expired(a, moment=clock.advance(timedelta(days=40)))
    assert pending_shares(a) == []
    assert a.db.execute("SELECT count(*) FROM envelopes").fetchone()[0] == sealed


def test_the_migration_gives_waiting_shares_their_record_version(tmp_path: Path) -> None:
    db = Database(tmp_path / "old.db")
    migrations.apply(db, stop_before="0014_share_versions")
    db.execute(
        "INSERT INTO records (id, kind, created, author, version) VALUES ('r1', 'experience', '2025-01-01', 'o', 3)"
    )
    for state, peer in (("pending", "p1"), ("released", "p2"), ("withdrawn", "p3")):
        db.execute(
            """INSERT INTO shares (record_id, peer_id, scope, state, author, created)
               VALUES ('r1', ?, 'named', ?, 'o', '2025-01-01')""",
            (peer, state),
        )
    migrations.apply(db)
    found = db.execute("SELECT peer_id, version, voided_by_version FROM shares ORDER BY peer_id").fetchall()
    assert found == [("p1", 3, None), ("p2", 3, None), ("p3", None, None)]
