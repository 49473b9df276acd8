"""Finding 11: case bands are computed by the node from case_count, never written by an officer.

An officer-written `case_band` used to win over the band computed from `case_count`, and the band
pattern accepted `"2-2"`, so an exact small count could leave the node. Now an officer may not write
`case_band` at all, what leaves carries only the band of the configured threshold, and a receiver
refuses any band that is not one of the four bands of some admissible threshold.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from node.config import parse_config
from node.errors import NodeError
from node.home import Node
from node.sharing.records import add_record, edit_record, get_record, send_alert
from node.users import ADMIN
from tests.conftest import FakePeer, alert_content, body_of
from tests.node.conftest import NodeFactory, Served, stored
from tests.node.exchange.test_inbox_body import hand_signed, results_of
from tests.node.federation import Federation

REFUSAL = "case_band is computed by this node"


def counts(node: Node) -> dict[str, int]:
    tables = ("records", "versions", "envelopes", "shares", "deliveries", "audit")
    return {t: node.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


@pytest.fixture
async def fed(federation: Federation) -> Federation:
    """Augsburg and Bonn, serving on loopback and paired."""
    federation.pair(await federation.add("augsburg"), await federation.add("bonn"))
    return federation


OFFICER_BANDS = [
    pytest.param({"case_band": "2-2"}, id="exact-count-as-band"),
    pytest.param({"case_band": "2-2", "case_count": 2}, id="exact-count-as-band-with-count"),
    pytest.param({"case_band": "<5", "case_count": 2}, id="the-computed-band-itself"),
    pytest.param({"case_band": "20+"}, id="a-well-formed-band-without-count"),
]


@pytest.mark.parametrize("extra", OFFICER_BANDS)
def test_finding_11_an_officer_adding_an_alert_with_a_case_band_is_refused(
    make_node: NodeFactory, extra: dict[str, Any]
) -> None:
    node = make_node("Stadt Augsburg")
    before = counts(node)
    with pytest.raises(NodeError, match=REFUSAL) as caught:
        add_record(node, "alert", {**alert_content(), **extra}, by=ADMIN)
    assert "give case_count instead" in str(caught.value)
    assert counts(node) == before


async def test_finding_11_an_officer_sending_an_alert_with_case_band_2_2_is_refused(fed: Federation) -> None:
    a, b = fed.nodes.values()
    before = counts(a)
    with pytest.raises(NodeError, match=REFUSAL):
        send_alert(a, {**alert_content(), "case_band": "2-2"}, [b.node_id], all_peers=False, by=ADMIN)
    assert counts(a) == before
    await fed.deliver(a)
    assert fed.bytes_from(a) == []


async def test_finding_11_an_edit_may_not_write_a_case_band(fed: Federation) -> None:
    a, b = fed.nodes.values()
    alert_id = send_alert(a, {**alert_content(), "case_count": 2}, [b.node_id], all_peers=False, by=ADMIN)["id"]
    before = counts(a)
    with pytest.raises(NodeError, match=REFUSAL):
        edit_record(a, alert_id, {**alert_content(), "case_band": "2-2"}, by=ADMIN)
    assert counts(a) == before
    assert get_record(a, alert_id)["version"] == 1


async def test_finding_11_an_alert_with_case_count_2_leaves_with_its_band_only(fed: Federation) -> None:
    a, b = fed.nodes.values()
    content = {**alert_content(), "case_count": 2}
    alert_id = send_alert(a, content, [b.node_id], all_peers=False, by=ADMIN)["id"]
    await fed.deliver(a)  # pushed
    await fed.pull(b, a)  # served from the outbox
    edit_record(a, alert_id, {**content, "case_count": 7}, by=ADMIN)
    await fed.deliver(a)
    wires = fed.bytes_from(a)
    assert {wire.kind for wire in wires} == {"push", "pull"}
    left = [e for wire in wires for e in wire.envelopes() if e["id"] == alert_id]
    assert {(e["version"], e["content"]["case_band"]) for e in left} == {(1, "<5"), (2, "5-9")}
    for envelope in left:
        assert "case_count" not in envelope["content"]
    for wire in wires:
        assert b"case_count" not in wire.body


async def test_finding_11_a_received_alert_with_case_band_2_2_is_refused(served: Served, peer_b: FakePeer) -> None:
    content = {**alert_content(), "case_band": "2-2"}
    del content["internal_notes"]
    leaky = hand_signed(peer_b, content, type="alert")
    good = hand_signed(peer_b, {**content, "case_band": "<5"}, type="alert")
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [leaky]}))
    [entry] = await results_of(response)
    assert entry["status"] == "refused"
    assert "case_band" in entry["reason"]
    assert "2-2" in entry["reason"]
    assert stored(served.node) == (0, 1)
    raw = served.node.db.execute("SELECT coalesce(group_concat(envelope), '') FROM inbox").fetchone()[0]
    assert "2-2" not in raw
    # the refused seq 1 left no trace: B's well-formed seq 1 is accepted, not taken for a fork
    response, _ = await served.put_inbox(peer_b, "t2", body_of({"envelopes": [good]}))
    assert [entry["status"] for entry in await results_of(response)] == ["accepted"]
    [row] = served.node.db.execute("SELECT envelope FROM inbox").fetchall()
    assert json.loads(row[0])["content"]["case_band"] == "<5"


@pytest.mark.parametrize("k", [1, 2])
def test_finding_11_a_threshold_whose_bands_name_exact_counts_is_refused_by_the_config(k: int) -> None:
    text = f'[node]\nname = "Stadt A"\nurl = "http://127.0.0.1:9"\n\n[alerts]\nsmall_number_threshold = {k}\n'
    with pytest.raises(NodeError, match=rf"small_number_threshold = {k}: .* between 3 and 10000"):
        parse_config(text)
    assert parse_config(text.replace(f"= {k}", "= 3")).alerts.small_number_threshold == 3
