"""Leaving a network: the member tells the operator, then drops the network here, whatever the answer.

The member sends a signed `POST /fed/v1/networks/{id}/leave` (empty body) to the operator, which
revokes every certificate of that member with the reason `left` in a new revocation list, audits
it, stops trusting it through the network and pushes the new list to the other members
(node.networks.push). Then, in one transaction, the member forgets the network: its own
certificate and the member list, the peers it trusted only through that network, and what was
queued for that network (pushes of envelopes sealed for it, relays of envelopes scoped to it,
shares waiting for release). If the operator cannot be reached or refuses, the member leaves all
the same and says so. The operator of a network cannot leave it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from node import audit
from node.errors import NodeError, NotFound, PeerError
from node.home import Node
from node.networks.operator import operated_for, revoke_within
from node.networks.registry import resolve_network, untrust
from node.store import now_text, write
from node.transport.client import new_session, signed_request
from node.trust.peers import get_peer
from node.users import NODE, Actor
from protocol.errors import ProtocolError
from protocol.network import LEAVE, network_path


async def leave_network(node: Node, name: str, *, by: Actor) -> dict[str, Any]:
    """Leave the network called `name` (or with that id); return what happened.

    The result has "network", "name", "node_id" (this node's), "operator" (its node id and URL),
    "operator_notified" (whether the operator confirmed it revoked this node's membership),
    "operator_error" (why not, or None), "version" (of the operator's new revocation list, or None),
    "removed" (network peers no longer trusted) and "dropped" (queued sends, relays and pending
    shares of the network that were dropped). NotFound if this node does
    not belong to such a network; NodeError if it operates it. Audited as `network.leave`.
    """
    by.require("manage_users")
    row = resolve_network(node, name)
    if row["role"] == "operator":
        raise NodeError(
            f"this node operates {row['name']}; an operator cannot leave its own network (its members rely on its"
            " lists). Revoke members with `praevnet network revoke NODE_ID` instead"
        )
    notified, problem, version = await _tell_operator(node, row)
    outcome = (
        f"the operator revoked this node's membership (revocation list version {version})"
        if notified
        else f"the operator was not told: {problem}"
    )
    removed, dropped = _forget(node, row, by=by, outcome=outcome)
    return {
        "network": row["id"],
        "name": row["name"],
        "node_id": node.node_id,
        "operator": {"node_id": row["operator_node"], "url": row["operator_url"]},
        "operator_notified": notified,
        "operator_error": problem,
        "version": version,
        "removed": removed,
        "dropped": dropped,
    }


async def _tell_operator(node: Node, row: dict[str, Any]) -> tuple[bool, str | None, int | None]:
    """Ask the operator to revoke this node's membership: (confirmed, why not, new list version)."""
    try:
        operator = get_peer(node, row["operator_node"])
    except NotFound:
        return False, f"the operator {row['operator_node']} is no longer a trusted peer", None
    try:
        async with new_session(node) as session:
            answer = await signed_request(node, session, operator, "POST", network_path(row["id"], LEAVE))
    except PeerError as exc:
        return False, str(exc), None
    if not isinstance(answer, dict) or answer.get("node_id") != node.node_id or type(answer.get("version")) is not int:
        return False, f"the operator answered with something else than a confirmation: {str(answer)[:200]}", None
    return True, None, int(answer["version"])


def _forget(node: Node, row: dict[str, Any], *, by: Actor, outcome: str) -> tuple[list[str], int]:
    """Drop a network here in one transaction with its audit entry; return the peers no longer trusted
    and the number of queued items dropped."""
    network_id, stamp = row["id"], now_text()
    removed: list[str] = []
    with write(node.db) as conn:
        dropped = _drop_queued(conn, network_id, stamp)
        peers = conn.execute("SELECT node_id FROM peers WHERE network = ? ORDER BY node_id", (network_id,))
        for (peer_id,) in peers.fetchall():
            if untrust(conn, peer_id, network_id, stamp=stamp):
                removed.append(peer_id)
        conn.execute("DELETE FROM network_members WHERE network = ?", (network_id,))
        conn.execute("DELETE FROM networks WHERE id = ?", (network_id,))
        audit.append(
            conn,
            user=by.name,
            action="network.leave",
            recipients=[row["operator_node"]],
            detail=f"{row['name']} ({network_id}): {outcome}; {len(removed)} network peer(s) no longer trusted, "
            f"{dropped} queued item(s) dropped",
        )
    return removed, dropped


def _drop_queued(conn: sqlite3.Connection, network_id: str, stamp: str) -> int:
    """Drop what waits to go out for a network: pushes of envelopes sealed for it, relays of envelopes
    scoped to it, and network shares not released yet (withdrawn). Return how many."""
    deliveries = conn.execute(
        """DELETE FROM deliveries WHERE state = 'pending'
           AND seq IN (SELECT seq FROM network_seals WHERE network = ?)""",
        (network_id,),
    ).rowcount
    relays = conn.execute(
        """DELETE FROM relays WHERE state = 'pending' AND EXISTS (
               SELECT 1 FROM inbox i WHERE i.origin = relays.origin AND i.seq = relays.seq
                 AND json_extract(i.envelope, '$.network') = ?)""",
        (network_id,),
    ).rowcount
    shares = conn.execute(
        """UPDATE shares SET state = 'withdrawn', withdrawn_by = ?, withdrawn = ?
           WHERE network = ? AND state = 'pending'""",
        (NODE.name, stamp, network_id),
    ).rowcount
    return int(deliveries) + int(relays) + int(shares)


def answer_leave(node: Node, network_id: str, peer: dict[str, Any], body: bytes) -> dict[str, Any]:
    """POST /fed/v1/networks/{id}/leave at the operator: revoke the requesting member with the reason `left`.

    ProtocolError (400) for a body that is not empty; NotFound (404) unless this node operates the
    network; PolicyError (403) unless `peer` is a current member of it. Returns {"network",
    "node_id", "version"}; the caller pushes the new list to the other members. Audited as
    `network.leave`.
    """
    if body:
        raise ProtocolError("a leave request has an empty body")
    row = operated_for(node, network_id, peer)
    member = peer["node_id"]
    with write(node.db) as conn:
        version, _ = revoke_within(conn, node, row, member, reason="left")
        audit.append(
            conn,
            user=NODE.name,
            action="network.leave",
            recipients=[member],
            detail=f"{row['name']} ({row['id']}): {member} left; revocation list version {version}",
        )
    return {"network": network_id, "node_id": member, "version": version}
