"""Issue 11: the guards of request authentication (node.transport.auth) and of the gate (node.exchange.gate).

A nonce is remembered per signing key of a node (`<node id>#<key id>`), for the signature's
lifetime and no longer; a descriptor fetched to follow a peer's key change counts only if it is
that peer's.
"""

from __future__ import annotations

import io
import time

import aiohttp
import pytest

from node.exchange.gate import refresh_peer_keys
from node.home import Node
from node.transport.auth import NONCE_SLACK, remember_nonce
from node.transport.client import new_session, signed_request_bytes
from node.trust.keyring import rotate_key
from node.trust.peers import get_peer
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from protocol.httpsig import MAX_AGE, HttpRequest, new_nonce, sign_request, verify_response
from protocol.keys import NodeKey
from tests.conftest import FakePeer
from tests.node.conftest import NodeFactory, Served, count, stored
from tests.node.federation import Federation
from tests.ports import unreachable_url

LIFETIME = MAX_AGE.total_seconds() + NONCE_SLACK


async def test_issue11_two_peers_may_use_the_same_nonce(served: Served, peer_b: FakePeer) -> None:
    peer_c = FakePeer("Stadt C", "http://127.0.0.1:10").trusted_by(served.node)
    assert peer_b.key.key_id == peer_c.key.key_id  # both sign with their first key, ed25519:1
    nonce = new_nonce()
    for peer in (peer_b, peer_c):
        body = canonical_bytes({"envelopes": [peer.envelope()]})
        response, _ = await served.put_inbox(peer, "t1", body, nonce=nonce)
        assert response.status == 200, await response.text()
    assert count(served.node, "inbox") == 2
    body = canonical_bytes({"envelopes": [peer_c.envelope()]})
    again, _ = await served.put_inbox(peer_c, "t2", body, nonce=nonce)
    assert again.status == 401  # the same key's nonce again is still a replay
    assert count(served.node, "inbox") == 2


class Clock:
    """The wall clock (time.time, which auth.remember_nonce reads), set by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: float) -> None:
        self.now = start
        monkeypatch.setattr(time, "time", lambda: self.now)


@pytest.fixture
def node(make_node: NodeFactory) -> Node:
    return make_node("Stadt A")


def test_a_nonce_is_remembered_for_the_signatures_lifetime_and_slack(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = time.time()
    clock = Clock(monkeypatch, start)
    assert remember_nonce(node, "pb#ed25519:1", "n" * 20, int(start)) is True
    assert remember_nonce(node, "pc#ed25519:1", "n" * 20, int(start)) is True  # another signer's nonce
    clock.now = start + LIFETIME - 1
    assert remember_nonce(node, "pb#ed25519:1", "n" * 20, int(start)) is False
    clock.now = start + LIFETIME + 1  # the signature has expired, so a replay would be refused anyway
    assert remember_nonce(node, "pb#ed25519:1", "n" * 20, int(start)) is True
    assert count(node, "nonces") == 1  # expired pairs are forgotten


def test_a_nonce_signed_ahead_of_our_clock_is_remembered_from_its_creation(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = time.time()
    clock = Clock(monkeypatch, start)
    ahead = int(start) + 100  # the signer's clock runs ahead, within what verify_request allows
    assert remember_nonce(node, "pb#ed25519:1", "m" * 20, ahead) is True
    clock.now = start + LIFETIME + 50
    assert remember_nonce(node, "pb#ed25519:1", "m" * 20, ahead) is False


@pytest.fixture
async def three(federation: Federation) -> Federation:
    """Augsburg, Bonn and Chemnitz, each pair trusting each other."""
    a, b, c = [await federation.add(name) for name in ("augsburg", "bonn", "chemnitz")]
    for x, y in ((a, b), (a, c), (b, c)):
        federation.pair(x, y)
    return federation


async def test_issue11_a_descriptor_fetched_for_a_peer_counts_only_if_it_is_that_peers(three: Federation) -> None:
    a, b, c = three.nodes.values()
    rotate_key(c, by=ADMIN)  # Chemnitz's descriptor now announces its new key, signed by its old one
    b.db.execute("UPDATE peers SET url = ? WHERE node_id = ?", (c.config.url, a.node_id))  # Augsburg's URL answers as C
    before = {peer: get_peer(b, peer)["keys"] for peer in (a.node_id, c.node_id)}
    assert await refresh_peer_keys(b, a.node_id) is False
    assert {peer: get_peer(b, peer)["keys"] for peer in (a.node_id, c.node_id)} == before
    assert three.requests.count((c.node_id, "/.well-known/praevnet")) == 1
    b.db.execute("UPDATE peers SET url = ? WHERE node_id = ?", (a.config.url, a.node_id))
    assert await refresh_peer_keys(b, c.node_id) is True  # C's own descriptor is followed
    assert set(get_peer(b, c.node_id)["keys"]) == {"ed25519:2"}
    assert await refresh_peer_keys(b, c.node_id) is False  # followed already: nothing changes


ONE_MIB = 1024 * 1024  # SPEC: a request body is at most 1 MiB


@pytest.mark.parametrize(("size", "status"), [(ONE_MIB, 400), (ONE_MIB + 1, 413)])
async def test_a_body_is_refused_for_its_size_only_above_one_mib(
    served: Served, peer_b: FakePeer, size: int, status: int
) -> None:
    body = b" " * size
    headers = peer_b.signed_headers("PUT", served.url("/fed/v1/inbox/t1"), body)
    response = await served.client.put("/fed/v1/inbox/t1", data=io.BytesIO(body), headers=headers)
    assert response.status == status, await response.text()
    assert stored(served.node) == (0, 0)


async def test_the_answer_to_a_signed_request_is_signed_and_to_an_unsigned_one_not(
    served: Served, peer_b: FakePeer
) -> None:
    node = served.node
    path = "/fed/v1/outbox?since=0"
    response, sent = await served.signed(peer_b, "GET", path)
    raw = await response.read()

    def resolve(node_id: str, key_id: str) -> bytes | None:
        return node.key.public if (node_id, key_id) == (node.node_id, node.key.key_id) else None

    request = HttpRequest(method="GET", url=served.url(path), headers=sent)
    assert verify_response(response.status, list(response.headers.items()), raw, request, resolve).node_id == (
        node.node_id
    )
    unsigned = await served.client.get(path)
    assert unsigned.status == 401
    assert "Signature" not in unsigned.headers


async def test_a_peer_that_cannot_be_reached_gives_no_key_change(node: Node) -> None:
    peer = FakePeer("Stadt B", unreachable_url()).trusted_by(node)
    assert await refresh_peer_keys(node, peer.node_id) is False
    assert set(get_peer(node, peer.node_id)["keys"]) == {"ed25519:1"}


async def test_a_request_failing_under_a_key_we_hold_fetches_no_descriptor(three: Federation) -> None:
    a, b, _ = three.nodes.values()
    url = b.config.url + "/fed/v1/outbox?since=0"
    request = HttpRequest(method="GET", url=url, headers={})
    sign_request(request, b"", NodeKey.generate(1), a.node_id)  # a stranger's key under a's own key id
    async with aiohttp.ClientSession() as session, session.get(url, headers=request.headers) as answer:
        assert answer.status == 401
    assert three.requests.count((a.node_id, "/.well-known/praevnet")) == 0


async def test_the_first_request_signed_with_a_rotated_key_is_accepted(three: Federation) -> None:
    a, b, _ = three.nodes.values()
    rotate_key(a, by=ADMIN)  # not announced: b learns of it from this request
    async with new_session(a) as session:
        await signed_request_bytes(a, session, get_peer(a, b.node_id), "GET", "/fed/v1/outbox?since=0")
    assert set(get_peer(b, a.node_id)["keys"]) == {"ed25519:2"}
