"""node.sharing.records and .shares: validating, storing, signing and sharing a city's own records and alerts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from node.errors import NodeError, NotFound
from node.home import Node
from node.inputs import read_content_file
from node.sharing.records import add_record, edit_record, get_record, list_records, send_alert
from node.sharing.shares import share_record
from node.trust.peers import remove_peer
from node.users import ADMIN
from protocol.envelope import envelope_ref, verify_envelope
from tests.conftest import RECORD, FakePeer, alert_content
from tests.node.conftest import NodeFactory, count

MARKER = "LOCAL-ONLY-7f3a"
TABLES = ("records", "versions", "envelopes", "shares", "grants", "deliveries", "audit")
EMPTY = dict.fromkeys(TABLES, 0)
# one record added, nothing shared: its first version and the audit entry of the addition
LOCAL_ONLY = {**EMPTY, "records": 1, "versions": 1, "audit": 1}


@pytest.fixture
def node(make_node: NodeFactory) -> Node:
    return make_node("Stadt A")


@pytest.fixture
def peer_b(node: Node) -> FakePeer:
    return FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)


@pytest.fixture
def peer_c(node: Node) -> FakePeer:
    return FakePeer("Stadt C", "http://127.0.0.1:10").trusted_by(node)


def counts(node: Node) -> dict[str, int]:
    """Rows per table; the audit entries of trusting the fixtures' peers (peer.*) are not counted."""
    result = {table: count(node, table) for table in TABLES}
    result["audit"] -= int(node.db.execute("SELECT count(*) FROM audit WHERE action LIKE 'peer.%'").fetchone()[0])
    return result


def stored(node: Node) -> dict[str, int]:
    """The counts without the audit log, whose entries per action the tests of node/audit/ pin down."""
    return {table: number for table, number in counts(node).items() if table != "audit"}


def envelopes(node: Node) -> list[dict[str, Any]]:
    return [json.loads(row[0]) for row in node.db.execute("SELECT envelope FROM envelopes ORDER BY seq")]


def own_key(node: Node) -> Any:
    def resolve(node_id: str, key_id: str) -> bytes | None:
        return node.key.public if (node_id, key_id) == (node.node_id, node.key.key_id) else None

    return resolve


def timestamp(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- add_record ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "content", "field"),
    [
        ("experience", {"summary": "S"}, "title"),
        ("experience", {"title": "T"}, "summary"),
        ("experience", {"title": "", "summary": "S"}, "title"),
        ("experience", {"title": "T" * 301, "summary": "S"}, "title"),
        ("experience", {"title": 7, "summary": "S"}, "title"),
        ("experience", {"title": "T", "summary": "S", "colour": "red"}, "colour"),
        ("experience", {"title": "T", "summary": "S", "topics": "Jugendgewalt"}, "topics"),
        ("experience", {"title": "T", "summary": "S", "evidence_level": "sicher"}, "evidence_level"),
        ("experience", {"title": "T", "summary": "S", "contact": {"mailbox": "Frau Müller"}}, "contact.mailbox"),
        ("experience", {"title": "T", "summary": "S", "evaluation": {"kind": "gut"}}, "evaluation.kind"),
        ("experience", {"title": "T", "summary": "S", "implementation": {"lead": "x"}}, "implementation.lead"),
        ("experience", ["title", "summary"], "(content)"),
        ("alert", {"area": {"name": "Innenstadt"}, "expires": timestamp(timedelta(days=1))}, "headline"),
        ("alert", {"headline": "H", "expires": timestamp(timedelta(days=1))}, "area"),
        ("alert", {"headline": "H", "area": {"name": "Innenstadt"}}, "expires"),
        ("alert", {"headline": "H", "area": {"name": "X", "ars": "abc"}, "expires": "2099-01-01T00:00:00Z"}, "ars"),
        ("alert", {"headline": "H", "area": {"name": "X"}, "expires": "next week"}, "expires"),
        (
            "alert",
            {"headline": "H", "area": {"name": "X"}, "expires": "2099-01-01T00:00:00Z", "case_band": "3"},
            "case",
        ),
        ("alert", {"headline": "H", "area": {"name": "X"}, "expires": timestamp(timedelta(days=-1))}, "expires"),
    ],
)
def test_add_record_refuses_invalid_content(node: Node, kind: str, content: Any, field: str) -> None:
    with pytest.raises(NodeError, match=f"invalid {kind}") as caught:
        add_record(node, kind, content, by=ADMIN)  # type: ignore[arg-type]
    assert field in str(caught.value)
    assert counts(node) == EMPTY


def test_alert_effective_after_expires(node: Node) -> None:
    content = {**alert_content(), "effective": timestamp(timedelta(days=30))}
    with pytest.raises(NodeError, match="expires: must be later than effective"):
        add_record(node, "alert", content, by=ADMIN)
    assert counts(node) == EMPTY


def test_add_record_stores_locally_and_shares_nothing(node: Node) -> None:
    record_id = add_record(node, "experience", RECORD, by=ADMIN)
    assert counts(node) == LOCAL_ONLY
    record = get_record(node, record_id)
    assert record["content"] == RECORD  # local fields stay visible on the own node
    assert record["shared_with"] == []
    assert [entry["id"] for entry in list_records(node, "experience")] == [record_id]
    assert list_records(node, "alert") == []


@pytest.mark.parametrize("limit", [0, -3])
def test_a_list_limit_below_one_is_refused(node: Node, limit: int) -> None:
    add_record(node, "experience", RECORD, by=ADMIN)
    with pytest.raises(NodeError, match=f"the limit must be at least 1, not {limit}"):
        list_records(node, "experience", limit=limit)


def test_a_list_limit_counts_only_what_is_listed(node: Node) -> None:
    """Lapsed alerts are left out before the limit applies, so it still gives the newest listed ones."""
    lapsing = {**alert_content(), "expires": timestamp(timedelta(seconds=1))}
    kept = [add_record(node, "alert", alert_content(), by=ADMIN) for _ in range(2)]
    add_record(node, "alert", lapsing, by=ADMIN)
    node.db.execute("UPDATE records SET expires = '2000-01-01T00:00:00Z' WHERE id NOT IN (?, ?)", tuple(kept))
    assert [item["id"] for item in list_records(node, "alert", limit=2)] == kept[::-1]
    assert len(list_records(node, "alert", include_lapsed=True, limit=2)) == 2


def test_record_ids_are_time_ordered_uuid7(node: Node) -> None:
    """Ids sort in creation order, so the indexes on record ids (here and at every peer) grow at the end."""
    ids = [add_record(node, "experience", RECORD, by=ADMIN) for _ in range(20)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for record_id in ids:
        parsed = uuid.UUID(hex=record_id)
        assert parsed.hex == record_id
        assert parsed.version == 7


def test_get_unknown_record(node: Node) -> None:
    with pytest.raises(NotFound, match="no record or alert with id 'nope'"):
        get_record(node, "nope")


# --- share_record: refusals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "all_peers", "problem"),
    [
        (["pnaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], False, "pnaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa is not a trusted peer"),
        (["not-even-a-node-id"], False, "not-even-a-node-id is not a trusted peer"),
        ([], False, "no recipients"),
        (["B"], True, "not both"),
    ],
)
def test_share_refused(node: Node, peer_b: FakePeer, to: list[str], all_peers: bool, problem: str) -> None:
    record_id = add_record(node, "experience", RECORD, by=ADMIN)
    recipients = [peer_b.node_id if peer == "B" else peer for peer in to]
    with pytest.raises(NodeError, match=problem):
        share_record(node, record_id, recipients, all_peers=all_peers, by=ADMIN)
    assert counts(node) == LOCAL_ONLY
    assert get_record(node, record_id)["shared_with"] == []


def test_share_with_one_known_and_one_unknown_peer_shares_with_nobody(node: Node, peer_b: FakePeer) -> None:
    record_id = add_record(node, "experience", RECORD, by=ADMIN)
    stranger = FakePeer("Stadt X", "http://127.0.0.1:8")
    with pytest.raises(NodeError, match="nothing was shared"):
        share_record(node, record_id, [peer_b.node_id, stranger.node_id], all_peers=False, by=ADMIN)
    assert counts(node) == LOCAL_ONLY


def test_share_with_all_peers_when_there_are_none(node: Node) -> None:
    record_id = add_record(node, "experience", RECORD, by=ADMIN)
    with pytest.raises(NodeError, match="no trusted peers"):
        share_record(node, record_id, [], all_peers=True, by=ADMIN)
    assert counts(node) == LOCAL_ONLY


def test_share_unknown_record(node: Node, peer_b: FakePeer) -> None:
    with pytest.raises(NotFound, match="no record or alert with id 'missing'"):
        share_record(node, "missing", [peer_b.node_id], all_peers=False, by=ADMIN)
    assert counts(node) == EMPTY


def test_share_with_a_removed_peer(node: Node, peer_b: FakePeer) -> None:
    record_id = add_record(node, "experience", RECORD, by=ADMIN)
    remove_peer(node, peer_b.node_id)
    with pytest.raises(NodeError, match="not a trusted peer"):
        share_record(node, record_id, [peer_b.node_id], all_peers=False, by=ADMIN)
    assert counts(node) == LOCAL_ONLY


# --- share_record: signing and granting ---------------------------------------------------------


def test_sharing_signs_once_into_a_chain(node: Node, peer_b: FakePeer, peer_c: FakePeer) -> None:
    first = add_record(node, "experience", RECORD, by=ADMIN)
    second = add_record(node, "experience", {**RECORD, "title": "Zweiter Bericht"}, by=ADMIN)
    assert share_record(node, first, [peer_b.node_id], all_peers=False, by=ADMIN) == {
        "id": first,
        "recipients": [peer_b.node_id],
        "scope": "named",
        "state": "released",
    }
    share_record(node, first, [peer_c.node_id], all_peers=False, by=ADMIN)  # shared again: not signed again
    share_record(node, second, [peer_b.node_id], all_peers=False, by=ADMIN)
    one, two = envelopes(node)
    assert (one["id"], one["seq"], one["prev"]) == (first, 1, None)
    assert (two["id"], two["seq"], two["prev"]) == (second, 2, envelope_ref(one))
    assert [(envelope["version"], envelope["tlp"]) for envelope in (one, two)] == [(1, "TLP:AMBER")] * 2
    for envelope in (one, two):
        verified = verify_envelope(envelope, own_key(node))
        assert verified.origin == node.node_id
        assert verified.has_content
    assert one["content"]["title"] == RECORD["title"]
    assert two["content"]["title"] == "Zweiter Bericht"


def test_the_signed_envelope_has_no_local_fields(node: Node, peer_b: FakePeer) -> None:
    record_id = add_record(node, "experience", RECORD, by=ADMIN)
    share_record(node, record_id, [peer_b.node_id], all_peers=False, by=ADMIN)
    [envelope] = envelopes(node)
    assert "internal_notes" not in envelope["content"]
    assert envelope["content"] == {k: v for k, v in RECORD.items() if k != "internal_notes"}
    raw = node.db.execute("SELECT envelope FROM envelopes").fetchone()[0]
    assert MARKER not in raw
    assert get_record(node, record_id)["content"]["internal_notes"] == RECORD["internal_notes"]


def test_shares_add_up(node: Node, peer_b: FakePeer, peer_c: FakePeer) -> None:
    record_id = add_record(node, "experience", RECORD, by=ADMIN)
    share_record(node, record_id, [peer_b.node_id], all_peers=False, by=ADMIN)
    share_record(node, record_id, [peer_c.node_id], all_peers=False, by=ADMIN)
    share_record(node, record_id, [peer_b.node_id], all_peers=False, by=ADMIN)  # again: no second row
    expected = {"records": 1, "versions": 1, "envelopes": 1, "shares": 2, "grants": 2, "deliveries": 2}
    assert stored(node) == expected
    assert get_record(node, record_id)["shared_with"] == [peer_b.node_id, peer_c.node_id]
    queued = node.db.execute("SELECT peer_id, seq, priority, state FROM deliveries ORDER BY id").fetchall()
    assert [tuple(row) for row in queued] == [(peer_b.node_id, 1, 1, "pending"), (peer_c.node_id, 1, 1, "pending")]


def test_share_with_all_peers(node: Node, peer_b: FakePeer, peer_c: FakePeer) -> None:
    record_id = add_record(node, "experience", RECORD, by=ADMIN)
    outcome = share_record(node, record_id, [], all_peers=True, by=ADMIN)
    assert sorted(outcome["recipients"]) == sorted([peer_b.node_id, peer_c.node_id])
    assert (outcome["scope"], outcome["state"]) == ("all-peers", "released")
    expected = {"records": 1, "versions": 1, "envelopes": 1, "shares": 2, "grants": 2, "deliveries": 2}
    assert stored(node) == expected


def test_named_recipients_are_deduplicated(node: Node, peer_b: FakePeer) -> None:
    record_id = add_record(node, "experience", RECORD, by=ADMIN)
    outcome = share_record(node, record_id, [peer_b.node_id, peer_b.node_id], all_peers=False, by=ADMIN)
    assert outcome["recipients"] == [peer_b.node_id]
    assert (count(node, "shares"), count(node, "grants")) == (1, 1)


# --- send_alert ---------------------------------------------------------------------------------


def test_send_alert_signs_and_queues_first(node: Node, peer_b: FakePeer) -> None:
    outcome = send_alert(node, alert_content(), [peer_b.node_id], all_peers=False, by=ADMIN)
    alert_id = outcome["id"]
    assert outcome == {"id": alert_id, "recipients": [peer_b.node_id], "scope": "named", "state": "released"}
    expected = {"records": 1, "versions": 1, "envelopes": 1, "shares": 1, "grants": 1, "deliveries": 1}
    assert stored(node) == expected
    [envelope] = envelopes(node)
    assert (envelope["type"], envelope["id"], envelope["seq"], envelope["version"]) == ("alert", alert_id, 1, 1)
    assert "internal_notes" not in envelope["content"]
    assert node.db.execute("SELECT priority FROM deliveries").fetchone()[0] == 0
    assert list_records(node, "alert")[0]["shared_with"] == [peer_b.node_id]


@pytest.mark.parametrize("days", [-1, 0])
def test_send_alert_refuses_an_expired_alert(node: Node, peer_b: FakePeer, days: int) -> None:
    with pytest.raises(NodeError, match="expires: lies in the past"):
        send_alert(node, alert_content(days=days), [peer_b.node_id], all_peers=False, by=ADMIN)
    assert counts(node) == EMPTY


@pytest.mark.parametrize(
    ("to", "all_peers", "problem"),
    [
        ([], False, "no recipients"),
        (["pnaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], False, "not a trusted peer"),
    ],
)
def test_send_alert_without_a_valid_audience_stores_nothing(
    node: Node, peer_b: FakePeer, to: list[str], all_peers: bool, problem: str
) -> None:
    with pytest.raises(NodeError, match=problem):
        send_alert(node, alert_content(), to, all_peers=all_peers, by=ADMIN)
    assert counts(node) == EMPTY


def test_send_alert_to_all_peers_without_peers(node: Node) -> None:
    with pytest.raises(NodeError, match="no trusted peers"):
        send_alert(node, alert_content(), [], all_peers=True, by=ADMIN)
    assert counts(node) == EMPTY


PII_ALERT = {"description": "Hinweise an max.mustermann@example.de oder 0171 2345678"}


@pytest.mark.parametrize(
    ("changes", "tlp", "all_peers", "problem"),
    [
        ({}, "TLP:RED", True, "TLP:RED goes only to named recipients"),
        (PII_ALERT, "TLP:AMBER", False, "possible personal data"),
    ],
)
def test_send_alert_refused_after_validation_stores_nothing(
    node: Node, peer_b: FakePeer, changes: dict[str, str], tlp: str, all_peers: bool, problem: str
) -> None:
    """Label and PII checks run inside the alert's transaction: the refusal rolls the stored alert back."""
    to = [] if all_peers else [peer_b.node_id]
    with pytest.raises(NodeError, match=problem):
        send_alert(node, {**alert_content(), **changes}, to, all_peers=all_peers, tlp=tlp, by=ADMIN)
    assert counts(node) == EMPTY


def test_share_of_a_red_record_with_all_peers_is_refused(node: Node, peer_b: FakePeer) -> None:
    record_id = add_record(node, "experience", RECORD, tlp="TLP:RED", by=ADMIN)
    with pytest.raises(NodeError, match=r"TLP:RED goes only to named recipients.*nothing was shared"):
        share_record(node, record_id, [], all_peers=True, by=ADMIN)
    assert counts(node) == LOCAL_ONLY
    assert share_record(node, record_id, [peer_b.node_id], all_peers=False, by=ADMIN)["state"] == "released"


# --- read_content_file --------------------------------------------------------------------------


def test_read_content_file(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text(json.dumps(RECORD, ensure_ascii=False), encoding="utf-8")
    assert read_content_file(path) == RECORD


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b'{"title": "A", "title": "B", "summary": "S"}', "duplicate key 'title'"),
        (b'{"title": "A", "summary": "S", "rating": 4.5}', "floating-point"),
        (b'{"title": "A", "summary": "S", "n": 9007199254740993}', "outside"),
        (b'{"title": "A", "summary": "S", "n": NaN}', "NaN"),
        ('{"title": "Straße", "summary": "S"}'.encode("latin-1"), "UTF-8"),
        (b'{"title": "A", "summary": "S"', "malformed JSON"),
        (b"", "malformed JSON"),
    ],
)
def test_read_content_file_refuses(tmp_path: Path, data: bytes, problem: str) -> None:
    path = tmp_path / "record.json"
    path.write_bytes(data)
    with pytest.raises(NodeError, match=problem) as caught:
        read_content_file(path)
    assert str(path) in str(caught.value)


def test_read_content_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(NodeError, match=r"cannot read .*absent\.json: No such file"):
        read_content_file(path)


def test_read_content_file_directory(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match="cannot read"):
        read_content_file(tmp_path)


def test_read_content_file_over_one_mebibyte(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    text = json.dumps({"title": "A", "summary": "x" * (1024 * 1024)})
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NodeError, match="larger than 1 MiB"):
        read_content_file(path)


def test_read_content_file_of_exactly_one_mebibyte(tmp_path: Path) -> None:
    path = tmp_path / "edge.json"
    head = '{"title": "A", "summary": "'
    path.write_text(head + "x" * (1024 * 1024 - len(head) - 2) + '"}', encoding="utf-8")
    assert path.stat().st_size == 1024 * 1024
    assert read_content_file(path)["title"] == "A"


def test_a_label_outside_tlp_is_refused_and_nothing_is_stored(node: Node, peer_b: FakePeer) -> None:
    record_id = add_record(node, "experience", RECORD, by=ADMIN)
    before = counts(node)
    with pytest.raises(NodeError, match="invalid label 'TLP:PURPLE'"):
        add_record(node, "experience", RECORD, tlp="TLP:PURPLE", by=ADMIN)
    with pytest.raises(NodeError, match="invalid label 'TLP:PURPLE'"):
        edit_record(node, record_id, tlp="TLP:PURPLE", by=ADMIN)
    with pytest.raises(NodeError, match="invalid label 'TLP:PURPLE'"):
        send_alert(node, alert_content(), [peer_b.node_id], False, tlp="TLP:PURPLE", by=ADMIN)
    assert counts(node) == before
