"""Revocation lists (and, through `push_to_members`, peering statements: node.networks.peering) pushed by
the operator to the members, at once, instead of waiting for their refresh.

After a revocation (`network revoke`, or a member leaving), the operator sends the new signed list
to every current member it trusts that can be reached (not pull-only), all at once, each in a
signed `POST /fed/v1/networks/{id}/revocations`. A member accepts it only from the operator of that
network, only if it verifies with the network key it holds and is not older than the list it
holds (no rollback); it then stores it, stops trusting the members it revokes and refuses them
from then on. A member that cannot be reached learns of it at its next refresh, as before.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from node import audit
from node.errors import NotFound, PeerError, PolicyError
from node.home import Node
from node.networks.operator import revoke_member
from node.networks.registry import drop_network_peer, network_audience, network_public_key, resolve_network
from node.store import dumps, now, now_text, rows, write
from node.transport.client import new_session, signed_request
from node.trust.peers import get_peer
from node.users import NODE, Actor
from protocol.canonical import parse
from protocol.errors import ProtocolError
from protocol.network import REVOCATIONS, Revocations, network_path, verify_revocations


async def push_to_members(
    node: Node, row: dict[str, Any], path: str, document: dict[str, Any], session: aiohttp.ClientSession, *, what: str
) -> dict[str, Any]:
    """Send a signed document of the network `row` (operated here) to its current members at once, each in a
    signed POST to `path`; pull-only members are left to their next refresh.

    Returns {"pushed": [node ids], "failed": [{"node_id", "reason"}], "pull_only": [node ids]}; a failure
    is reported, never raised. Audited as `network.push`, naming `what` was sent.
    """
    _, audience = network_audience(node, row["id"])
    peers = [get_peer(node, member) for member in audience]
    targets = [peer for peer in peers if not peer["pull_only"]]

    async def send(peer: dict[str, Any]) -> str | None:
        try:
            await signed_request(node, session, peer, "POST", path, document)
        except PeerError as exc:
            return str(exc)
        return None

    outcomes = await asyncio.gather(*(send(peer) for peer in targets))
    pushed = [peer["node_id"] for peer, problem in zip(targets, outcomes, strict=True) if problem is None]
    failed = [
        {"node_id": peer["node_id"], "reason": problem}
        for peer, problem in zip(targets, outcomes, strict=True)
        if problem is not None
    ]
    if targets:
        with write(node.db) as conn:
            audit.append(
                conn,
                user=NODE.name,
                action="network.push",
                recipients=pushed,
                detail=f"{row['name']} ({row['id']}): {what} sent to {len(pushed)} of {len(targets)} member(s)"
                + (f"; not reached: {', '.join(item['node_id'] for item in failed)}" if failed else ""),
            )
    return {"pushed": pushed, "failed": failed, "pull_only": [peer["node_id"] for peer in peers if peer["pull_only"]]}


async def push_revocations(node: Node, network_id: str, session: aiohttp.ClientSession) -> dict[str, Any]:
    """Send the newest revocation list of a network this node operates to its current members.

    Returns {"network", "version", "pushed": [node ids], "failed": [{"node_id", "reason"}],
    "pull_only": [node ids]}; a failure is reported, never raised. Audited as `network.push`.
    """
    row = resolve_network(node, network_id, role="operator")
    document = json.loads(row["revocations"])
    path = network_path(row["id"], REVOCATIONS)
    report = await push_to_members(
        node, row, path, document, session, what=f"revocation list version {document['version']}"
    )
    return {"network": row["id"], "version": document["version"], **report}


async def revoke_and_push(node: Node, member: str, *, network: str | None = None, by: Actor) -> dict[str, Any]:
    """`network revoke`: revoke a member (node.networks.operator.revoke_member), then push the new list
    to the other members at once; the result carries the push report under "push"."""
    revoked = revoke_member(node, member, network=network, by=by)
    async with new_session(node) as session:
        revoked["push"] = await push_revocations(node, revoked["network"], session)
    return revoked


def from_operator(
    node: Node, network_id: str, peer: dict[str, Any], body: bytes, *, what: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """At a member: the network row and the JSON object an operator pushed (`what`, for messages), not
    verified yet. NotFound (404) unless this node belongs to the network; PolicyError (403) unless `peer`
    is its operator; ProtocolError (400) unless the body is an object naming that network."""
    found = rows(node.db, "SELECT * FROM networks WHERE id = ?", (network_id,))
    if not found:
        raise NotFound(f"this node does not belong to network {network_id}")
    row = found[0]
    if row["role"] != "member" or peer["node_id"] != row["operator_node"]:
        raise PolicyError(f"only the operator of network {network_id} may send its {what}")
    document = parse(body)
    if not isinstance(document, dict):
        raise ProtocolError(f"a {what} must be a JSON object")
    if document.get("network") != network_id:
        raise ProtocolError(f"this {what} is for network {document.get('network')!r}, not {network_id}")
    return row, document


def receive_revocations(node: Node, network_id: str, peer: dict[str, Any], body: bytes) -> dict[str, Any]:
    """POST /fed/v1/networks/{id}/revocations at a member: apply the list its operator pushed.

    NotFound (404) unless this node belongs to that network; PolicyError (403) unless `peer` (the
    authenticated sender) is its operator; ProtocolError (400) for a body that is not a list of that
    network verifying with its key, or that is older than the held one. Nothing is stored then.
    """
    row, document = from_operator(node, network_id, peer, body, what="revocation list")
    held = int(row["revocations_version"])
    try:
        revocations = verify_revocations(document, network_public_key(row), now=now(), held_version=held)
    except ProtocolError as exc:
        raise ProtocolError(f"refused the revocation list: {exc}") from None
    removed = apply_revocations(node, row, document, revocations)
    return {"network": network_id, "version": max(held, revocations.version), "removed": removed}


def apply_revocations(node: Node, row: dict[str, Any], document: dict[str, Any], revocations: Revocations) -> list[str]:
    """Hold a verified, newer revocation list and stop trusting the network peers it revokes; return them.

    A list of the version already held changes nothing. Audited as `network.revocations`.
    """
    stamp = now_text()
    removed: list[str] = []
    with write(node.db) as conn:
        newer = conn.execute(
            "UPDATE networks SET revocations = ?, revocations_version = ? WHERE id = ? AND revocations_version < ?",
            (dumps(document), revocations.version, row["id"], revocations.version),
        ).rowcount
        if not newer:
            return removed
        for node_id, serial in conn.execute(
            "SELECT node_id, serial FROM network_members WHERE network = ?", (row["id"],)
        ).fetchall():
            if node_id != node.node_id and (node_id in revocations.nodes or serial in revocations.serials):
                conn.execute("DELETE FROM network_members WHERE network = ? AND serial = ?", (row["id"], serial))
        for peer_id, certificate in conn.execute(
            "SELECT node_id, certificate FROM peers WHERE network = ?", (row["id"],)
        ).fetchall():
            serial = json.loads(certificate)["serial"] if certificate else None
            if peer_id in revocations.nodes or serial in revocations.serials:
                reason = f"revoked by revocation list version {revocations.version}"
                drop_network_peer(conn, peer_id, row, stamp=stamp, reason=reason, removed=removed)
        audit.append(
            conn,
            user=NODE.name,
            action="network.revocations",
            recipients=removed,
            detail=f"{row['name']} ({row['id']}): revocation list version {revocations.version} from the operator"
            + (f"; no longer trusted: {', '.join(removed)}" if removed else ""),
        )
    return removed
