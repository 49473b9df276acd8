"""Receiver rules of issue #11, finding 13, against the real server: conflicting versions, a record
changing its kind, a network envelope from a non-member, and repeated outbox query parameters.

Every refusal leaves the inbox as it was and is counted like a fork where the rule says so.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from node import audit
from node.exchange.received import list_inbox
from node.exchange.status import peer_status
from node.networks.operator import create_network
from node.networks.registry import load_network_key, store_member
from node.store import write
from node.users import ADMIN
from protocol.envelope import build_envelope, envelope_ref
from protocol.network import issue_certificate
from tests.conftest import FakePeer, alert_content, body_of
from tests.node.conftest import Served, refusal, stored

ALERT = {key: value for key, value in alert_content().items() if key != "internal_notes"}


async def push(served: Served, peer: FakePeer, txn_id: str, *envelopes: dict[str, Any]) -> list[dict[str, Any]]:
    """Push envelopes to the served node's inbox; return the per-envelope results."""
    response, _ = await served.put_inbox(peer, txn_id, body_of({"envelopes": list(envelopes)}))
    raw = await response.read()
    assert response.status == 200, raw
    return list(json.loads(raw)["results"])


def inbox_refs(served: Served) -> list[str]:
    return [row[0] for row in served.node.db.execute("SELECT ref FROM inbox ORDER BY rowid").fetchall()]


def forks_of(served: Served, peer: FakePeer) -> int:
    [status] = [entry for entry in peer_status(served.node) if entry["node_id"] == peer.node_id]
    return int(status["forks_refused"])


def shown(served: Served) -> list[tuple[str, int, Any]]:
    """What an officer sees: (id, version, content) of each listed record or alert."""
    return [(entry["id"], entry["version"], entry["content"]) for entry in list_inbox(served.node)]


async def second_in_batch_is_a_conflict(
    served: Served, peer: FakePeer, first: dict[str, Any], second: dict[str, Any]
) -> None:
    """Push both in one batch: the first is stored, the second refused as a conflict and counted."""
    results = await push(served, peer, "t1", first, second)
    assert [r["status"] for r in results] == ["accepted", "refused"]
    assert "conflict" in results[1]["reason"]
    assert inbox_refs(served) == [envelope_ref(first)]
    assert forks_of(served, peer) == 1


# --- 13a: a second, different envelope of the same version -------------------------------------


async def test_second_different_envelope_same_version_is_a_conflict(served: Served, peer_b: FakePeer) -> None:
    first = peer_b.envelope({"title": "Erste Fassung", "summary": "S"}, record_id="record-x1")
    assert [r["status"] for r in await push(served, peer_b, "t1", first)] == ["accepted"]
    before, seen = inbox_refs(served), shown(served)
    other = peer_b.envelope({"title": "Andere Fassung", "summary": "S"}, record_id="record-x1")  # version 1 again
    [result] = await push(served, peer_b, "t2", other)
    assert result["status"] == "refused"
    assert "conflict" in result["reason"]
    assert "record-x1" in result["reason"]
    assert "version 1" in result["reason"]
    assert inbox_refs(served) == before
    assert shown(served) == seen == [("record-x1", 1, first["content"])]
    assert forks_of(served, peer_b) == 1
    [entry] = [entry for entry in audit.list_entries(served.node) if entry["action"] == "conflict.refused"]
    assert (entry["record_id"], entry["version"]) == ("record-x1", 1)
    # the same envelope again stays a duplicate, and is not counted
    [again] = await push(served, peer_b, "t3", first)
    assert again["status"] == "duplicate"
    assert inbox_refs(served) == before
    assert forks_of(served, peer_b) == 1


async def test_a_different_label_for_the_same_version_is_a_conflict(served: Served, peer_b: FakePeer) -> None:
    content = {"title": "Bericht", "summary": "S"}
    first = peer_b.envelope(content, record_id="record-x2", tlp="TLP:AMBER")
    loosened = peer_b.envelope(content, record_id="record-x2", tlp="TLP:CLEAR")
    await second_in_batch_is_a_conflict(served, peer_b, first, loosened)


async def test_the_same_version_sealed_again_with_the_same_content_is_stored(served: Served, peer_b: FakePeer) -> None:
    """Control: an origin seals a version once more (e.g. for a network share, section 4.8) with the same
    type, label and content; that is no conflict, and the record is shown once."""
    content = {"title": "Bericht", "summary": "S"}
    first = peer_b.envelope(content, record_id="record-x3")
    again = peer_b.envelope(content, record_id="record-x3")
    assert [r["status"] for r in await push(served, peer_b, "t1", first, again)] == ["accepted", "accepted"]
    assert shown(served) == [("record-x3", 1, content)]
    assert forks_of(served, peer_b) == 0


# --- 13b: the kind of a record changes under the same id ---------------------------------------


async def test_an_id_reused_for_another_kind_is_a_conflict(served: Served, peer_b: FakePeer) -> None:
    record = peer_b.envelope({"title": "Bericht", "summary": "S"}, record_id="record-k1")
    assert [r["status"] for r in await push(served, peer_b, "t1", record)] == ["accepted"]
    before, seen = inbox_refs(served), shown(served)
    alert = peer_b.envelope(ALERT, "alert", record_id="record-k1", version=2)
    [result] = await push(served, peer_b, "t2", alert)
    assert result["status"] == "refused"
    assert "conflict" in result["reason"]
    assert "experience" in result["reason"]
    assert "alert" in result["reason"]
    assert inbox_refs(served) == before
    assert shown(served) == seen
    assert forks_of(served, peer_b) == 1


async def test_a_kind_change_within_one_batch_is_a_conflict(served: Served, peer_b: FakePeer) -> None:
    alert = peer_b.envelope(ALERT, "alert", record_id="record-k2")
    record = peer_b.envelope({"title": "Bericht", "summary": "S"}, record_id="record-k2", version=2)
    await second_in_batch_is_a_conflict(served, peer_b, alert, record)


async def test_a_retraction_of_the_record_is_no_kind_change(served: Served, peer_b: FakePeer) -> None:
    """Control: a retraction carries the record's id; it is not a change of kind."""
    record = peer_b.envelope({"title": "Bericht", "summary": "S"}, record_id="record-k3")
    retraction = peer_b.envelope(kind="retraction", record_id="record-k3")
    assert [r["status"] for r in await push(served, peer_b, "t1", record, retraction)] == ["accepted", "accepted"]
    assert forks_of(served, peer_b) == 0


# --- 13c: a direct network envelope from an origin that is not a member -------------------------


def network_envelope(peer: FakePeer, network: str) -> dict[str, Any]:
    """The next envelope of `peer`'s chain, sealed for `network`."""
    peer.seq += 1
    envelope = build_envelope(
        peer.key,
        origin=peer.node_id,
        kind="experience",
        record_id=f"net{peer.seq:08d}",
        version=1,
        tlp="TLP:GREEN",
        seq=peer.seq,
        prev=peer.prev,
        created=datetime.now(UTC),
        content={"title": "Netzwerkbericht", "summary": "S"},
        network=network,
    )
    peer.prev = envelope_ref(envelope)
    return envelope


def admit(served: Served, network: str, peer: FakePeer) -> None:
    """Make `peer` a member of the served node's network, as the operator's register holds it."""
    moment = datetime.now(UTC)
    certificate = issue_certificate(
        load_network_key(served.node, network),
        node_id=peer.node_id,
        fingerprint=peer.fingerprint,
        roles=["member"],
        not_before=moment - timedelta(minutes=5),
        expires=moment + timedelta(days=30),
        serial=2,
    )
    with write(served.node.db) as conn:
        store_member(conn, network, peer.url, certificate)


async def test_network_envelope_from_a_non_member_origin_is_refused(served: Served, peer_b: FakePeer) -> None:
    network = create_network(served.node, "DEFUS", by=ADMIN)["id"]
    envelope = network_envelope(peer_b, network)
    [result] = await push(served, peer_b, "t1", envelope)
    assert result["status"] == "refused"
    assert peer_b.node_id in result["reason"]
    assert f"not a member of network {network}" in result["reason"]
    assert stored(served.node) == (0, 1)
    assert served.node.db.execute("SELECT count(*) FROM relays").fetchone()[0] == 0


async def test_network_envelope_from_a_member_origin_is_stored(served: Served, peer_b: FakePeer) -> None:
    """Control: once the origin is a member, the same kind of envelope is accepted."""
    network = create_network(served.node, "DEFUS", by=ADMIN)["id"]
    admit(served, network, peer_b)
    [result] = await push(served, peer_b, "t1", network_envelope(peer_b, network))
    assert result["status"] == "accepted", result
    assert stored(served.node) == (1, 1)


# --- 13d: a repeated query parameter on the outbox ------------------------------------------------


@pytest.mark.parametrize(("query", "name"), [("since=5&since=0", "since"), ("limit=5&since=0&limit=9", "limit")])
async def test_repeated_outbox_query_parameter_is_refused(
    served: Served, peer_b: FakePeer, query: str, name: str
) -> None:
    audit_before = served.node.db.execute("SELECT count(*) FROM audit").fetchone()[0]
    response, _ = await served.signed(peer_b, "GET", f"/fed/v1/outbox?{query}")
    await refusal(response, 400, "bad_request", f"'{name}'", "more than once")
    assert served.node.db.execute("SELECT count(*) FROM audit").fetchone()[0] == audit_before
    cursor = served.node.db.execute("SELECT served_cursor FROM peers WHERE node_id = ?", (peer_b.node_id,))
    assert cursor.fetchone()[0] == 0
