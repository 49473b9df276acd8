"""A member that rotates its key stays a member: its certificate names a key it rotated away from by a
rotation the others followed (signed by the old and the new key), so it needs no re-admission.

But not once that key is revoked, nor when the operator revokes the member, nor for a descriptor
that merely lists the certified key as an old key without a signature by it. Real nodes with
servers on loopback, the world of test_networks: operator O of DEFUS, members M1 and M2.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from node.exchange import delivery
from node.exchange.received import list_inbox
from node.home import Node
from node.networks.push import revoke_and_push
from node.networks.registry import list_members, network_audience, store_member
from node.networks.sync import join_network
from node.sharing.records import add_record
from node.sharing.shares import share_record
from node.store import write
from node.transport.client import new_session
from node.trust.keyring import announce_keys, generation, rotate_key
from node.trust.peers import get_peer
from node.users import ADMIN
from protocol.descriptor import build_descriptor
from protocol.keys import NodeKey, fingerprint
from tests.conftest import RECORD
from tests.node.networks.test_registry import (
    World,
    admit,
    certificate_for,
    fed,
    inbox_origins,
    network_share_refused,
    refresh,
    world,
)
from tests.ports import hold_port

__all__ = ["fed", "world"]  # the fixtures of test_networks, shared


async def rotate_and_announce(node: Node) -> None:
    """`keys rotate`, and the announcement a running node makes to every peer (PUT /fed/v1/descriptor)."""
    rotate_key(node, by=ADMIN)
    async with new_session(node) as session:
        await announce_keys(node, session, generation(node))


async def share_in_network(world: World, sender: Node) -> str:
    record = add_record(sender, "experience", RECORD, by=ADMIN)
    share_record(sender, record, [], False, network="DEFUS", by=ADMIN)
    await world.fed.deliver(sender)
    return record


async def test_a_rotated_member_stays_a_member(world: World) -> None:
    o, m1, m2 = world.o, world.m1, world.m2
    certified = m1.fingerprint
    await rotate_and_announce(m1)
    assert m1.fingerprint != certified
    for follower in (o, m2):
        assert "ed25519:2" in get_peer(follower, m1.node_id)["keys"]  # both followed the rotation
    record = await share_in_network(world, m1)
    assert [(item["id"], item["verified"]) for item in list_inbox(m2)] == [(record, True)]
    assert inbox_origins(o) == [m1.node_id]
    report = await refresh(m2, world.network)
    assert (report["removed"], report["refused"]) == ([], [])
    assert m1.node_id in network_audience(m2, "DEFUS")[1]
    own = await refresh(m1, world.network)  # the operator still serves it the lists
    assert own.get("error") is None
    assert {m["node_id"]: m["state"] for m in list_members(m1)["members"]}[m1.node_id] == "current"
    assert m1.node_id in network_audience(o, "DEFUS")[1]


async def test_a_newcomer_accepts_a_member_that_rotated_before(world: World) -> None:
    m1 = world.m1
    await rotate_and_announce(m1)
    newcomer = await world.fed.add("Neu")
    joined = await join_network(newcomer, await admit(world.o, newcomer), by=ADMIN)
    assert m1.node_id in joined["refresh"]["trusted"]  # the old, certified key signed m1's descriptor
    assert get_peer(newcomer, m1.node_id)["fingerprint"] == m1.fingerprint
    assert newcomer.node_id in (await refresh(m1, world.network))["trusted"]
    await share_in_network(world, m1)
    assert inbox_origins(newcomer) == [m1.node_id]


async def test_refused_once_the_member_revokes_its_certified_key(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "QUICK_RETRIES", ())
    m1, m2 = world.m1, world.m2
    await rotate_and_announce(m1)
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    m1.db.execute("UPDATE own_keys SET revoked_since = ? WHERE version = 1", (since,))  # the old key leaked
    async with new_session(m1) as session:
        await announce_keys(m1, session, generation(m1))
    assert "ed25519:1" in json.loads(
        m2.db.execute("SELECT revoked FROM peers WHERE node_id = ?", (m1.node_id,)).fetchone()[0]
    )
    assert "certificate is for another key" in await network_share_refused(world, m1, m2)
    assert m1.node_id not in network_audience(m2, "DEFUS")[1]


async def test_refused_at_once_when_the_operator_revokes_a_rotated_member(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "QUICK_RETRIES", ())
    o, m1, m2 = world.o, world.m1, world.m2
    await rotate_and_announce(m1)
    assert (await revoke_and_push(o, m1.node_id, by=ADMIN))["push"]["pushed"] == [m2.node_id]
    await network_share_refused(world, m1, m2)  # M2 no longer trusts it at all


@pytest.fixture
async def impostor() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """A server on loopback serving whatever descriptor the test puts into the returned dict."""
    served: dict[str, Any] = {}
    app = web.Application()

    async def descriptor(request: web.Request) -> web.Response:
        return web.json_response(served["descriptor"])

    app.router.add_get("/.well-known/praevnet", descriptor)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = hold_port()
    await web.SockSite(runner, port.handover()).start()
    yield port.url, served
    await runner.cleanup()


async def test_a_listed_old_key_without_its_signature_vouches_for_nothing(
    world: World, impostor: tuple[str, dict[str, Any]]
) -> None:
    """Somebody claims that M1 rotated to its key, listing M1's certified key only as an old key."""
    o, m1 = world.o, world.m1
    url, served = impostor
    mine = NodeKey.generate(2)
    served["descriptor"] = build_descriptor(
        [mine],
        node_id=m1.node_id,
        name="M1",
        url=url,
        valid_until=datetime.now(UTC) + timedelta(days=7),
        old_keys={"ed25519:1": {"key": m1.key.public_b64, "expired": "2026-01-01T00:00:00Z"}},
    )
    certificate = certificate_for(o, world.network, m1, serial=99, fingerprint=fingerprint(m1.key.public))
    with write(o.db) as conn:  # the operator's register points at the impostor's URL (confused or hostile)
        store_member(conn, world.network, url, certificate)
    newcomer = await world.fed.add("Neu")
    joined = await join_network(newcomer, await admit(o, newcomer), by=ADMIN)
    refusals = {item["node_id"]: item["reason"] for item in joined["refresh"]["refused"]}
    assert "nor a rotation from it" in refusals[m1.node_id]
    assert m1.node_id not in [peer[0] for peer in newcomer.db.execute("SELECT node_id FROM peers")]
