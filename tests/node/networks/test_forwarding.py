"""Passing a received TLP:GREEN network record on to the network's other members (node.networks.forwarding),
and receivers refusing what a member passes on when the label does not allow it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from node import audit
from node.config import ReleaseConfig
from node.errors import NodeError, NotFound, PolicyError
from node.exchange.received import list_inbox
from node.home import Node
from node.networks.forwarding import forward_received
from node.networks.operator import create_network
from node.networks.registry import set_via_hub
from node.networks.sync import refresh_network
from node.sharing.records import add_record
from node.sharing.shares import retract, share_record
from node.transport.client import new_session
from node.users import ADMIN, Actor
from protocol.tlp import AMBER, CLEAR, GREEN
from tests.conftest import RECORD
from tests.node.federation import Federation
from tests.node.networks.test_hubs import admit_and_join, push


@dataclass
class World:
    fed: Federation
    o: Node  # operator and hub
    t: Node  # origin
    m: Node  # a member that received the record through the hub
    late: Node  # a member that joined after the hub relayed it
    network: str


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    fed = Federation(tmp_path)
    try:
        o, t, m, late = [await fed.add(name) for name in ("O", "T", "M", "L")]
        network = create_network(o, "DEFUS", by=ADMIN)["id"]
        for member in (t, m):
            await admit_and_join(o, member)
        yield World(fed, o, t, m, late, network)
    finally:
        await fed.close()


async def shared(w: World, tlp: str) -> str:
    """T shares a record with the network under `tlp`; the hub relays it to M. Then L joins."""
    record = add_record(w.t, "experience", {**RECORD, "title": f"Bericht {tlp}"}, tlp=tlp, by=ADMIN)
    share_record(w.t, record, [], False, network="DEFUS", by=ADMIN)
    await w.fed.deliver(w.t)
    await w.fed.deliver(w.o)
    assert [e["id"] for e in list_inbox(w.m)] == [record]
    await admit_and_join(w.o, w.late)
    async with new_session(w.m) as session:  # M learns of L
        await refresh_network(w.m, session, w.network)
    return record


async def test_a_green_record_is_passed_on_to_a_member_that_joined_later(world: World) -> None:
    w = world
    record = await shared(w, GREEN)
    assert list_inbox(w.late) == []
    outcome = forward_received(w.m, record, by=ADMIN)
    assert outcome["recipients"] == [w.late.node_id]  # not back to the origin or the hub it came from
    before = len(w.fed.wire)
    await w.fed.deliver(w.m)
    [entry] = list_inbox(w.late)
    assert (entry["id"], entry["origin"], entry["verified"]) == (record, w.t.node_id, True)
    sent = [wire for wire in w.fed.wire[before:] if wire.sender == w.m.node_id]
    assert [wire.receiver for wire in sent] == [w.late.node_id]
    held = w.t.db.execute("SELECT envelope FROM envelopes ORDER BY seq DESC LIMIT 1").fetchone()[0]
    assert held.encode() in sent[0].body  # exactly as the origin signed it
    [logged] = [e for e in audit.list_entries(w.m) if e["action"] == "forwarded"]
    assert (logged["record_id"], logged["recipients"]) == (record, [w.late.node_id])
    assert audit.verify(w.m) == []


@pytest.mark.parametrize("label", [AMBER, "TLP:AMBER+STRICT"])
async def test_labels_that_stay_with_the_recipient_are_not_passed_on(world: World, label: str) -> None:
    w = world
    record = await shared(w, label)
    before = len(w.fed.wire)
    with pytest.raises(PolicyError, match="may not be passed on"):
        forward_received(w.m, record, by=ADMIN)
    await w.fed.deliver(w.m)
    assert w.fed.wire[before:] == []
    assert w.m.db.execute("SELECT count(*) FROM relays").fetchone()[0] == 0


async def test_a_member_pushing_an_amber_record_of_another_origin_is_refused(world: World) -> None:
    w = world
    await shared(w, AMBER)
    (text,) = w.m.db.execute("SELECT envelope FROM inbox").fetchone()
    [answer] = await push(w.m, w.late, [json.loads(text)])
    assert answer["status"] == "refused"
    assert "not a hub" in answer["reason"]
    assert "TLP:AMBER may not be forwarded" in answer["reason"]
    assert list_inbox(w.late) == []


async def test_a_green_record_pushed_by_a_member_is_accepted(world: World) -> None:
    w = world
    record = await shared(w, GREEN)
    (text,) = w.m.db.execute("SELECT envelope FROM inbox").fetchone()
    [answer] = await push(w.m, w.late, [json.loads(text)])
    assert answer["status"] == "accepted"
    assert [e["id"] for e in list_inbox(w.late)] == [record]


async def test_a_green_record_passed_on_by_a_stranger_is_refused(world: World) -> None:
    w = world
    await shared(w, GREEN)
    outsider = await w.fed.add("X")
    w.fed.pair(outsider, w.late)
    (text,) = w.m.db.execute("SELECT envelope FROM inbox").fetchone()
    [answer] = await push(outsider, w.late, [json.loads(text)])
    assert answer["status"] == "refused"
    assert "not a member of network" in answer["reason"]


async def test_what_cannot_be_passed_on(world: World) -> None:
    w = world
    record = await shared(w, GREEN)
    with pytest.raises(NotFound, match="no received record"):
        forward_received(w.m, "unknown-record", by=ADMIN)
    plain = add_record(w.t, "experience", {**RECORD, "title": "Direkt"}, tlp=CLEAR, by=ADMIN)
    w.fed.pair(w.t, w.m)
    share_record(w.t, plain, [w.m.node_id], False, by=ADMIN)
    await w.fed.deliver(w.t)
    with pytest.raises(PolicyError, match="not shared within a network"):
        forward_received(w.m, plain, by=ADMIN)
    retract(w.t, record, by=ADMIN)
    await w.fed.deliver(w.t)
    await w.fed.deliver(w.o)
    with pytest.raises(PolicyError, match="retracted"):
        forward_received(w.m, record, by=ADMIN)
    assert w.m.db.execute("SELECT count(*) FROM relays").fetchone()[0] == 0


async def test_four_eyes_needs_an_approver_to_pass_on(world: World) -> None:
    w = world
    record = await shared(w, GREEN)
    w.m.config = replace(w.m.config, release=ReleaseConfig(four_eyes=True))
    with pytest.raises(NodeError, match="approver"):
        forward_received(w.m, record, by=Actor("erika", "officer"))
    assert forward_received(w.m, record, by=Actor("anna", "approver"))["recipients"] == [w.late.node_id]


async def test_a_via_hub_member_passes_on_to_hubs_only(world: World) -> None:
    w = world
    record = await shared(w, GREEN)
    set_via_hub(w.m, "DEFUS", True, by=ADMIN)
    outcome = forward_received(w.m, record, by=ADMIN)
    assert outcome["recipients"] == []  # the only hub, O, is where the record came from
    await w.fed.deliver(w.m)
    assert list_inbox(w.late) == []
