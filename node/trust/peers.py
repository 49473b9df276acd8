"""Trusted peers: pairing by fingerprint, listing, removal, and the keys we trust for each peer.

A peer is added only after its self-signed descriptor has been fetched and verified and its key's
fingerprint equals the one the officer got from the other city through a separate channel. An
existing peer's keys are never replaced by a descriptor that fails these checks.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from contextlib import nullcontext
from typing import Any

from node import audit
from node.errors import NodeError, NotFound
from node.home import Node
from node.logs import PeerName
from node.store import dumps, now_text, rows, write
from node.users import ADMIN, NODE, Actor
from protocol.descriptor import descriptor_keys, normalize_base_url
from protocol.errors import ProtocolError
from protocol.keys import FINGERPRINT_RE, check_node_id, fingerprint, public_key_from_b64
from protocol.keys import safety_number as _safety_number

log = logging.getLogger("praevnet.peers")


def check_fingerprint_text(text: str) -> str:
    """Return a fingerprint in `SHA256:<base64>` form, else raise NodeError."""
    text = text.strip()
    if not FINGERPRINT_RE.match(text):
        raise NodeError(f"{text!r} is not a fingerprint; expected SHA256: followed by 43 base64 characters")
    return text


def trust_descriptor(
    node: Node,
    url: str,
    expected_fingerprint: str,
    descriptor: dict[str, Any],
    *,
    pull_only: bool = False,
    within: sqlite3.Connection | None = None,
    network: str | None = None,
    by: Actor = NODE,
) -> dict[str, Any]:
    """Store a verified descriptor as a trusted peer if URL and fingerprint match; return the peer.

    The change is an audit entry by `by` (peer.add, or peer.update for a peer already trusted) with
    the fingerprint that was checked, in the same transaction.

    `descriptor` must already have passed protocol.descriptor.verify_descriptor. A pull-only peer
    is never pushed to: it fetches what is shared with it on its own schedule. With `within`, the
    peer is stored inside that open write transaction (the caller commits), else in a new one.
    With `network`, the peer is trusted because of a membership certificate of that network, not
    by pairing; a peer already trusted keeps how it was trusted (and its pull-only setting), and
    pairing directly with a network peer makes it a directly paired one.
    """
    url = normalize_base_url(url)
    expected_fingerprint = check_fingerprint_text(expected_fingerprint)
    if descriptor["url"] != url:
        raise NodeError(f"the node at {url} says its URL is {descriptor['url']}; refusing to pair")
    keys = descriptor_keys(descriptor)
    fingerprints = {kid: fingerprint(raw) for kid, raw in keys.items()}
    if expected_fingerprint not in fingerprints.values():
        raise NodeError(
            f"fingerprint mismatch: the node at {url} has {', '.join(sorted(fingerprints.values()))}, "
            f"not {expected_fingerprint}; do not pair, and check with the other city"
        )
    peer_id = descriptor["node_id"]
    if peer_id == node.node_id:
        raise NodeError("that is this node itself")
    with write(node.db) if within is None else nullcontext(within) as conn:
        existing = conn.execute("SELECT keys FROM peers WHERE node_id = ?", (peer_id,)).fetchone()
        _audit_trust(conn, descriptor, url, expected_fingerprint, existing is not None, pull_only, network, by)
        if existing is None:
            conn.execute(
                """INSERT INTO peers (node_id, name, url, fingerprint, keys, descriptor, added, pull_only,
                                      old_keys, revoked, revocation_version, network, descriptor_acked)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,
                           (SELECT count(*) + count(revoked_since) FROM own_keys))""",
                (
                    peer_id,
                    descriptor["name"],
                    url,
                    expected_fingerprint,
                    dumps(descriptor["keys"]),
                    dumps(descriptor),
                    now_text(),
                    int(pull_only),
                    dumps(descriptor["old_keys"]),
                    dumps(descriptor.get("revoked", {})),
                    int(descriptor.get("revocation_version", 0)),
                    network,
                ),
            )
        else:
            conn.execute(
                """UPDATE peers SET name = ?, url = ?, fingerprint = ?, keys = ?, descriptor = ?,
                                    pull_only = CASE WHEN ? IS NULL THEN ? ELSE pull_only END,
                                    old_keys = ?, revoked = ?, revocation_version = max(revocation_version, ?),
                                    network = CASE WHEN ? IS NULL THEN NULL ELSE network END,
                                    certificate = CASE WHEN ? IS NULL THEN NULL ELSE certificate END
                   WHERE node_id = ?""",
                (
                    descriptor["name"],
                    url,
                    expected_fingerprint,
                    dumps(descriptor["keys"]),
                    dumps(descriptor),
                    network,
                    int(pull_only),
                    dumps(descriptor["old_keys"]),
                    dumps(descriptor.get("revoked", {})),
                    int(descriptor.get("revocation_version", 0)),
                    network,
                    network,
                    peer_id,
                ),
            )
    named = PeerName(peer_id, descriptor["name"])
    how = f"as a member of network {network}" if network else "by pairing" + (", pull-only" if pull_only else "")
    log.info(
        "%s %s %s, fingerprint %s",
        "trusting" if existing is None else "updated",
        named,
        how,
        expected_fingerprint,
        extra=named.fields(event="peer.trusted", outcome="added" if existing is None else "updated"),
    )
    return get_peer(node, peer_id)


def _audit_trust(
    conn: sqlite3.Connection,
    descriptor: dict[str, Any],
    url: str,
    checked: str,
    known: bool,
    pull_only: bool,
    network: str | None,
    by: Actor,
) -> None:
    how = f"member of network {network}" if network is not None else "paired" + (", pull-only" if pull_only else "")
    audit.append(
        conn,
        user=by.name,
        action="peer.update" if known else "peer.add",
        recipients=[descriptor["node_id"]],
        detail=f"{descriptor['name']} at {url}, fingerprint {checked} ({how})",
    )


def _public(row: dict[str, Any]) -> dict[str, Any]:
    keys = json.loads(row["keys"])
    return {
        "node_id": row["node_id"],
        "name": row["name"],
        "url": row["url"],
        "fingerprint": row["fingerprint"],
        "keys": keys,
        "added": row["added"],
        "pull_only": bool(row["pull_only"]),
        "network": row["network"],
        "last_success": row["last_success"],
        "last_error": row["last_error"],
        **_verification(row),
    }


def _current_fingerprints(keys_json: str) -> set[str]:
    return {fingerprint(public_key_from_b64(encoded)) for encoded in json.loads(keys_json).values()}


def _verification(row: dict[str, Any]) -> dict[str, Any]:
    """When and by whom the pair safety number was confirmed; void once the key it was read for is not current."""
    confirmed = row.get("verified_fingerprint")
    if row.get("verified") is None or confirmed not in _current_fingerprints(row["keys"]):
        return {"verified": None, "verified_by": None}
    return {"verified": row["verified"], "verified_by": row["verified_by"]}


def mark_verified(node: Node, peer_id: str, fingerprint_shown: str, *, by: Actor) -> dict[str, Any]:
    """Record that the officers confirmed the pair safety number computed with the peer's key `fingerprint_shown`.

    Refused if that key is no longer one of the peer's current keys (it changed meanwhile). Audited
    as `peer.verify`.
    """
    with write(node.db) as conn:
        found = conn.execute("SELECT keys FROM peers WHERE node_id = ?", (peer_id,)).fetchone()
        if found is None:
            raise NotFound(f"{peer_id} is not a trusted peer (see `praevnet peers list`)")
        if fingerprint_shown not in _current_fingerprints(found[0]):
            raise NodeError(f"the keys of {peer_id} changed while you compared; run `praevnet peers verify` again")
        conn.execute(
            "UPDATE peers SET verified = ?, verified_by = ?, verified_fingerprint = ? WHERE node_id = ?",
            (now_text(), by.name, fingerprint_shown, peer_id),
        )
        audit.append(conn, user=by.name, action="peer.verify", recipients=[peer_id], detail=fingerprint_shown)
    return get_peer(node, peer_id)


def list_peers(node: Node) -> list[dict[str, Any]]:
    """All trusted peers, by name."""
    return [_public(row) for row in rows(node.db, "SELECT * FROM peers ORDER BY name, node_id")]


def get_peer(node: Node, peer_id: str) -> dict[str, Any]:
    """One trusted peer; NotFound if it is not trusted."""
    found = rows(node.db, "SELECT * FROM peers WHERE node_id = ?", (peer_id,))
    if not found:
        raise NotFound(f"{peer_id} is not a trusted peer (see `praevnet peers list`)")
    return _public(found[0])


def peer_name(node: Node, node_id: str) -> PeerName:
    """A node as log lines name it: its city name, if it is a trusted peer, next to its node id."""
    found = node.db.execute("SELECT name FROM peers WHERE node_id = ?", (node_id,)).fetchone()
    return PeerName(node_id, found[0] if found else None)


def peer_exists(node: Node, peer_id: str) -> bool:
    """Whether `peer_id` is a trusted peer."""
    return node.db.execute("SELECT 1 FROM peers WHERE node_id = ?", (peer_id,)).fetchone() is not None


def remove_peer(node: Node, peer_id: str, *, by: Actor = ADMIN) -> None:
    """Stop trusting a peer: nothing more is sent to it or accepted from it; queued sends are dropped.

    Audited (peer.remove, by `by`) with the peer's name, URL and the fingerprint it was trusted with.
    """
    try:
        check_node_id(peer_id)
    except ProtocolError as exc:
        raise NodeError(str(exc)) from None
    with write(node.db) as conn:
        found = conn.execute("SELECT name, url, fingerprint FROM peers WHERE node_id = ?", (peer_id,)).fetchone()
        if found is None:
            raise NotFound(f"{peer_id} is not a trusted peer (see `praevnet peers list`)")
        conn.execute("DELETE FROM peers WHERE node_id = ?", (peer_id,))
        conn.execute("DELETE FROM deliveries WHERE peer_id = ? AND state = 'pending'", (peer_id,))
        audit.append(
            conn,
            user=by.name,
            action="peer.remove",
            recipients=[peer_id],
            detail=f"{found[0]} at {found[1]}, fingerprint {found[2]}",
        )


def peer_safety_number(node: Node, peer_id: str) -> str:
    """The safety number of a peer's first current key, for reading aloud."""
    keys = get_peer(node, peer_id)["keys"]
    return _safety_number(public_key_from_b64(keys[sorted(keys)[0]]))


def find_peer(node: Node, text: str) -> dict[str, Any]:
    """The trusted peer an officer means by `text`: its node id, or a unique beginning of its name or node id.

    Names compare case-insensitively, and a beginning may also be that of a word in the name ("bonn"
    finds "Stadt Bonn"). Only a full node id is taken as it is: a name, even a whole one, must fit one
    peer alone, so that no peer can take what is meant for another by the name it chose. NotFound if no
    peer matches, NodeError if several do; both messages list the peers to choose from.
    """
    wanted = text.strip()
    if not wanted:
        raise NodeError("give a peer's name or node id (see `praevnet peers list`)")
    peers = list_peers(node)
    folded = wanted.casefold()
    matches = [peer for peer in peers if peer["node_id"] == wanted] or [
        peer for peer in peers if peer["node_id"].startswith(folded) or _name_begins(peer["name"], folded)
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise NodeError(
            f"{wanted!r} matches {len(matches)} peers: {_listing(matches)}; give more of the name, or the node id"
        )
    if not peers:
        raise NotFound(f"{wanted!r} is not a trusted peer: there are none yet (pair with `praevnet peers add`)")
    raise NotFound(f"{wanted!r} is not a trusted peer; trusted peers: {_listing(peers)}")


def _name_begins(name: str, folded: str) -> bool:
    """Whether a peer's name, or a word in it, begins with `folded` (casefolded)."""
    name = name.casefold()
    return name.startswith(folded) or any(word.startswith(folded) for word in re.split(r"[\W_]+", name) if word)


_LISTED = 10  # peers named in an error message; more are summed up


def _listing(peers: list[dict[str, Any]]) -> str:
    named = ", ".join(f"{peer['name']} ({peer['node_id']})" for peer in peers[:_LISTED])
    more = len(peers) - _LISTED
    return named + (f" and {more} more (see `praevnet peers list`)" if more > 0 else "")


def peer_id_of(node: Node, text: str) -> str:
    """The node id an officer means by `text` where a command asks for a peer: a node id as given, else
    the id of the trusted peer `find_peer` finds by name or beginning.

    A well-formed node id passes unchanged even if it is not (or no longer) a trusted peer, so that the
    operation itself says what it needs (e.g. a network member to revoke, or the origin of a record).
    """
    wanted = text.strip()
    try:
        return check_node_id(wanted)
    except ProtocolError:
        return str(find_peer(node, wanted)["node_id"])
