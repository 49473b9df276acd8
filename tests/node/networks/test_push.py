"""Revocation lists pushed by the operator: members refuse a revoked member at once, without a refresh.

Real nodes with servers on loopback (tests/node/federation.py), the world of test_networks: operator
O of DEFUS, members M1 and M2, an outsider X. Every hostile push (forged signature, older version,
list of another network, sent by a non-operator, malformed) is refused with a 4xx, and nothing is
stored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from node.exchange import delivery
from node.home import Node
from node.networks.operator import create_network, revoke_member
from node.networks.push import push_revocations, revoke_and_push
from node.networks.registry import list_networks, load_network_key
from node.transport.client import HttpFailure, new_session, signed_request
from node.trust.peers import get_peer, trust_descriptor
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from protocol.encoding import b64url
from protocol.httpsig import HttpRequest, sign_request
from protocol.keys import NodeKey
from protocol.network import REVOCATIONS, issue_revocations, network_path
from tests.node.networks.test_registry import (
    World,
    fed,
    inbox_origins,
    network_share_refused,
    peer_networks,
    refresh,
    state,
    world,
)

__all__ = ["fed", "world"]  # the fixtures of test_networks, shared


def held_version(node: Node) -> int:
    return int(list_networks(node)[0]["revocations_version"])


def actions(node: Node) -> list[str]:
    return [row[0] for row in node.db.execute("SELECT action FROM audit ORDER BY seq")]


async def push(sender: Node, receiver: Node, network: str, body: Any, *, path: str | None = None) -> HttpFailure | Any:
    """POST `body` (JSON, or raw bytes) to the receiver's revocations endpoint, signed by `sender`."""
    async with new_session(sender) as session:
        peer = get_peer(sender, receiver.node_id) if receiver.node_id in peer_networks(sender) else None
        target = peer or {"node_id": receiver.node_id, "url": receiver.config.url}
        try:
            return await signed_request(
                sender, session, target, "POST", path or network_path(network, REVOCATIONS), body
            )
        except HttpFailure as exc:
            return exc


async def push_raw(sender: Node, receiver: Node, path: str, body: bytes) -> int:
    """POST raw bytes, signed by `sender`; return the status."""
    request = HttpRequest(method="POST", url=receiver.config.url + path, headers={"Content-Type": "application/json"})
    sign_request(request, body, sender.key, sender.node_id)
    async with aiohttp.ClientSession() as session, session.post(request.url, data=body, headers=request.headers) as r:
        return r.status


def refused(answer: object, status: int, *words: str) -> None:
    assert isinstance(answer, HttpFailure), answer
    assert answer.status == status, answer
    for word in words:
        assert word in str(answer), answer


# --- the push after a revocation -------------------------------------------------------------------


async def test_after_revoke_a_member_refuses_the_revoked_one_at_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "QUICK_RETRIES", ())
    o, m1, m2 = world.o, world.m1, world.m2
    revoked = await revoke_and_push(o, m1.node_id, by=ADMIN)
    assert revoked["push"] == {
        "network": world.network,
        "version": 2,
        "pushed": [m2.node_id],
        "failed": [],
        "pull_only": [],
    }
    assert held_version(m2) == 2  # no refresh happened
    assert m1.node_id not in peer_networks(m2)
    assert "network.revocations" in actions(m2)
    assert "network.push" in actions(o)
    # M1 has not heard of it and still sends a network-scoped record to M2: refused, nothing stored
    await network_share_refused(world, m1, m2)
    assert inbox_origins(m2) == []


async def test_the_pushed_list_alone_refuses_the_revoked_member(world: World) -> None:
    """Even with its peer row put back, the revoked member is refused: the held list says so."""
    o, m1, m2 = world.o, world.m1, world.m2
    revoke_member(o, m1.node_id, by=ADMIN)
    async with new_session(o) as session:
        assert (await push_revocations(o, world.network, session))["pushed"] == [m2.node_id]
    trust_descriptor(m2, m1.config.url, m1.fingerprint, m1.descriptor(), network=world.network)
    async with new_session(m1) as session:
        with pytest.raises(HttpFailure, match="not accepted as a member") as failure:
            await signed_request(m1, session, get_peer(m1, m2.node_id), "GET", "/fed/v1/outbox")
    assert failure.value.status == 401


async def test_an_unreachable_member_learns_of_it_at_its_next_refresh(world: World) -> None:
    o, m1, m2 = world.o, world.m1, world.m2
    real_url = m2.config.url
    o.db.execute("UPDATE peers SET url = 'http://127.0.0.1:9' WHERE node_id = ?", (m2.node_id,))
    report = (await revoke_and_push(o, m1.node_id, by=ADMIN))["push"]
    assert report["pushed"] == []
    assert [item["node_id"] for item in report["failed"]] == [m2.node_id]
    assert "cannot reach" in report["failed"][0]["reason"]
    assert held_version(m2) == 1
    o.db.execute("UPDATE peers SET url = ? WHERE node_id = ?", (real_url, m2.node_id))
    assert (await refresh(m2, world.network))["removed"] == [m1.node_id]
    assert held_version(m2) == 2


async def test_pull_only_members_are_not_pushed_to(world: World) -> None:
    o, m1, m2 = world.o, world.m1, world.m2
    o.db.execute("UPDATE peers SET pull_only = 1 WHERE node_id = ?", (m2.node_id,))
    report = (await revoke_and_push(o, m1.node_id, by=ADMIN))["push"]
    assert (report["pushed"], report["failed"], report["pull_only"]) == ([], [], [m2.node_id])
    assert held_version(m2) == 1


async def test_the_same_version_again_changes_nothing(world: World) -> None:
    o, m2 = world.o, world.m2
    current = json.loads(o.db.execute("SELECT revocations FROM networks").fetchone()[0])
    before = state(m2)
    answer = await push(o, m2, world.network, current)
    assert answer == {"network": world.network, "version": 1, "removed": []}
    assert state(m2) == before


# --- hostile pushes: 4xx, nothing stored ------------------------------------------------------------


def newest_list(world: World) -> dict[str, Any]:
    """The operator's next list, revoking nobody, signed by the network key (as a real push carries)."""
    moment = datetime.now(UTC)
    return issue_revocations(
        load_network_key(world.o, world.network),
        version=5,
        issued=moment,
        expires=moment + timedelta(days=30),
        revoked=[],
    )


def forged(document: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in document.items() if k != "signature"}
    return body | {"signature": b64url(NodeKey.generate().sign(canonical_bytes(body)))}


async def test_hostile_pushes_are_refused(world: World) -> None:
    o, m1, m2 = world.o, world.m1, world.m2
    genuine = newest_list(world)
    moment = datetime.now(UTC)
    key = load_network_key(o, world.network)
    older = issue_revocations(key, version=1, issued=moment, expires=moment + timedelta(days=30), revoked=[])
    expired = issue_revocations(
        key, version=6, issued=moment - timedelta(days=31), expires=moment - timedelta(days=1), revoked=[]
    )
    other = create_network(o, "LPR Bayern", by=ADMIN)["id"]
    lpr = json.loads(o.db.execute("SELECT revocations FROM networks WHERE id = ?", (other,)).fetchone()[0])
    revoke_member(o, m1.node_id, network="DEFUS", by=ADMIN)
    await refresh(m2, world.network)  # M2 now holds version 2, so version 1 is a rollback
    path = network_path(world.network, REVOCATIONS)
    before = state(m2)
    refused(await push(o, m2, world.network, forged(genuine)), 400, "signature does not verify")
    changed = genuine | {"revoked": [{"serial": 3, "node_id": m2.node_id, "since": "2026-01-01T00:00:00Z"}]}
    refused(await push(o, m2, world.network, changed), 400, "signature does not verify")
    refused(await push(o, m2, world.network, older), 400, "rolled back from version 2 to 1")
    refused(await push(o, m2, world.network, lpr), 400, f"for network '{other}', not {world.network}")
    refused(await push(o, m2, world.network, expired), 400, "has expired")
    refused(await push(o, m2, world.network, [genuine]), 400, "must be a JSON object")
    refused(await push(o, m2, world.network, {"network": world.network, "version": 9}), 400, "missing field")
    refused(await push(o, m2, other, lpr), 404, "does not belong to network")
    refused(await push(o, m2, world.network, genuine, path=path + "?x=1"), 400, "unknown query parameter")
    for raw in (b"{not json", b'{"version": 1.5}', b'{"a": 1, "a": 2}'):
        assert await push_raw(o, m2, path, raw) == 400
    assert state(m2) == before
    assert held_version(m2) == 2


async def test_a_push_by_anybody_but_the_operator_is_refused(world: World) -> None:
    o, m1, m2, x = world.o, world.m1, world.m2, world.x
    genuine = newest_list(world)
    before = state(m2)
    refused(await push(m1, m2, world.network, genuine), 403, "only the operator")  # a member, trusted by M2
    refused(await push(x, m2, world.network, genuine), 401)  # not even a trusted peer
    refused(await push(m2, o, world.network, genuine), 403, "only the operator")  # to the operator itself
    assert state(m2) == before
    assert held_version(m2) == 1
