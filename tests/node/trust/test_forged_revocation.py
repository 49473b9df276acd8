"""Issue 11, item 1: nobody can make a node revoke or replace a trusted peer's key without a key it holds.

The attack from the review: a descriptor for peer A that lists an attacker's key as current, A's real
key under old_keys and revoked (revocation_version 2^53-1), signed only by the attacker's key and sent
with `PUT /fed/v1/descriptor` under key id `<A>#ed25519:2`. The receiver must refuse it (401), keep
A's keys, revocations and version as they were, write no audit entry, and still take A's deliveries
and A's genuine later revocation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from node import audit
from node.errors import PolicyError
from node.exchange.received import list_inbox
from node.home import Node
from node.sharing.records import add_record
from node.sharing.shares import share_record
from node.transport.client import new_session
from node.trust.keyring import announce_keys, generation, revoke_key, rotate_key
from node.trust.peer_keys import apply_descriptor
from node.trust.peers import get_peer
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from protocol.descriptor import build_descriptor, verify_descriptor
from protocol.httpsig import HttpRequest, sign_request
from protocol.keys import NodeKey
from tests.node.federation import Federation

MAX_VERSION = 2**53 - 1


def nodes(fed: Federation) -> tuple[Node, Node]:
    a, b = fed.nodes.values()
    return a, b


def forged_revocation(a: Node, attacker: NodeKey) -> dict[str, Any]:
    """A's descriptor as the attacker would write it: attacker key current, A's real key revoked."""
    return build_descriptor(
        [attacker],
        node_id=a.node_id,
        name="Stadt Augsburg",
        url=a.config.url,
        valid_until=datetime.now(UTC) + timedelta(days=1),
        old_keys={"ed25519:1": {"key": a.keys[1].public_b64, "expired": "2026-01-01T00:00:00Z"}},
        revoked={"ed25519:1": {"since": "2026-01-01T00:00:00Z"}},
        revocation_version=MAX_VERSION,
    )


def held(b: Node, a: Node) -> tuple[Any, ...]:
    return tuple(
        b.db.execute(
            "SELECT keys, old_keys, revoked, revocation_version, descriptor FROM peers WHERE node_id = ?",
            (a.node_id,),
        ).fetchone()
    )


async def put_as(b: Node, key: NodeKey, node_id: str, descriptor: dict[str, Any]) -> int:
    """PUT /fed/v1/descriptor to b, signed with `key` under `<node_id>#<key id>`; the HTTP status."""
    body = canonical_bytes(descriptor)
    url = b.config.url + "/fed/v1/descriptor"
    request = HttpRequest(method="PUT", url=url, headers={"Content-Type": "application/json"})
    sign_request(request, body, key, node_id)
    async with aiohttp.ClientSession() as session, session.put(url, data=body, headers=request.headers) as answer:
        return answer.status


async def test_a_forged_revocation_signed_only_by_the_attacker_is_refused(fed: Federation) -> None:
    a, b = nodes(fed)
    before, entries = held(b, a), len(audit.list_entries(b))
    attacker = NodeKey.generate(2)
    assert await put_as(b, attacker, a.node_id, forged_revocation(a, attacker)) == 401
    assert held(b, a) == before
    assert len(audit.list_entries(b)) == entries
    # A still delivers, and what it sends verifies.
    record_id = add_record(a, "experience", {"title": "Quartiersbegehung", "summary": "Mit Anwohnern."}, by=ADMIN)
    share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN)
    await fed.deliver(a)
    assert [(e["id"], e["verified"]) for e in list_inbox(b)] == [(record_id, True)]


async def test_a_forged_revocation_does_not_block_the_genuine_one(fed: Federation) -> None:
    a, b = nodes(fed)
    attacker = NodeKey.generate(2)
    await put_as(b, attacker, a.node_id, forged_revocation(a, attacker))
    revoke_key(a, by=ADMIN)
    async with new_session(a) as session:
        await announce_keys(a, session, generation(a))
    kept = get_peer(b, a.node_id)
    assert kept["keys"] == {}  # revoked, and the revoked key cannot vouch for its successor
    assert b.db.execute("SELECT revocation_version FROM peers").fetchone()[0] == 1


async def test_a_request_is_never_verified_with_keys_from_its_own_body(fed: Federation) -> None:
    """A genuine rotation, PUT under the new key it announces, is refused: b does not hold that key yet."""
    a, b = nodes(fed)
    before = held(b, a)
    rotate_key(a, by=ADMIN)
    assert await put_as(b, a.key, a.node_id, a.descriptor()) == 401
    assert held(b, a) == before


def test_following_a_forged_revocation_changes_nothing(fed: Federation) -> None:
    """The same descriptor fetched from A's URL (pull on first contact, or a hijacked name) is refused too."""
    a, b = nodes(fed)
    before = held(b, a)
    attacker = NodeKey.generate(2)
    forged = verify_descriptor(forged_revocation(a, attacker), now=datetime.now(UTC))
    with pytest.raises(PolicyError, match="not signed by any key we hold"):
        apply_descriptor(b, forged)
    assert held(b, a) == before


async def test_a_genuine_rotation_is_still_announced_and_followed(fed: Federation) -> None:
    a, b = nodes(fed)
    rotate_key(a, by=ADMIN)
    async with new_session(a) as session:
        await announce_keys(a, session, generation(a))
    assert set(get_peer(b, a.node_id)["keys"]) == {"ed25519:2"}
    assert a.db.execute("SELECT descriptor_acked FROM peers").fetchone()[0] == generation(a)
