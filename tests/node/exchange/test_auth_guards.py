"""Issue 11: the guards of request authentication (node.transport.auth) and of the gate (node.exchange.gate).

A nonce is remembered per signing key of a node (`<node id>#<key id>`), for the signature's
lifetime and no longer; a descriptor fetched to follow a peer's key change counts only if it is
that peer's.
"""

from __future__ import annotations

import time

import pytest

from node.exchange.gate import refresh_peer_keys
from node.home import Node
from node.transport.auth import NONCE_SLACK, remember_nonce
from node.trust.keyring import rotate_key
from node.trust.peers import get_peer
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from protocol.httpsig import MAX_AGE, new_nonce
from tests.conftest import FakePeer
from tests.node.conftest import NodeFactory, Served, count
from tests.node.federation import Federation

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
