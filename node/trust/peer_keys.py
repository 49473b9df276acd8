"""What we know of each peer's keys over time: following rotations, applying revocations, and which
old key may still verify which record.

A peer's new descriptor changes nothing unless a key we already hold for that peer signed it; new
current keys are adopted only when a current key we trust signed them (a rotation signed by the old
and the new key), and never if its revocation version is lower than what we hold (no rollback). A
revocation takes effect at once: the key stops verifying requests, and records it signed at or
after the stated compromise time are flagged. A new key announced only
by a revoked key is not adopted; the officers pair again after checking the new fingerprint.
An old key verifies records created before it expired, never requests.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from node import audit
from node.errors import NotFound, PolicyError
from node.home import Node
from node.store import dumps, now_text, write
from node.users import NODE
from protocol.descriptor import follows_from
from protocol.keys import public_key_from_b64
from protocol.timestamps import parse_timestamp


@dataclass
class PeerKeys:
    """A peer's keys as we hold them: current (base64url), old {key, expired}, revoked {since}, version."""

    keys: dict[str, str]
    old_keys: dict[str, dict[str, str]]
    revoked: dict[str, dict[str, str]]
    version: int


def stored_keys(conn: sqlite3.Connection, peer_id: str) -> PeerKeys:
    """What we hold for a trusted peer; NotFound if it is not one."""
    found = conn.execute(
        "SELECT keys, old_keys, revoked, revocation_version FROM peers WHERE node_id = ?", (peer_id,)
    ).fetchone()
    if found is None:
        raise NotFound(f"{peer_id} is not a trusted peer")
    return PeerKeys(json.loads(found[0]), json.loads(found[1]), json.loads(found[2]), int(found[3]))


def _every_held_key(held: PeerKeys) -> dict[str, bytes]:
    """Every key we hold for a peer, current or old (revoked ones included): who may speak for it."""
    every = {kid: public_key_from_b64(entry["key"]) for kid, entry in held.old_keys.items()}
    every.update((kid, public_key_from_b64(b64)) for kid, b64 in held.keys.items())
    return every


def assess(held: PeerKeys, descriptor: dict[str, Any]) -> tuple[PeerKeys, str]:
    """The state to keep after seeing a verified descriptor of that peer, and what changed; or refuse.

    Nothing changes unless a key we already hold for the peer (current or old, the one being revoked
    included) signed the descriptor: its self-signatures by keys it introduces prove nothing to us.
    A new current key is adopted only when a current, unrevoked key we hold signed it.
    """
    version = int(descriptor.get("revocation_version", 0))
    if version < held.version:
        raise PolicyError(f"revocation list rolled back from version {held.version} to {version}; refused")
    if not follows_from(descriptor, _every_held_key(held)):
        raise PolicyError("the descriptor is not signed by any key we hold for this peer (current or old); refused")
    revoked = {**descriptor.get("revoked", {}), **held.revoked}
    trusted = {kid: public_key_from_b64(b64) for kid, b64 in held.keys.items() if kid not in revoked}
    old = {**held.old_keys, **descriptor["old_keys"]}
    announced: dict[str, str] = dict(descriptor["keys"])
    if announced == held.keys and not (set(announced) & set(revoked)):
        keys, change = announced, "unchanged" if version == held.version else "revocations updated"
    elif trusted and follows_from(descriptor, trusted):
        keys, change = announced, "rotated to " + ", ".join(sorted(announced))
    elif set(held.keys) & set(revoked):
        keys = {kid: b64 for kid, b64 in held.keys.items() if kid not in revoked}
        change = "key revoked; pair again after checking the new fingerprint"
    else:
        raise PolicyError("the descriptor is not signed by any key we trust for this peer; refused")
    for kid, b64 in held.keys.items():
        if kid not in keys and kid not in old:
            old[kid] = {"key": b64, "expired": now_text()}
    return PeerKeys(keys, old, revoked, max(version, held.version)), change


def store_keys(conn: sqlite3.Connection, peer_id: str, state: PeerKeys, descriptor: dict[str, Any]) -> None:
    """Write a peer's key state (inside a write transaction)."""
    conn.execute(
        """UPDATE peers SET keys = ?, old_keys = ?, revoked = ?, revocation_version = ?, descriptor = ?, name = ?
           WHERE node_id = ?""",
        (
            dumps(state.keys),
            dumps(state.old_keys),
            dumps(state.revoked),
            state.version,
            dumps(descriptor),
            descriptor["name"],
            peer_id,
        ),
    )


def apply_descriptor(node: Node, descriptor: dict[str, Any]) -> str:
    """Follow a trusted peer's verified descriptor (rotation, revocation); return what changed."""
    peer_id = descriptor["node_id"]
    with write(node.db) as conn:
        state, change = assess(stored_keys(conn, peer_id), descriptor)
        store_keys(conn, peer_id, state, descriptor)
        if change != "unchanged":
            audit.append(conn, user=NODE.name, action="peer.keys", recipients=[peer_id], detail=change)
    return change


@dataclass
class KeyBook:
    """A snapshot of every trusted peer's keys, for verifying many envelopes with one query."""

    states: dict[str, tuple[dict[str, str], dict[str, dict[str, str]], dict[str, dict[str, str]]]]
    table: dict[str, dict[str, bytes]]

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> KeyBook:
        """Read current, old and revoked keys of all trusted peers."""
        states = {}
        table: dict[str, dict[str, bytes]] = {}
        for node_id, keys, old_keys, revoked in conn.execute("SELECT node_id, keys, old_keys, revoked FROM peers"):
            current, old = json.loads(keys), json.loads(old_keys)
            states[node_id] = (current, old, json.loads(revoked))
            usable = {kid: public_key_from_b64(entry["key"]) for kid, entry in old.items()}
            usable.update((kid, public_key_from_b64(b64)) for kid, b64 in current.items())
            table[node_id] = usable
        return cls(states, table)

    def resolve(self, node_id: str, key_id: str) -> bytes | None:
        """The key that may verify records of `node_id` under `key_id`: current or old (see `problem`)."""
        return self.table.get(node_id, {}).get(key_id)

    def problem(self, origin: str, key_id: str, created: datetime, received: datetime) -> str | None:
        """Why a record verified with this key must not be trusted (old key used too late, revoked key), or None."""
        state = self.states.get(origin)
        if state is None:
            return None
        current, old, revoked = state
        if key_id in revoked:
            since = parse_timestamp(revoked[key_id]["since"])
            if created >= since or received >= since:
                return f"signed with {key_id}, revoked as compromised since {revoked[key_id]['since']}"
        if key_id not in current and key_id in old and created > parse_timestamp(old[key_id]["expired"]):
            return f"signed with {key_id} after it was replaced ({old[key_id]['expired']})"
        return None
