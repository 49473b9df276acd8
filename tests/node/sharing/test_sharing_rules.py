"""What leaves the city: audiences, TLP labels, local marks, small numbers and the exact preview.

Every test looks at the bytes that crossed the wire (tests/node/federation.py), and the regression
tests are shaped after leaks known from other sharing platforms: an empty audience reaching
everybody, a removed peer still served, a raised label ignored, a record pulled by a third node.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from node import audit
from node.errors import NodeError, PolicyError
from node.home import Node
from node.sharing.preview import preview
from node.sharing.records import add_record, edit_record, get_record, send_alert
from node.sharing.shares import share_record
from node.trust.peers import remove_peer
from node.users import ADMIN
from tests.conftest import alert_content
from tests.node.federation import Federation

LOCAL_NOTE = "LOCAL-NOTE-5b1e"
LOCAL_COSTS = "LOCAL-COSTS-88aa"
RECORD: dict[str, Any] = {
    "title": "Präventionsrat im Quartier",
    "summary": "Regelmäßige Runden mit Schulen, Polizei und Jugendhilfe.",
    "problem": "Beschwerden über Vandalismus am Bahnhof.",
    "implementation": {"duration": "2 Jahre", "costs": LOCAL_COSTS},
    "internal_notes": LOCAL_NOTE,
}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path)
    for name in ("augsburg", "bonn", "chemnitz"):
        await federation.add(name)
    a, b, c = federation.nodes.values()
    federation.pair(a, b)
    federation.pair(a, c)
    yield federation
    await federation.close()


def nodes(fed: Federation) -> tuple[Node, Node, Node]:
    a, b, c = fed.nodes.values()
    return a, b, c


def counts(node: Node) -> dict[str, int]:
    tables = ("records", "versions", "envelopes", "shares", "grants", "deliveries")
    return {t: node.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def ids_on_wire(fed: Federation, sender: Node, receiver: Node) -> set[str]:
    return {e["id"] for w in fed.bytes_from(sender) if w.receiver == receiver.node_id for e in w.envelopes()}


async def test_an_empty_audience_shares_with_nobody(fed: Federation) -> None:
    a, _, _ = nodes(fed)
    record_id = add_record(a, "experience", RECORD, by=ADMIN)
    before = counts(a)
    with pytest.raises(NodeError, match="no recipients"):
        share_record(a, record_id, [], all_peers=False, by=ADMIN)
    await fed.deliver(a)
    assert counts(a) == before
    assert fed.wire == []


async def test_a_peer_removed_after_a_share_gets_nothing_more(fed: Federation) -> None:
    a, b, c = nodes(fed)
    record_id = add_record(a, "experience", RECORD, by=ADMIN)
    share_record(a, record_id, [], all_peers=True, by=ADMIN)
    remove_peer(a, b.node_id)
    edit_record(a, record_id, {**RECORD, "title": "Neuer Titel"}, by=ADMIN)
    await fed.deliver(a)
    await fed.pull(c, a)
    assert ids_on_wire(fed, a, b) == set()
    assert ids_on_wire(fed, a, c) == {record_id}
    with pytest.raises(Exception, match="401"):
        await fed.pull(b, a)
    assert b.db.execute("SELECT count(*) FROM inbox").fetchone()[0] == 0


async def test_a_record_shared_with_b_is_not_pulled_by_c(fed: Federation) -> None:
    a, b, c = nodes(fed)
    record_id = add_record(a, "experience", RECORD, by=ADMIN)
    share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN)
    await fed.deliver(a)
    report = await fed.pull(c, a)
    assert report.get("accepted", 0) == 0
    assert ids_on_wire(fed, a, c) == set()
    assert ids_on_wire(fed, a, b) == {record_id}


async def test_red_goes_to_named_recipients_only(fed: Federation) -> None:
    a, b, _ = nodes(fed)
    record_id = add_record(a, "experience", RECORD, tlp="TLP:RED", by=ADMIN)
    before = counts(a)
    with pytest.raises(PolicyError, match="TLP:RED goes only to named recipients"):
        share_record(a, record_id, [], all_peers=True, by=ADMIN)
    assert counts(a) == before
    share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN)
    await fed.deliver(a)
    [envelope] = [e for w in fed.bytes_from(a) for e in w.envelopes()]
    assert envelope["tlp"] == "TLP:RED"


async def test_a_label_raised_to_red_after_an_all_peers_share_withholds_the_new_version(fed: Federation) -> None:
    a, b, c = nodes(fed)
    record_id = add_record(a, "experience", RECORD, tlp="TLP:CLEAR", by=ADMIN)
    share_record(a, record_id, [], all_peers=True, by=ADMIN)
    await fed.deliver(a)
    edit_record(a, record_id, tlp="TLP:RED", by=ADMIN)
    await fed.deliver(a)
    await fed.pull(b, a)
    await fed.pull(c, a)
    sent = [(w.receiver, e["version"], e["tlp"]) for w in fed.bytes_from(a) for e in w.envelopes()]
    assert all(tlp != "TLP:RED" for _, _, tlp in sent)
    assert {version for _, version, _ in sent} == {1}
    withheld = [e for e in audit.list_entries(a) if e["action"] == "share.withheld"]
    assert {e["recipients"][0] for e in withheld} == {b.node_id, c.node_id}


async def test_a_label_lowered_after_a_named_share_sends_the_new_version_to_the_same_peer(fed: Federation) -> None:
    a, b, c = nodes(fed)
    record_id = add_record(a, "experience", RECORD, tlp="TLP:RED", by=ADMIN)
    share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN)
    edit_record(a, record_id, tlp="TLP:CLEAR", by=ADMIN)
    await fed.deliver(a)
    await fed.pull(c, a)
    to_b = sorted((e["version"], e["tlp"]) for w in fed.bytes_from(a) if w.receiver == b.node_id for e in w.envelopes())
    assert to_b == [(1, "TLP:RED"), (2, "TLP:CLEAR")]
    assert ids_on_wire(fed, a, c) == set()


async def test_local_fields_and_marks_never_leave_in_any_version(fed: Federation) -> None:
    a, b, _ = nodes(fed)
    record_id = add_record(a, "experience", RECORD, local=["implementation.costs", "problem"], by=ADMIN)
    share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN)
    edit_record(a, record_id, {**RECORD, "summary": "Zweite Fassung"}, by=ADMIN)
    edit_record(a, record_id, {**RECORD, "summary": "Dritte Fassung"}, local=["goals"], by=ADMIN)
    await fed.deliver(a)
    await fed.pull(b, a)
    traffic = b"".join(w.body for w in fed.wire)
    assert [e["version"] for w in fed.bytes_from(a) for e in w.envelopes() if w.kind == "push"] == [1, 2, 3]
    for secret in (LOCAL_NOTE, LOCAL_COSTS, RECORD["problem"]):
        assert secret.encode() not in traffic
        assert all(secret.encode() not in path.read_bytes() for path in Path(b.home).glob("praevnet.db*"))
    assert get_record(a, record_id)["local_fields"] == ["goals", "implementation.costs", "problem"]


@pytest.mark.parametrize(
    ("mark", "problem"),
    [("title", "required fields always leave"), ("internal", "cannot be marked local"), ("area.name", "cannot")],
)
def test_marks_must_name_optional_fields(make_node: Any, mark: str, problem: str) -> None:
    node = make_node()
    with pytest.raises(NodeError, match=problem):
        add_record(node, "experience", RECORD, local=[mark], by=ADMIN)
    assert node.db.execute("SELECT count(*) FROM records").fetchone()[0] == 0


async def test_exact_case_counts_leave_only_as_bands(fed: Federation) -> None:
    a, b, _ = nodes(fed)
    content = {**alert_content(), "case_count": 3}
    alert_id = send_alert(a, content, [b.node_id], all_peers=False, by=ADMIN)["id"]
    await fed.deliver(a)
    [envelope] = [e for w in fed.bytes_from(a) for e in w.envelopes()]
    assert envelope["content"]["case_band"] == "<5"
    assert "case_count" not in envelope["content"]
    assert get_record(a, alert_id)["content"]["case_count"] == 3


def test_a_case_band_that_contradicts_the_count_is_refused(make_node: Any) -> None:
    node = make_node()
    with pytest.raises(NodeError, match="case_band is computed by this node"):  # any officer band (finding 11)
        add_record(node, "alert", {**alert_content(), "case_count": 12, "case_band": "<5"}, by=ADMIN)
    assert node.db.execute("SELECT count(*) FROM records").fetchone()[0] == 0


async def test_the_small_number_threshold_is_configurable(tmp_path: Path) -> None:
    federation = Federation(tmp_path)
    try:
        a = await federation.add("augsburg", {"alerts": {"small_number_threshold": 10}})
        b = await federation.add("bonn")
        federation.pair(a, b)
        send_alert(a, {**alert_content(), "case_count": 12}, [b.node_id], all_peers=False, by=ADMIN)
        await federation.deliver(a)
        [envelope] = [e for w in federation.bytes_from(a) for e in w.envelopes()]
        assert envelope["content"]["case_band"] == "10-19"
    finally:
        await federation.close()


async def test_preview_shows_byte_for_byte_what_the_share_sends(fed: Federation) -> None:
    a, b, _ = nodes(fed)
    record_id = add_record(a, "experience", RECORD, local=["problem"], by=ADMIN)
    shown = preview(a, record_id, b.node_id, by=ADMIN)
    assert LOCAL_NOTE not in shown["bytes"]
    assert RECORD["problem"] not in shown["bytes"]
    share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN)
    await fed.deliver(a)
    [push] = fed.bytes_from(a)
    assert push.body == b'{"envelopes":[' + shown["bytes"].encode() + b"]}"
    sent = [e for e in audit.list_entries(a) if e["action"] == "sent"]
    received = [e for e in audit.per_record(audit.list_entries(b)) if e["action"] == "received"]
    assert [e["digest"] for e in sent] == [e["digest"] for e in received] == [shown["sha256"]]


def test_preview_for_an_unknown_peer_is_refused_and_seals_nothing(make_node: Any) -> None:
    node = make_node()
    record_id = add_record(node, "experience", RECORD, by=ADMIN)
    with pytest.raises(NodeError, match="not a trusted peer"):
        preview(node, record_id, "pn" + "a" * 32, by=ADMIN)
    assert node.db.execute("SELECT count(*) FROM envelopes").fetchone()[0] == 0
