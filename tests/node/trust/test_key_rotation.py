"""Key rotation and revocation between real nodes: peers follow, old records verify, nothing rolls back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from node import audit
from node.errors import PeerError, PolicyError
from node.exchange.inbox import ingest
from node.exchange.received import list_inbox
from node.home import Node
from node.sharing.records import add_record
from node.sharing.shares import share_record
from node.transport.client import new_session, signed_request
from node.trust.keyring import announce_keys, generation, list_keys, revoke_key, rotate_key
from node.trust.peer_keys import apply_descriptor
from node.trust.peers import get_peer, trust_descriptor
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from protocol.descriptor import build_descriptor, verify_descriptor
from protocol.envelope import build_envelope
from protocol.keys import NodeKey
from tests.conftest import SetClock
from tests.node.federation import Federation

RECORD: dict[str, Any] = {"title": "Quartiersbegehung", "summary": "Gemeinsam mit Anwohnern."}


def pair(fed: Federation) -> tuple[Node, Node]:
    a, b = fed.nodes.values()
    return a, b


async def share_one(fed: Federation, a: Node, b: Node, title: str = "Quartiersbegehung") -> str:
    record_id = add_record(a, "experience", {**RECORD, "title": title}, by=ADMIN)
    share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN)
    await fed.deliver(a)
    return record_id


def forged(key: NodeKey, origin: str, seq: int, created: datetime) -> dict[str, Any]:
    return build_envelope(
        key,
        origin=origin,
        kind="experience",
        record_id=f"forged{seq:04d}",
        version=1,
        tlp="TLP:AMBER",
        seq=seq,
        prev=None if seq == 1 else "A" * 43,
        created=created,
        content=RECORD,
    )


async def announce(a: Node) -> None:
    async with new_session(a) as session:
        await announce_keys(a, session, generation(a))


async def test_a_rotation_is_followed_and_old_records_keep_verifying(fed: Federation) -> None:
    a, b = pair(fed)
    await share_one(fed, a, b)
    old_key = a.key
    rotated = rotate_key(a, by=ADMIN)
    assert (rotated["old"], rotated["new"]) == ("ed25519:1", "ed25519:2")
    descriptor = verify_descriptor(a.descriptor(), now=datetime.now(UTC))
    assert set(descriptor["signatures"]) == {"ed25519:1", "ed25519:2"}
    await announce(a)
    assert set(get_peer(b, a.node_id)["keys"]) == {"ed25519:2"}
    await share_one(fed, a, b, "Nach der Rotation")
    assert [(e["content"]["title"], e["verified"]) for e in list_inbox(b)] == [
        ("Nach der Rotation", True),
        ("Quartiersbegehung", True),
    ]
    late = forged(old_key, a.node_id, 9, datetime.now(UTC) + timedelta(seconds=5))
    [result] = ingest(b, a.node_id, [late])["results"]
    assert result["status"] == "refused"
    assert "after it was replaced" in result["reason"]
    assert [k["current"] for k in list_keys(a)] == [False, True]


async def test_requests_signed_with_the_old_key_are_refused_after_a_rotation(fed: Federation) -> None:
    a, b = pair(fed)
    old_key = a.key
    rotate_key(a, by=ADMIN)
    await announce(a)
    a.key = old_key  # an attacker holding only the old key
    async with new_session(a) as session:
        with pytest.raises(PeerError, match="401"):
            await signed_request(a, session, get_peer(a, b.node_id), "GET", "/fed/v1/outbox")


async def test_a_peer_that_missed_the_announcement_follows_on_first_contact(fed: Federation) -> None:
    a, b = pair(fed)
    rotate_key(a, by=ADMIN)  # no announcement: b still knows only ed25519:1
    record_id = add_record(a, "experience", RECORD, by=ADMIN)
    share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN)
    await fed.deliver(a)  # signed with ed25519:2; b fetches a's descriptor and follows the rotation
    assert set(get_peer(b, a.node_id)["keys"]) == {"ed25519:2"}
    assert [e["id"] for e in list_inbox(b)] == [record_id]
    assert "peer.keys" in [e["action"] for e in audit.list_entries(b)]


async def test_revocation_stops_the_key_at_once_and_flags_records_signed_after_the_compromise(
    fed: Federation, clock: SetClock
) -> None:
    a, b = pair(fed)
    await share_one(fed, a, b, "Vor dem Vorfall")
    compromised = a.key
    # Timestamps have second precision: the compromise begins in the second after the record's.
    since = clock.advance(timedelta(seconds=1)).replace(microsecond=0)
    after = forged(compromised, a.node_id, 50, since + timedelta(seconds=1))
    ingest(b, a.node_id, [after])  # arrived before b learnt of the compromise
    revoke_key(a, since=since, by=ADMIN)
    await announce(a)
    held = get_peer(b, a.node_id)
    assert held["keys"] == {}  # the revoked key cannot vouch for its successor
    verdicts = {e["content"]["title"] if e["id"] != "forged0050" else "forged": e["verified"] for e in list_inbox(b)}
    assert verdicts == {"Vor dem Vorfall": True, "forged": False}
    [flagged] = [e for e in list_inbox(b) if not e["verified"]]
    assert "revoked as compromised" in flagged["problem"]
    a.key = compromised
    async with new_session(a) as session:
        with pytest.raises(PeerError, match="401"):
            await signed_request(a, session, get_peer(a, b.node_id), "GET", "/fed/v1/outbox")
    a.reload_keys()
    trust_descriptor(b, a.config.url, a.fingerprint, a.descriptor())  # the officers compared the new fingerprint
    await share_one(fed, a, b, "Nach dem Neustart")
    assert "Nach dem Neustart" in [e["content"]["title"] for e in list_inbox(b) if e["verified"]]


async def test_a_rolled_back_revocation_list_is_refused(fed: Federation) -> None:
    a, b = pair(fed)
    before = a.descriptor()  # revocation version 0, still valid for a week
    revoke_key(a, by=ADMIN)
    trust_descriptor(b, a.config.url, a.fingerprint, a.descriptor())
    held = b.db.execute("SELECT keys, revocation_version FROM peers").fetchone()
    with pytest.raises(PolicyError, match="rolled back"):
        apply_descriptor(b, verify_descriptor(before, now=datetime.now(UTC)))
    assert b.db.execute("SELECT keys, revocation_version FROM peers").fetchone() == held


async def test_a_descriptor_not_signed_by_a_trusted_key_changes_nothing(fed: Federation) -> None:
    a, b = pair(fed)
    intruder = NodeKey.generate(2)
    bogus = build_descriptor(
        [intruder],
        node_id=a.node_id,
        name="Stadt Augsburg",
        url=a.config.url,
        valid_until=datetime.now(UTC) + timedelta(days=1),
        old_keys={"ed25519:1": {"key": a.keys[1].public_b64, "expired": "2026-01-01T00:00:00Z"}},
    )
    held = b.db.execute("SELECT keys, old_keys FROM peers").fetchone()
    with pytest.raises(PolicyError, match="not signed by any key we hold"):
        apply_descriptor(b, verify_descriptor(bogus, now=datetime.now(UTC)))
    assert b.db.execute("SELECT keys, old_keys FROM peers").fetchone() == held


async def put_descriptor(fed: Federation, a: Node, b: Node, payload: Any, raw: bytes | None = None) -> int:
    async with new_session(a) as session:
        try:
            await signed_request(a, session, get_peer(a, b.node_id), "PUT", "/fed/v1/descriptor", payload)
        except PeerError as exc:
            return int(str(exc).split("HTTP ")[1][:3])
    return 200


@pytest.mark.parametrize(
    ("payload", "status"),
    [({"not": "a descriptor"}, 400), ([1, 2], 400), ("x" * (1024 * 1024 + 10), 413)],
)
async def test_the_descriptor_endpoint_refuses_bad_input(fed: Federation, payload: Any, status: int) -> None:
    a, b = pair(fed)
    held = b.db.execute("SELECT keys, descriptor FROM peers").fetchone()
    assert await put_descriptor(fed, a, b, payload) == status
    assert b.db.execute("SELECT keys, descriptor FROM peers").fetchone() == held


async def test_the_descriptor_endpoint_refuses_a_stranger(fed: Federation, tmp_path: Path) -> None:
    a, b = pair(fed)
    stranger = await fed.add("chemnitz")
    trust_descriptor(stranger, b.config.url, b.fingerprint, b.descriptor())
    assert await put_descriptor(fed, stranger, b, stranger.descriptor()) == 401
    assert b.db.execute("SELECT count(*) FROM peers").fetchone()[0] == 1
    assert canonical_bytes(a.descriptor())  # a's own descriptor still builds after the refusal
