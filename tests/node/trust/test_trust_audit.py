"""Issue 11, item 6: every change of whom the node trusts is an audit entry with the fingerprint.

Pairing by URL or descriptor file, removing a peer, following a peer's key change, and trusting a
network member (at the operator and at a member) each leave an entry naming the peer and the
fingerprint it was trusted with, attributed to whoever made the change.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from node import audit
from node.home import Node
from node.networks.operator import create_network
from node.networks.sync import join_network
from node.transport.client import new_session
from node.trust.keyring import announce_keys, generation, rotate_key
from node.trust.pairing import add_peer, add_peer_from_file
from node.trust.peers import remove_peer
from node.users import ADMIN, add_user, login_password
from tests.node.federation import Federation
from tests.node.networks.test_registry import admit


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path)
    await federation.add("augsburg")
    await federation.add("bonn")
    yield federation
    await federation.close()


def nodes(fed: Federation) -> tuple[Node, Node]:
    a, b = list(fed.nodes.values())[:2]
    return a, b


def entries(node: Node, action: str) -> list[dict[str, Any]]:
    return [e for e in audit.list_entries(node) if e["action"] == action]


async def test_pairing_by_url_is_audited_with_the_fingerprint_and_who_paired(fed: Federation) -> None:
    a, b = nodes(fed)
    add_user(a, "anna", "officer", password="correct horse battery", by=ADMIN)
    anna = login_password(a, "anna", "correct horse battery")
    await add_peer(a, b.config.url, b.fingerprint, by=anna)
    [entry] = entries(a, "peer.add")
    assert entry["user"] == "anna"
    assert entry["recipients"] == [b.node_id]
    assert b.fingerprint in entry["detail"]
    assert b.config.url in entry["detail"]


async def test_pairing_from_a_descriptor_file_is_audited(fed: Federation, tmp_path: Path) -> None:
    a, b = nodes(fed)
    path = tmp_path / "bonn.json"
    path.write_text(json.dumps(b.descriptor()), encoding="utf-8")
    add_peer_from_file(a, path, b.fingerprint, pull_only=True, by=ADMIN)
    [entry] = entries(a, "peer.add")
    assert b.fingerprint in entry["detail"]
    assert "pull-only" in entry["detail"]


async def test_pairing_again_is_audited_as_an_update(fed: Federation) -> None:
    a, b = nodes(fed)
    await add_peer(a, b.config.url, b.fingerprint, by=ADMIN)
    await add_peer(a, b.config.url, b.fingerprint, pull_only=True, by=ADMIN)
    assert len(entries(a, "peer.add")) == 1
    [entry] = entries(a, "peer.update")
    assert b.fingerprint in entry["detail"]


async def test_removing_a_peer_is_audited(fed: Federation) -> None:
    a, b = nodes(fed)
    await add_peer(a, b.config.url, b.fingerprint, by=ADMIN)
    remove_peer(a, b.node_id, by=ADMIN)
    [entry] = entries(a, "peer.remove")
    assert entry["recipients"] == [b.node_id]
    assert b.fingerprint in entry["detail"]


async def test_a_refused_pairing_writes_no_entry(fed: Federation) -> None:
    a, b = nodes(fed)
    before = audit.list_entries(a)
    with pytest.raises(Exception, match="fingerprint mismatch"):
        await add_peer(a, b.config.url, a.fingerprint, by=ADMIN)
    assert audit.list_entries(a) == before


async def test_a_followed_key_change_is_audited(fed: Federation) -> None:
    a, b = nodes(fed)
    fed.pair(a, b)
    rotate_key(a, by=ADMIN)
    async with new_session(a) as session:
        await announce_keys(a, session, generation(a))
    [entry] = entries(b, "peer.keys")
    assert entry["recipients"] == [a.node_id]
    assert "rotated to ed25519:2" in entry["detail"]


async def test_network_members_are_audited_where_they_become_trusted(fed: Federation) -> None:
    a, b = nodes(fed)
    network = create_network(a, "DEFUS", by=ADMIN)["id"]
    await join_network(b, await admit(a, b), by=ADMIN)
    [at_operator] = entries(a, "peer.add")
    assert b.fingerprint in at_operator["detail"]
    assert network in at_operator["detail"]
    [at_member] = entries(b, "peer.add")
    assert at_member["recipients"] == [a.node_id]
    assert a.fingerprint in at_member["detail"]
