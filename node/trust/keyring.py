"""This node's keys over time: rotation to a new key and revocation after a compromise.

The node id stays derived from the first key. A rotation makes a new current key; the descriptor
then lists the old one with the time it expired and is signed by both, so peers can follow.
A revocation marks the current key compromised from a given time and rotates away from it. Every
change raises the key *generation*; the worker pushes the new descriptor to every peer that has
not acknowledged it yet (node.trust.peer_keys handles the receiving side).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import aiohttp

from node import audit
from node.errors import NodeError, PeerError
from node.home import Node, key_path, write_key
from node.store import now, now_text, rows, write
from node.transport.client import HttpFailure, signed_request
from node.trust.peers import get_peer
from node.users import Actor
from protocol.keys import NodeKey, fingerprint, public_key_from_b64
from protocol.timestamps import format_timestamp

log = logging.getLogger("praevnet.keys")


def generation(node: Node) -> int:
    """A number that grows with every rotation and revocation of this node's keys."""
    found = node.db.execute("SELECT count(*), count(revoked_since) FROM own_keys").fetchone()
    return int(found[0]) + int(found[1])


def list_keys(node: Node) -> list[dict[str, Any]]:
    """Every key version: id, fingerprint, created, expired, revoked since, and which one is current."""
    return [
        {
            "key_id": f"ed25519:{row['version']}",
            "fingerprint": fingerprint(public_key_from_b64(row["public"])),
            "created": row["created"],
            "expired": row["expired"],
            "revoked_since": row["revoked_since"],
            "current": row["version"] == node.key.version,
        }
        for row in rows(node.db, "SELECT * FROM own_keys ORDER BY version")
    ]


def _rotate(node: Node, conn: Any, stamp: str) -> NodeKey:
    version = max(node.keys) + 1
    new = NodeKey.generate(version)
    write_key(key_path(node.home, version), new)
    conn.execute("UPDATE own_keys SET expired = ? WHERE version = ? AND expired IS NULL", (stamp, node.key.version))
    conn.execute("INSERT INTO own_keys (version, public, created) VALUES (?, ?, ?)", (version, new.public_b64, stamp))
    return new


def rotate_key(node: Node, *, by: Actor) -> dict[str, Any]:
    """Make a new current key. Records signed earlier keep verifying; requests need the new key."""
    by.require("manage_users")
    stamp = now_text()
    with write(node.db) as conn:
        new = _rotate(node, conn, stamp)
        audit.append(conn, user=by.name, action="key.rotate", detail=f"{node.key.key_id} -> {new.key_id}")
    old = node.key
    node.keys[new.version] = new
    node.key = new
    return {"old": old.key_id, "new": new.key_id, "fingerprint": fingerprint(new.public)}


def revoke_key(node: Node, *, since: datetime | None = None, by: Actor) -> dict[str, Any]:
    """Revoke the current key as compromised from `since` (default now) and rotate to a new one.

    Peers stop accepting the revoked key at once when they receive the new descriptor, and flag
    records signed with it at or after `since`. Ask the other officers to verify the new
    fingerprint: peers do not adopt a new key on the word of a compromised one.
    """
    by.require("manage_users")
    moment = since or now()
    if moment > now():
        raise NodeError("--since cannot lie in the future")
    stamp = now_text()
    with write(node.db) as conn:
        revoked = node.key
        conn.execute(
            "UPDATE own_keys SET revoked_since = ? WHERE version = ?", (format_timestamp(moment), revoked.version)
        )
        new = _rotate(node, conn, stamp)
        audit.append(
            conn,
            user=by.name,
            action="key.revoke",
            detail=f"{revoked.key_id} compromised since {format_timestamp(moment)}; new key {new.key_id}",
        )
    node.keys[new.version] = new
    node.key = new
    return {
        "revoked": revoked.key_id,
        "since": format_timestamp(moment),
        "new": new.key_id,
        "fingerprint": fingerprint(new.public),
    }


async def _announce(node: Node, session: aiohttp.ClientSession, peer: dict[str, Any]) -> None:
    """PUT our descriptor to a peer, signed with a key it holds for us.

    A peer verifies the announcement only with keys it already holds, so a peer that has not followed
    our latest change yet refuses the current key (401); the key that change replaced signs it then.
    """
    descriptor = node.descriptor()
    try:
        await signed_request(node, session, peer, "PUT", "/fed/v1/descriptor", descriptor)
    except HttpFailure as exc:
        previous = [node.keys[v] for v in sorted(node.keys) if v < node.key.version][-1:]
        if exc.status != 401 or not previous:
            raise
        await signed_request(node, session, peer, "PUT", "/fed/v1/descriptor", descriptor, key=previous[0])


async def announce_keys(node: Node, session: aiohttp.ClientSession, current: int) -> None:
    """Push our descriptor to every peer that has not acknowledged key generation `current` yet."""
    behind = rows(node.db, "SELECT node_id FROM peers WHERE descriptor_acked < ? AND pull_only = 0", (current,))
    for row in behind:
        peer = get_peer(node, row["node_id"])
        try:
            await _announce(node, session, peer)
        except PeerError as exc:
            log.info("could not announce our keys to %s yet: %s", peer["node_id"], exc)
            continue
        with write(node.db) as conn:
            conn.execute("UPDATE peers SET descriptor_acked = ? WHERE node_id = ?", (current, peer["node_id"]))
