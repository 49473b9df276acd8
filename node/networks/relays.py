"""Relays through a network hub: store and forward network-scoped envelopes, never altering them.

A node whose own membership certificate of a network has the role `hub` (the operator always has
it) passes every envelope it accepted whose signed `network` member names that network on to the
network's other current members (not back to the origin or the sending peer), unchanged: the
`relays` queue points at the envelope in the inbox and node.exchange.delivery sends it in the same inbox
transactions as the node's own envelopes. Any member may also pass on a TLP:GREEN or CLEAR one
it received (node.networks.forwarding). A receiver of a relayed envelope (origin not the sender) with a
`network` accepts it only from a hub of that network, or from a member when the label allows
passing it on within the network, for an origin that is a current member, and never a TLP:RED
one (`relay_problem`); the origin's signature covers everything else.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from node import wake
from node.errors import NodeError
from node.home import Node
from node.migrations import allocate_cursors
from node.networks.registry import (
    current_members,
    held_revocations,
    network_audience,
    network_public_key,
    peer_fingerprints,
)
from node.store import now, rows
from protocol.envelope import VerifiedEnvelope
from protocol.errors import ProtocolError
from protocol.network import Membership, check_member
from protocol.tlp import RED, may_forward

HUB = "hub"


def _network(node: Node, network_id: str) -> dict[str, Any] | None:
    found = rows(node.db, "SELECT * FROM networks WHERE id = ?", (network_id,))
    return found[0] if found else None


def membership(node: Node, network: dict[str, Any], node_id: str) -> Membership | str:
    """The valid, unrevoked membership of `node_id` in `network` for one of its current keys, or why not."""
    keys = peer_fingerprints(node, node_id)
    if keys is None:
        return "not a trusted peer"
    try:
        revocations = held_revocations(network)
    except ProtocolError as exc:
        return str(exc)
    problems = []
    for member in current_members(node, network["id"]):
        if member["node_id"] != node_id:
            continue
        try:
            return check_member(
                json.loads(member["certificate"]),
                network_public_key(network),
                revocations,
                node_id=node_id,
                fingerprints=sorted(keys),
                now=now(),
            )
        except ProtocolError as exc:
            problems.append(str(exc))
    return problems[0] if problems else "not a current member"


def relay_problem(node: Node, sender: str, item: VerifiedEnvelope) -> str | None:
    """Why a relayed envelope (origin is not `sender`) scoped to a network must be refused, or None."""
    network_id = item.network
    if network_id is None:
        raise ValueError("relay_problem is for envelopes with a network")
    if item.tlp == RED:
        return f"{RED} is never relayed"
    network = _network(node, network_id)
    if network is None:
        return f"this node is not a member of network {network_id}"
    relayer = membership(node, network, sender)
    if isinstance(relayer, str):
        return f"relayed by a node that is not a member of network {network_id}"
    forwardable = may_forward(item.tlp, shared_in=network_id, forward_in=network_id)
    if HUB not in relayer.roles and not forwardable:
        return f"relayed by a node that is not a hub of network {network_id}, and {item.tlp} may not be forwarded"
    origin = membership(node, network, item.origin)
    if isinstance(origin, str):
        return f"origin {item.origin} is not a member of network {network_id} ({origin})"
    return None


def hub_networks(node: Node) -> set[str]:
    """The networks in which this node's own certificate has the role hub."""
    return {
        row["id"]
        for row in rows(node.db, "SELECT id, certificate FROM networks")
        if HUB in json.loads(row["certificate"]).get("roles", [])
    }


def relay_targets(node: Node, network_id: str) -> list[str]:
    """The current members of a network that this node trusts, to which a hub relays (empty if none)."""
    try:
        return network_audience(node, network_id)[1]
    except NodeError:
        return []


def enqueue(conn: sqlite3.Connection, peers: Sequence[str], origin: str, seq: int, stamp: str) -> None:
    """Queue an envelope held in the inbox, (origin, seq), for relaying to `peers` (never its origin).

    Each relay gets an outbox cursor from the grants' sequence (node.migrations.allocate_cursors): a
    peer that pulls from this node receives it in its outbox, in one order with this node's own envelopes.
    """
    targets = [
        peer
        for peer in dict.fromkeys(peers)
        if peer != origin
        and conn.execute(
            "SELECT 1 FROM relays WHERE peer_id = ? AND origin = ? AND seq = ?", (peer, origin, seq)
        ).fetchone()
        is None
    ]
    conn.executemany(
        "INSERT INTO relays (peer_id, origin, seq, enqueued, cursor) VALUES (?, ?, ?, ?, ?)",
        [
            (peer, origin, seq, stamp, cursor)
            for peer, cursor in zip(targets, allocate_cursors(conn, len(targets)), strict=True)
        ],
    )
    if targets:
        wake.after_commit(conn)


def mark_served(conn: sqlite3.Connection, peer_id: str, relay_ids: Sequence[int], stamp: str) -> set[int]:
    """Mark relays that `peer_id` pulls from the outbox as delivered (reason `pulled`); return those it may
    have: not pushed and not claimed by a push in flight meanwhile (a relay leaves once, by push or by
    pull), or pulled before (a page asked for again after a lost answer holds them again)."""
    served = set()
    for relay_id in relay_ids:
        conn.execute(
            """UPDATE relays SET state = 'delivered', reason = 'pulled', finished = ?
               WHERE id = ? AND peer_id = ? AND state = 'pending' AND txn_id IS NULL""",
            (stamp, relay_id, peer_id),
        )
        pulled = conn.execute(
            "SELECT 1 FROM relays WHERE id = ? AND peer_id = ? AND state = 'delivered' AND reason = 'pulled'",
            (relay_id, peer_id),
        ).fetchone()
        if pulled is not None:
            served.add(relay_id)
    return served


def withhold(conn: sqlite3.Connection, peer_id: str, relay_ids: Sequence[int], stamp: str) -> None:
    """Mark relays that may not go to `peer_id` now (node.sharing.policy) as refused, as a push would."""
    conn.executemany(
        """UPDATE relays SET state = 'refused', reason = 'not relayable now', finished = ?
           WHERE id = ? AND peer_id = ? AND state = 'pending' AND txn_id IS NULL""",
        [(stamp, relay_id, peer_id) for relay_id in relay_ids],
    )
