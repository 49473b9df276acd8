"""Reviewing a share and sharing exactly what was reviewed (node.sharing.review).

What crossed the wire is taken from the federation's tap (tests/node/federation.py), never from what a
function returns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from node import audit
from node.errors import NodeError, NotFound
from node.home import Node
from node.sharing.records import add_record, edit_record
from node.sharing.release import pending_shares, release_share
from node.sharing.review import StalePreview, kept_local, pending_review, review, share_reviewed
from node.users import Actor
from tests.node.federation import Federation

OLGA = Actor("olga", "officer")
LOCAL_NOTE = "LOCAL-NOTE-7c2d"
LOCAL_COSTS = "LOCAL-COSTS-19fe"
PHONE = "0821 324-1234"
RECORD: dict[str, Any] = {
    "title": "Sicherheitsaudit Innenstadt",
    "summary": "Begehungen mit Anwohnern und Polizei.",
    "implementation": {"duration": "1 Jahr", "costs": LOCAL_COSTS},
    "internal_notes": LOCAL_NOTE,
}
WITH_PHONE: dict[str, Any] = {**RECORD, "summary": f"Rückfragen bitte unter {PHONE} an das Ordnungsamt."}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path)
    a = await federation.add("augsburg")
    federation.pair(a, await federation.add("bonn"))
    yield federation
    await federation.close()


def ab(fed: Federation) -> tuple[Node, Node]:
    a, b = fed.nodes.values()
    return a, b


def state(node: Node) -> dict[str, Any]:
    """What a refused share must leave as it was."""
    tables = ("shares", "grants", "deliveries", "envelopes", "versions", "audit")
    return {table: node.db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall() for table in tables}


def test_kept_local_names_top_level_fields_and_object_members_that_do_not_leave() -> None:
    stored = {"title": "T", "implementation": {"duration": "1", "costs": "2"}, "internal_notes": "n", "evaluation": {}}
    shared = {"title": "T", "implementation": {"duration": "1"}, "evaluation": {}}
    assert kept_local(stored, shared) == ["implementation.costs", "internal_notes"]
    assert kept_local({"lessons": {"pitfalls": "p"}}, {}) == ["lessons"]


async def test_a_review_seals_what_leaves_and_names_what_stays(fed: Federation) -> None:
    a, b = ab(fed)
    record_id = add_record(a, "experience", RECORD, local=["implementation.costs"], by=OLGA)
    shown = review(a, record_id, [b.node_id], by=OLGA)
    assert shown["version"] == 1
    assert shown["recipients"] == [b.node_id]
    assert shown["scope"] == "named"
    assert shown["kept_local"] == ["implementation.costs", "internal_notes"]
    assert shown["findings"] == []
    sealed = shown["sealed"]
    assert sealed is not None
    assert LOCAL_NOTE not in sealed["bytes"]
    assert LOCAL_COSTS not in sealed["bytes"]
    stored = a.db.execute("SELECT e.envelope FROM versions v JOIN envelopes e ON e.seq = v.seq").fetchone()[0]
    assert sealed["bytes"] == stored
    assert sealed["sha256"] == audit.digest_of(stored.encode())
    assert review(a, record_id, [b.node_id], by=OLGA)["sealed"] == sealed  # sealed once: the same bytes again


async def test_findings_block_sealing_until_the_officer_confirms(fed: Federation) -> None:
    a, b = ab(fed)
    record_id = add_record(a, "experience", WITH_PHONE, by=OLGA)
    before = state(a)
    shown = review(a, record_id, [b.node_id], by=OLGA)
    assert shown["sealed"] is None
    assert [(f.field, f.kind, f.text) for f in shown["findings"]] == [("summary", "phone", PHONE)]
    assert shown["content"]["summary"] == WITH_PHONE["summary"]
    assert "internal_notes" not in shown["content"]
    assert state(a) == before  # nothing sealed, nothing confirmed

    confirmed = review(a, record_id, [b.node_id], by=OLGA, confirm_pii=True)
    assert confirmed["sealed"] is not None
    assert confirmed["pii_confirmed_by"] == "olga"
    assert [f.text for f in confirmed["findings"]] == [PHONE]  # still shown, marked, after the confirmation
    [entry] = [e for e in audit.list_entries(a) if e["action"] == "pii.confirm"]
    assert entry["user"] == "olga"


async def test_what_was_reviewed_is_what_crosses_the_wire(fed: Federation) -> None:
    a, b = ab(fed)
    record_id = add_record(a, "experience", RECORD, by=OLGA)
    sealed = review(a, record_id, [b.node_id], by=OLGA)["sealed"]
    outcome = share_reviewed(a, record_id, [b.node_id], False, version=1, sha256=sealed["sha256"], by=OLGA)
    assert (outcome["state"], outcome["recipients"]) == ("released", [b.node_id])
    await fed.deliver(a)
    [wire] = fed.bytes_from(a)
    [envelope] = wire.envelopes()
    assert LOCAL_NOTE.encode() not in wire.body
    assert sealed["bytes"].encode() in wire.body
    assert envelope["id"] == record_id


@pytest.mark.parametrize("stale", ["edited", "other digest", "never reviewed"])
async def test_a_share_of_anything_but_the_reviewed_envelope_is_refused(fed: Federation, stale: str) -> None:
    a, b = ab(fed)
    record_id = add_record(a, "experience", RECORD, by=OLGA)
    version = 1
    if stale == "never reviewed":
        digest = "sha256:" + "A" * 43
    else:
        digest = review(a, record_id, [b.node_id], by=OLGA)["sealed"]["sha256"]
    if stale == "edited":
        edit_record(a, record_id, {**RECORD, "summary": "Eine neue Fassung."}, by=OLGA)
        version = 2
        review(a, record_id, [b.node_id], by=OLGA)  # the new version is sealed, but not under the old digest
    elif stale == "other digest":
        digest = digest[:-2] + ("AA" if not digest.endswith("AA") else "BB")
    before = state(a)
    with pytest.raises(StalePreview, match="nothing was shared"):
        share_reviewed(a, record_id, [b.node_id], False, version=version, sha256=digest, by=OLGA)
    assert state(a) == before
    await fed.deliver(a)
    assert fed.bytes_from(a) == []


async def test_a_share_naming_an_old_version_is_refused_even_with_that_versions_digest(fed: Federation) -> None:
    a, b = ab(fed)
    record_id = add_record(a, "experience", RECORD, by=OLGA)
    old = review(a, record_id, [b.node_id], by=OLGA)["sealed"]["sha256"]
    edit_record(a, record_id, {**RECORD, "summary": "Eine neue Fassung."}, by=OLGA)
    before = state(a)
    with pytest.raises(StalePreview, match="changed since the preview"):
        share_reviewed(a, record_id, [b.node_id], False, version=1, sha256=old, by=OLGA)
    assert state(a) == before


async def test_a_review_needs_an_author_and_a_real_audience(fed: Federation) -> None:
    a, b = ab(fed)
    record_id = add_record(a, "experience", RECORD, by=OLGA)
    with pytest.raises(NodeError, match="no recipients"):
        review(a, record_id, [], by=OLGA)
    with pytest.raises(NodeError, match="not a trusted peer"):
        review(a, record_id, ["pv1unknown"], by=OLGA)
    with pytest.raises(NodeError, match="no record"):
        review(a, "nope", [b.node_id], by=OLGA)
    red = add_record(a, "experience", RECORD, tlp="TLP:RED", by=OLGA)
    before = state(a)
    with pytest.raises(NodeError, match="TLP:RED goes only to named recipients"):
        review(a, red, all_peers=True, by=OLGA)
    assert state(a) == before


async def test_a_pending_share_is_reviewed_as_the_approver_releases_it(tmp_path: Path) -> None:
    federation = Federation(tmp_path)
    try:
        a = await federation.add("augsburg", {"release": {"four_eyes": True}})
        b = await federation.add("bonn")
        federation.pair(a, b)
        record_id = add_record(a, "experience", RECORD, local=["implementation.costs"], by=OLGA)
        share_reviewed(
            a,
            record_id,
            [b.node_id],
            False,
            version=1,
            sha256=review(a, record_id, [b.node_id], by=OLGA)["sealed"]["sha256"],
            by=OLGA,
        )
        [waiting] = pending_shares(a)
        shown = pending_review(a, waiting["id"])
        assert (shown["version"], shown["recipients"], shown["scope"]) == (1, [b.node_id], "named")
        assert shown["sealed"]["sha256"] == waiting["sha256"]
        assert shown["kept_local"] == ["implementation.costs", "internal_notes"]
        assert shown["written"]["internal_notes"] == LOCAL_NOTE
        assert LOCAL_NOTE not in shown["sealed"]["bytes"]
        release_share(a, waiting["id"], version=1, sha256=waiting["sha256"], by=Actor("anton", "approver"))
        with pytest.raises(NotFound, match="waits for release"):
            pending_review(a, waiting["id"])
        with pytest.raises(NotFound, match="waits for release"):
            pending_review(a, 999)
    finally:
        await federation.close()
