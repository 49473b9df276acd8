"""Peered networks: the operator's own TLP:CLEAR network records cross too, and retractions of crossed
records cross the same way and erase them on the other side.

The world of test_peering: XO operates X (Brandenburg) with member XA; YO operates Y (Sachsen) with
member YB. Evidence is what crossed the wire (`fed.wire`), never what a function returned.
"""

from __future__ import annotations

import json
from typing import Any

from node.home import Node
from node.networks.crossing import own_outgoing
from node.networks.peering import unpeer_and_push
from node.sharing.records import add_record, edit_record
from node.sharing.shares import retract, share_record
from node.users import ADMIN
from protocol.tlp import CLEAR, GREEN
from tests.conftest import RECORD
from tests.node.networks.test_hubs import push
from tests.node.networks.test_peering import Peered, inbox_of, share_in_x, to, world

__all__ = ["world"]


def last_sealed(node: Node) -> dict[str, Any]:
    (text,) = node.db.execute("SELECT envelope FROM envelopes ORDER BY seq DESC LIMIT 1").fetchone()
    return dict(json.loads(text))


def share_by_xo(w: Peered, tlp: str) -> tuple[str, dict[str, Any]]:
    """XO shares a record of its own with network X; returns the record id and the share's answer."""
    record = add_record(w.xo, "experience", RECORD, tlp=tlp, by=ADMIN)
    return record, share_record(w.xo, record, [], False, network="Brandenburg", by=ADMIN)


def erased_at(node: Node, origin: Node, record_id: str) -> list[bool]:
    """For each version of the record held at `node`: whether its content was erased."""
    found = node.db.execute(
        "SELECT erased, envelope FROM inbox WHERE origin = ? AND id = ? AND kind != 'retraction' ORDER BY seq",
        (origin.node_id, record_id),
    ).fetchall()
    return [erased is not None and "content" not in json.loads(text) for erased, text in found]


async def test_the_operators_own_clear_record_reaches_the_peered_networks_members(world: Peered) -> None:
    w = world
    record, answer = share_by_xo(w, CLEAR)
    assert w.yo.node_id in answer["recipients"]
    assert w.xa.node_id in answer["recipients"]
    genuine = last_sealed(w.xo)
    assert genuine["network"] == w.x
    await w.fed.deliver(w.xo)
    await w.fed.deliver(w.yo)
    (at_yo,) = to(w, w.yo)
    attachment = at_yo["unsigned"]["crossing"]
    assert attachment["certificate"]["node_id"] == w.xo.node_id  # XO's own X certificate
    assert attachment["certificate"]["network"] == w.x
    assert attachment["key_id"] == w.xo.key.key_id
    assert attachment["revocations"]["network"] == w.x
    assert {k: v for k, v in at_yo.items() if k != "unsigned"} == genuine  # unchanged but for the attachment
    (at_yb,) = to(w, w.yb)
    assert at_yb["id"] == record
    assert at_yb["unsigned"]["crossing"]["certificate"]["node_id"] == w.xo.node_id
    assert [e["id"] for e in inbox_of(w.yb, w.xo)] == [record]
    assert [e["id"] for e in inbox_of(w.xa, w.xo)] == [record]  # X's members as before, without attachment
    assert all("unsigned" not in e for wire in w.fed.wire if wire.receiver == w.xa.node_id for e in wire.envelopes())
    detail = w.xo.db.execute("SELECT detail FROM audit WHERE action = 'record.share'").fetchone()[0]
    assert f"across peerings to the operator(s) {w.yo.node_id}" in detail


async def test_the_operators_green_record_stays_in_x(world: Peered) -> None:
    w = world
    _, answer = share_by_xo(w, GREEN)
    assert answer["recipients"] == [w.xa.node_id]
    await w.fed.deliver(w.xo)
    assert to(w, w.yo) == []


async def test_an_edit_to_green_does_not_cross_and_the_gate_holds_without_a_peering(world: Peered) -> None:
    w = world
    record, _ = share_by_xo(w, CLEAR)
    await w.fed.deliver(w.xo)
    assert len(to(w, w.yo)) == 1
    edit_record(w.xo, record, tlp=GREEN, by=ADMIN)
    await w.fed.deliver(w.xo)
    assert len(to(w, w.yo)) == 1  # the GREEN version stays in X
    (withheld,) = w.xo.db.execute("SELECT recipients, detail FROM audit WHERE action = 'share.withheld'").fetchall()
    assert w.yo.node_id in withheld[0]
    assert "does not cross" in withheld[1]
    # A CLEAR record shared, then the peering withdrawn before it left: the sharing gate keeps it here.
    share_by_xo(w, CLEAR)
    await unpeer_and_push(w.xo, "Brandenburg", w.y, by=ADMIN)
    await w.fed.deliver(w.xo)
    assert len(to(w, w.yo)) == 1
    assert isinstance(own_outgoing(w.xo, w.yo.node_id, last_sealed(w.xo)), str)
    # ... and YO pulling XO's outbox gets nothing of X either.
    await w.fed.pull(w.yo, w.xo)
    pulled = [e for wire in w.fed.wire if wire.kind == "pull" for e in wire.envelopes()]
    assert [e for e in pulled if e.get("network") == w.x] == []


async def test_a_pull_by_the_peered_operator_carries_the_attachment(world: Peered) -> None:
    w = world
    record, _ = share_by_xo(w, CLEAR)
    await w.fed.pull(w.yo, w.xo)
    (pulled,) = [e for wire in w.fed.wire if wire.kind == "pull" for e in wire.envelopes()]
    assert pulled["unsigned"]["crossing"]["certificate"]["node_id"] == w.xo.node_id
    assert [e["id"] for e in inbox_of(w.yo, w.xo)] == [record]


async def test_the_operators_envelope_without_attachment_is_refused(world: Peered) -> None:
    w = world
    share_by_xo(w, CLEAR)
    genuine = last_sealed(w.xo)
    (answer,) = await push(w.xo, w.yo, [genuine])  # YO knows XO's key, but not as a member of X
    assert answer["status"] == "refused"
    assert "crossing attachment" in answer["reason"]
    assert inbox_of(w.yo, w.xo) == []


async def test_the_retraction_of_the_operators_record_erases_it_in_y(world: Peered) -> None:
    w = world
    record, _ = share_by_xo(w, CLEAR)
    await w.fed.deliver(w.xo)
    await w.fed.deliver(w.yo)
    assert erased_at(w.yb, w.xo, record) == [False]
    assert w.yo.node_id in retract(w.xo, record, by=ADMIN)
    await w.fed.deliver(w.xo)
    await w.fed.deliver(w.yo)
    retraction = [e for e in to(w, w.yb) if e["type"] == "retraction"]
    assert [(e["id"], e["network"]) for e in retraction] == [(record, w.x)]
    assert "crossing" in retraction[0]["unsigned"]
    assert erased_at(w.yb, w.xo, record) == [True]
    assert erased_at(w.yo, w.xo, record) == [True]
    assert erased_at(w.xa, w.xo, record) == [True]


async def test_the_retraction_of_a_members_crossed_record_erases_it_in_y(world: Peered) -> None:
    w = world
    genuine = await share_in_x(w, CLEAR)
    await w.fed.deliver(w.xo)
    await w.fed.deliver(w.yo)
    assert erased_at(w.yb, w.xa, genuine["id"]) == [False]
    retract(w.xa, genuine["id"], by=ADMIN)
    await w.fed.deliver(w.xa)
    await w.fed.deliver(w.xo)
    await w.fed.deliver(w.yo)
    assert [e["type"] for e in to(w, w.yb)] == ["experience", "retraction"]
    assert erased_at(w.yb, w.xa, genuine["id"]) == [True]
    assert erased_at(w.yo, w.xa, genuine["id"]) == [True]
