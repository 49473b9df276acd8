"""Storing a batch of verified envelopes (node.exchange.inbox_store): the order inside one batch matters as it
would across batches, and every stored envelope is audited and kept in canonical form."""

from __future__ import annotations

import json

from node import audit
from node.exchange.inbox import ingest
from node.exchange.received import history, list_inbox
from protocol.canonical import canonical_bytes
from tests.conftest import FakePeer
from tests.node.conftest import NodeFactory


def statuses(answer: dict[str, object]) -> list[str]:
    return [entry["status"] for entry in answer["results"]]  # type: ignore[attr-defined]


def test_a_retraction_later_in_the_same_batch_erases_what_came_before(make_node: NodeFactory) -> None:
    node = make_node("Stadt A")
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    record = peer.envelope(record_id="rec-batch-1")
    retraction = peer.envelope(kind="retraction", record_id="rec-batch-1")
    assert statuses(ingest(node, peer.node_id, [record, retraction])) == ["accepted", "accepted"]
    assert list_inbox(node) == []
    versions = history(node, "rec-batch-1")
    assert [(v["kind"], v["erased"] is not None, v["verified"]) for v in versions] == [
        ("experience", True, True),
        ("retraction", False, True),
    ]
    assert "content" not in json.loads(node.db.execute("SELECT envelope FROM inbox WHERE seq = 1").fetchone()[0])


def test_a_retraction_earlier_in_the_same_batch_keeps_the_version_out(make_node: NodeFactory) -> None:
    node = make_node("Stadt A")
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    record = peer.envelope(record_id="rec-batch-2")
    retraction = peer.envelope(kind="retraction", record_id="rec-batch-2")
    answer = ingest(node, peer.node_id, [retraction, record])
    assert statuses(answer) == ["accepted", "refused"]
    assert answer["results"][1]["reason"] == "version 1 of rec-batch-2 was retracted by its origin"
    assert node.db.execute("SELECT kind FROM inbox").fetchall() == [("retraction",)]


def test_gaps_inside_a_batch_ask_for_a_catch_up_and_a_closed_chain_does_not(make_node: NodeFactory) -> None:
    node = make_node("Stadt A")
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    first, second, third = peer.envelope(), peer.envelope(), peer.envelope()
    catch_up = "SELECT catch_up FROM peers WHERE node_id = ?"
    assert statuses(ingest(node, peer.node_id, [first, second])) == ["accepted", "accepted"]
    assert node.db.execute(catch_up, (peer.node_id,)).fetchone()[0] == 0
    fourth = peer.envelope()
    assert statuses(ingest(node, peer.node_id, [fourth])) == ["accepted"]  # third is missing
    assert node.db.execute(catch_up, (peer.node_id,)).fetchone()[0] == 1
    assert statuses(ingest(node, peer.node_id, [third, third])) == ["accepted", "duplicate"]
    # prev is compared with the ref of seq - 1, found by the primary key: no index on random hashes
    indexes = {row[0] for row in node.db.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'inbox'")}
    assert "inbox_ref" not in indexes


def test_each_stored_envelope_is_listed_by_the_batch_audit_entry_in_order(
    make_node: NodeFactory,
) -> None:
    node = make_node("Stadt A")
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    envelopes = [peer.envelope({"title": f"Bericht {n} \u2013 Straße", "summary": "ß"}) for n in range(5)]
    assert statuses(ingest(node, peer.node_id, envelopes)) == ["accepted"] * 5
    [batch] = [e for e in audit.list_entries(node) if e["action"] == "received.batch"]  # one entry per batch
    assert (batch["record_id"], batch["digest"], batch["recipients"]) == (None, None, [peer.node_id])
    received = [e for e in audit.per_record([batch]) if e["action"] == "received"]
    assert [e["record_id"] for e in received] == [e["id"] for e in envelopes]
    assert [e["digest"] for e in received] == [audit.digest_of(canonical_bytes(e)) for e in envelopes]
    stored = [row[0] for row in node.db.execute("SELECT envelope FROM inbox ORDER BY seq")]
    assert stored == [canonical_bytes(e).decode() for e in envelopes]
    assert audit.verify(node) == []
