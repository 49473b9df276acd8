"""Trusted peers: pairing by fingerprint, refusing bogus descriptors, removal, and pairing over HTTP."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from node.errors import NodeError, NotFound, PeerError
from node.exchange.server import create_app
from node.home import Node
from node.sharing.records import add_record
from node.sharing.shares import share_record
from node.trust.pairing import add_peer
from node.trust.peers import check_fingerprint_text, get_peer, list_peers, remove_peer, trust_descriptor
from node.users import ADMIN
from protocol.descriptor import build_descriptor, verify_descriptor
from protocol.keys import NodeKey, fingerprint
from tests.conftest import RECORD, FakePeer
from tests.node.conftest import NodeFactory, ServeOn, count, serve
from tests.ports import hold_port, unreachable_url


@pytest.fixture
def node(make_node: NodeFactory) -> Node:
    return make_node("Stadt A")


def peers_row(node: Node, peer_id: str) -> dict[str, Any]:
    found = node.db.execute("SELECT keys, fingerprint, url, descriptor FROM peers WHERE node_id = ?", (peer_id,))
    row = found.fetchone()
    return {"keys": json.loads(row[0]), "fingerprint": row[1], "url": row[2], "descriptor": row[3]}


def test_trust_descriptor_stores_the_peer(node: Node) -> None:
    peer = FakePeer("Stadt B", "http://127.0.0.1:9/")
    stored = trust_descriptor(node, peer.url, peer.fingerprint, peer.descriptor())
    assert stored["node_id"] == peer.node_id
    assert stored["url"] == "http://127.0.0.1:9"
    assert stored["fingerprint"] == peer.fingerprint
    assert stored["keys"] == {"ed25519:1": peer.key.public_b64}
    assert [p["node_id"] for p in list_peers(node)] == [peer.node_id]


def test_fingerprint_mismatch(node: Node) -> None:
    peer = FakePeer("Stadt B", "http://127.0.0.1:9")
    other = fingerprint(NodeKey.generate().public)
    with pytest.raises(NodeError, match="fingerprint mismatch") as caught:
        trust_descriptor(node, peer.url, other, peer.descriptor())
    assert other in str(caught.value)
    assert peer.fingerprint in str(caught.value)
    assert count(node, "peers") == 0


def test_url_mismatch(node: Node) -> None:
    peer = FakePeer("Stadt B", "http://127.0.0.1:9")
    with pytest.raises(NodeError, match=re.escape("says its URL is http://127.0.0.1:9")):
        trust_descriptor(node, "http://127.0.0.1:99", peer.fingerprint, peer.descriptor())
    assert count(node, "peers") == 0


def test_own_node_refused(node: Node) -> None:
    with pytest.raises(NodeError, match="this node itself"):
        trust_descriptor(node, node.config.url, node.fingerprint, node.descriptor())
    assert count(node, "peers") == 0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "SHA256:",
        "SHA256:tooshort",
        "MD5:" + "A" * 43,
        "SHA256:" + "A" * 42,
        "SHA256:" + "A" * 44,
        "SHA256:" + "-" * 43,  # base64url alphabet, not standard base64
        "sha256:" + "A" * 43,
    ],
)
def test_malformed_fingerprint_text(node: Node, text: str) -> None:
    peer = FakePeer("Stadt B", "http://127.0.0.1:9")
    with pytest.raises(NodeError, match="is not a fingerprint"):
        check_fingerprint_text(text)
    with pytest.raises(NodeError, match="is not a fingerprint"):
        trust_descriptor(node, peer.url, text, peer.descriptor())
    assert count(node, "peers") == 0


def test_fingerprint_with_surrounding_space_is_accepted(node: Node) -> None:
    peer = FakePeer("Stadt B", "http://127.0.0.1:9")
    assert trust_descriptor(node, peer.url, f"  {peer.fingerprint}\n", peer.descriptor())["node_id"] == peer.node_id


def test_a_bogus_descriptor_never_replaces_trusted_keys(node: Node) -> None:
    """Same URL, another key, and the fingerprint the officer knows: refused, keys unchanged (Synapse #5305)."""
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    before = peers_row(node, peer.node_id)
    impostor = FakePeer("Stadt B", peer.url)
    with pytest.raises(NodeError, match="fingerprint mismatch"):
        trust_descriptor(node, peer.url, peer.fingerprint, impostor.descriptor())
    assert peers_row(node, peer.node_id) == before
    assert count(node, "peers") == 1


def test_a_descriptor_claiming_the_peers_id_with_a_new_key_is_refused(node: Node) -> None:
    """The attacker lists B's real key as an expired old key so the node id still derives; refused all the same."""
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    before = peers_row(node, peer.node_id)
    attacker = NodeKey.generate(version=2)
    expired = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    bogus = build_descriptor(
        [attacker],
        node_id=peer.node_id,
        name="Stadt B",
        url=peer.url,
        valid_until=datetime.now(UTC) + timedelta(days=7),
        old_keys={"ed25519:1": {"key": peer.key.public_b64, "expired": expired}},
    )
    verify_descriptor(bogus, now=datetime.now(UTC))  # self-consistent, so only the fingerprint check stops it
    with pytest.raises(NodeError, match="fingerprint mismatch"):
        trust_descriptor(node, peer.url, peer.fingerprint, bogus)
    assert peers_row(node, peer.node_id) == before


def test_re_adding_a_peer_with_its_own_descriptor_keeps_its_history(node: Node) -> None:
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    added = get_peer(node, peer.node_id)["added"]
    peer.name = "Stadt B (neu)"
    again = trust_descriptor(node, peer.url, peer.fingerprint, peer.descriptor())
    assert again["name"] == "Stadt B (neu)"
    assert again["added"] == added
    assert again["keys"] == {"ed25519:1": peer.key.public_b64}
    assert count(node, "peers") == 1


def test_remove_peer_drops_pending_deliveries(node: Node) -> None:
    peer_b = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    peer_c = FakePeer("Stadt C", "http://127.0.0.1:10").trusted_by(node)
    first = add_record(node, "experience", RECORD, by=ADMIN)
    second = add_record(node, "experience", {**RECORD, "title": "Zweiter Bericht"}, by=ADMIN)
    share_record(node, first, [peer_b.node_id, peer_c.node_id], all_peers=False, by=ADMIN)
    share_record(node, second, [peer_b.node_id], all_peers=False, by=ADMIN)
    node.db.execute("UPDATE deliveries SET state = 'delivered' WHERE peer_id = ? AND seq = 1", (peer_b.node_id,))
    remove_peer(node, peer_b.node_id)
    left = node.db.execute("SELECT peer_id, seq, state FROM deliveries").fetchall()
    assert {tuple(row) for row in left} == {(peer_b.node_id, 1, "delivered"), (peer_c.node_id, 1, "pending")}
    assert [p["node_id"] for p in list_peers(node)] == [peer_c.node_id]
    with pytest.raises(NotFound):
        get_peer(node, peer_b.node_id)


def test_remove_unknown_peer(node: Node) -> None:
    stranger = FakePeer("Stadt X", "http://127.0.0.1:8")
    with pytest.raises(NotFound, match="is not a trusted peer"):
        remove_peer(node, stranger.node_id)


@pytest.mark.parametrize("text", ["", "Stadt B", "pn" + "A" * 32, "pn" + "a" * 33])
def test_remove_malformed_peer_id(node: Node, text: str) -> None:
    FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    with pytest.raises(NodeError, match="malformed node id"):
        remove_peer(node, text)
    assert count(node, "peers") == 1


# --- pairing over HTTP --------------------------------------------------------------------------


async def test_pairing_with_a_running_node(
    node: Node, make_node: NodeFactory, serve_on: ServeOn, aiohttp_client: AiohttpClient
) -> None:
    other = await serve("Stadt B", make_node, serve_on, aiohttp_client)
    peer = await add_peer(node, other.node.config.url, other.node.fingerprint)
    assert peer["node_id"] == other.node.node_id
    assert peer["name"] == "Stadt B"
    assert peer["url"] == other.node.config.url
    assert peer["keys"] == {"ed25519:1": other.node.key.public_b64}
    assert [p["node_id"] for p in list_peers(node)] == [other.node.node_id]


async def test_pairing_with_a_wrong_fingerprint(
    node: Node, make_node: NodeFactory, serve_on: ServeOn, aiohttp_client: AiohttpClient
) -> None:
    other = await serve("Stadt B", make_node, serve_on, aiohttp_client)
    with pytest.raises(NodeError, match="fingerprint mismatch"):
        await add_peer(node, other.node.config.url, fingerprint(NodeKey.generate().public))
    assert count(node, "peers") == 0


async def test_pairing_with_a_node_that_names_another_url(
    node: Node, make_node: NodeFactory, serve_on: ServeOn
) -> None:
    """The descriptor must name the URL the officer typed, or requests would be signed for the wrong place."""
    port = hold_port()
    other = make_node("Stadt B", url="https://praevnet.stadt-b.example")
    await serve_on(create_app(other, background=False), port)
    with pytest.raises(NodeError, match=re.escape("says its URL is https://praevnet.stadt-b.example")):
        await add_peer(node, port.url, other.fingerprint)
    assert count(node, "peers") == 0


async def test_pairing_with_something_that_is_no_node(
    node: Node, make_node: NodeFactory, serve_on: ServeOn, aiohttp_client: AiohttpClient
) -> None:
    other = await serve("Stadt B", make_node, serve_on, aiohttp_client)
    with pytest.raises(PeerError, match="answered HTTP 404"):
        await add_peer(node, f"{other.node.config.url}/sub", other.node.fingerprint)
    assert count(node, "peers") == 0


async def test_pairing_with_an_unreachable_url(node: Node) -> None:
    url = unreachable_url()
    with pytest.raises(PeerError, match=f"cannot reach {url}/.well-known/praevnet"):
        await add_peer(node, url, fingerprint(NodeKey.generate().public))
    assert count(node, "peers") == 0


@pytest.mark.parametrize("url", ["ftp://127.0.0.1", "not a url", "http://127.0.0.1:9?x=1"])
async def test_pairing_with_a_bad_url(node: Node, url: str) -> None:
    with pytest.raises(PeerError):
        await add_peer(node, url, fingerprint(NodeKey.generate().public))
    assert count(node, "peers") == 0


async def test_pairing_with_a_malformed_fingerprint_does_not_connect(node: Node) -> None:
    with pytest.raises(NodeError, match="is not a fingerprint"):
        await add_peer(node, "http://127.0.0.1:9", "SHA256:nope")
    assert count(node, "peers") == 0
