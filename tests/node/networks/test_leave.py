"""Leaving a network: the operator revokes the member (reason `left`) and tells the others at once;
the member drops the network, its network-only peers and what was queued for it, reachable
operator or not. Non-members, unknown networks and the operator itself are refused.

Real nodes with servers on loopback, the world of test_networks: operator O of DEFUS, members M1
and M2, an outsider X.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from node.audit import list_entries
from node.errors import NodeError, NotFound
from node.exchange.network_routes import ENDPOINTS
from node.exchange.server import NODE
from node.home import Node
from node.networks.leave import leave_network
from node.networks.operator import admit_member, create_network, revoke_member
from node.networks.registry import list_members, list_networks
from node.networks.sync import join_network
from node.sharing.records import add_record
from node.sharing.shares import share_record
from node.transport.client import HttpFailure, new_session, signed_request
from node.trust.peers import get_peer, trust_descriptor
from node.users import ADMIN, Actor
from protocol.network import LEAVE, network_path
from tests.conftest import RECORD
from tests.node.federation import Federation
from tests.node.networks.test_registry import World, admit, fed, peer_networks, refresh, state, world

__all__ = ["fed", "world"]  # the fixtures of test_networks, shared
OFFICER = Actor("erika", "admin")


async def settled(federation: Federation, node: Node) -> None:
    """Wait for the revocation pushes `node`'s server started."""
    for runner in federation.runners:
        if runner.app[NODE] is node:
            await runner.app[ENDPOINTS].settled()


def entries(node: Node, action: str) -> list[dict[str, object]]:
    return [entry for entry in list_entries(node) if entry["action"] == action]


def queued(node: Node) -> tuple[int, int]:
    deliveries = node.db.execute("SELECT count(*) FROM deliveries WHERE state = 'pending'").fetchone()[0]
    relays = node.db.execute("SELECT count(*) FROM relays WHERE state = 'pending'").fetchone()[0]
    return int(deliveries), int(relays)


async def test_a_member_leaves(world: World) -> None:
    o, m1, m2 = world.o, world.m1, world.m2
    record = add_record(m1, "experience", RECORD, by=ADMIN)
    share_record(m1, record, [], False, network="DEFUS", by=ADMIN)
    assert queued(m1) == (2, 0)  # to O and M2, not sent yet
    left = await leave_network(m1, "DEFUS", by=OFFICER)
    assert left == {
        "network": world.network,
        "name": "DEFUS",
        "node_id": m1.node_id,
        "operator": {"node_id": o.node_id, "url": o.config.url},
        "operator_notified": True,
        "operator_error": None,
        "version": 2,
        "removed": sorted([o.node_id, m2.node_id]),
        "dropped": 2,
    }
    # the member: no network, no network peers, nothing queued, audited
    assert list_networks(m1) == []
    assert peer_networks(m1) == {}
    assert queued(m1) == (0, 0)
    assert m1.db.execute("SELECT count(*) FROM network_members").fetchone()[0] == 0
    [entry] = entries(m1, "network.leave")
    assert entry["user"] == "erika"
    assert "the operator revoked this node's membership (revocation list version 2)" in str(entry["detail"])
    # the operator: revoked with the reason `left`, audited, no longer trusted
    states = {m["node_id"]: m["state"] for m in list_members(o)["members"]}
    assert states[m1.node_id] == "left"
    assert m1.node_id not in peer_networks(o)
    [entry] = entries(o, "network.leave")
    assert (entry["user"], entry["recipients"]) == ("node", [m1.node_id])
    assert list_networks(o)[0]["revocations_version"] == 2
    # the other member: told at once, no refresh
    await settled(world.fed, o)
    assert list_networks(m2)[0]["revocations_version"] == 2
    assert m1.node_id not in peer_networks(m2)
    # and a node that left is not admitted again
    with pytest.raises(NodeError, match="was revoked"):
        await admit(o, m1)


async def test_leaving_drops_relays_queued_for_the_network(fed: Federation) -> None:
    o, hub, m2 = [await fed.add(name) for name in ("O", "Hub", "M2")]
    network = create_network(o, "DEFUS", by=ADMIN)["id"]
    code = await admit_member(
        o, hub.config.url, hub.fingerprint, lifetime=timedelta(days=30), roles=("member", "hub"), by=ADMIN
    )
    await join_network(hub, str(code["code"]), by=ADMIN)
    await join_network(m2, await admit(o, m2), by=ADMIN)
    await refresh(hub, network)
    record = add_record(m2, "experience", RECORD, by=ADMIN)
    share_record(m2, record, [], False, network="DEFUS", by=ADMIN)
    await fed.deliver(m2)
    assert queued(hub) == (0, 1)  # M2's record, to be relayed to O
    left = await leave_network(hub, network, by=ADMIN)
    assert (left["operator_notified"], left["dropped"]) == (True, 1)
    assert queued(hub) == (0, 0)


async def test_leaving_with_an_unreachable_operator(world: World) -> None:
    o, m1, m2 = world.o, world.m1, world.m2
    m1.db.execute("UPDATE peers SET url = 'http://127.0.0.1:9' WHERE node_id = ?", (o.node_id,))
    left = await leave_network(m1, "DEFUS", by=ADMIN)
    assert (left["operator_notified"], left["version"]) == (False, None)
    assert "cannot reach http://127.0.0.1:9" in str(left["operator_error"])
    assert list_networks(m1) == []  # left here all the same
    assert peer_networks(m1) == {}
    [entry] = entries(m1, "network.leave")
    assert "the operator was not told: cannot reach" in str(entry["detail"])
    assert {m["node_id"]: m["state"] for m in list_members(o)["members"]}[m1.node_id] == "current"
    assert list_networks(m2)[0]["revocations_version"] == 1


async def test_leaving_after_being_revoked(world: World) -> None:
    """A revoked member still cleans up; the operator no longer answers it, which is reported."""
    o, m1 = world.o, world.m1
    revoke_member(o, m1.node_id, by=ADMIN)
    left = await leave_network(m1, "DEFUS", by=ADMIN)
    assert left["operator_notified"] is False
    assert "401" in str(left["operator_error"])
    assert list_networks(m1) == []


async def test_a_directly_paired_member_stays_paired(world: World) -> None:
    m1, m2 = world.m1, world.m2
    trust_descriptor(m1, m2.config.url, m2.fingerprint, m2.descriptor())  # paired directly as well
    left = await leave_network(m1, "DEFUS", by=ADMIN)
    assert left["removed"] == [world.o.node_id]
    assert peer_networks(m1) == {m2.node_id: None}


async def test_leave_refusals_change_nothing(world: World) -> None:
    o, m1, x = world.o, world.m1, world.x
    for node, name, error, words in (
        (m1, "Nope", NotFound, "no network called 'Nope'"),
        (x, "DEFUS", NotFound, "no network called 'DEFUS'"),
        (o, "DEFUS", NodeError, "an operator cannot leave its own network"),
        (o, world.network, NodeError, "an operator cannot leave its own network"),
    ):
        before = state(node)
        with pytest.raises(error, match=words):
            await leave_network(node, name, by=ADMIN)
        assert state(node) == before
    with pytest.raises(NodeError, match="may not"):
        await leave_network(m1, "DEFUS", by=Actor("olaf", "officer"))


# --- the operator's endpoint ---------------------------------------------------------------------


async def post_leave(sender: Node, to: Node, network: str, body: object = None, suffix: str = "") -> object:
    async with new_session(sender) as session:
        peer = {"node_id": to.node_id, "url": to.config.url}
        try:
            return await signed_request(sender, session, peer, "POST", network_path(network, LEAVE) + suffix, body)
        except HttpFailure as exc:
            return exc


def refused(answer: object, status: int, *words: str) -> None:
    assert isinstance(answer, HttpFailure), answer
    assert answer.status == status, answer
    for word in words:
        assert word in str(answer), answer


async def test_hostile_leave_requests_are_refused(world: World) -> None:
    o, m1, m2, x = world.o, world.m1, world.m2, world.x
    other = create_network(o, "LPR Bayern", by=ADMIN)["id"]
    before = state(o)
    refused(await post_leave(x, o, world.network), 401)  # not a trusted peer
    refused(await post_leave(m1, o, other), 403, "not a current member")  # a member of another network
    refused(await post_leave(m1, m2, world.network), 404, "does not operate")  # not the operator
    refused(await post_leave(m1, o, "nw" + "a" * 32), 404, "does not operate")
    refused(await post_leave(m1, o, world.network, {"reason": "bye"}), 400, "empty body")
    refused(await post_leave(m1, o, world.network, suffix="?now=1"), 400, "unknown query parameter")
    assert state(o) == before
    assert get_peer(o, m1.node_id)["network"] == world.network
    assert (await post_leave(m1, o, world.network)) == {"network": world.network, "node_id": m1.node_id, "version": 2}
    refused(await post_leave(m1, o, world.network), 401)  # once left, no longer a trusted peer there
