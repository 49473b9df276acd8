"""The network operator's work: creating a network, admitting and revoking members, keeping the
revocation list and its own certificate fresh, and answering members' requests for the lists.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import timedelta
from typing import Any

from node import audit
from node.errors import NodeError, NotFound, PolicyError
from node.home import Node, write_key
from node.networks.registry import (
    CLOCK_SKEW,
    MAX_EXPIRY,
    MIN_EXPIRY,
    OWN_CERTIFICATE_LIFETIME,
    RENEW_OWN_CERTIFICATE_BEFORE,
    RENEW_REVOCATIONS_BEFORE,
    REVOCATIONS_LIFETIME,
    current_members,
    drop_network_peer,
    held_revocations,
    load_network_key,
    network_key_path,
    network_row,
    peer_fingerprints,
    present_network,
    resolve_network,
    store_member,
    untrust,
)
from node.store import dumps, now, now_text, rows, write
from node.transport.client import fetch_descriptor, new_session
from node.trust.peers import check_fingerprint_text, trust_descriptor
from node.users import Actor
from protocol.descriptor import descriptor_keys, normalize_base_url
from protocol.encoding import b64url
from protocol.errors import ProtocolError
from protocol.keys import NodeKey, check_node_id, fingerprint
from protocol.network import (
    MAX_NAME,
    ROLES,
    issue_certificate,
    issue_revocations,
    make_bundle,
    network_id_for,
)
from protocol.timestamps import format_timestamp, parse_timestamp


def _check_name(name: str) -> str:
    name = name.strip()
    if not 0 < len(name) <= MAX_NAME:
        raise NodeError(f"the network name must be 1 to {MAX_NAME} characters")
    return name


def create_network(node: Node, name: str, *, by: Actor) -> dict[str, Any]:
    """Make this node the operator of a new network with its own key; return the network.

    The operator is the network's first member (serial 1, roles member and hub), and publishes an
    empty revocation list (version 1). Audited as `network.create`.
    """
    by.require("manage_users")
    name = _check_name(name)
    if node.db.execute("SELECT 1 FROM networks WHERE name = ?", (name,)).fetchone() is not None:
        raise NodeError(f"this node already has a network called {name!r}")
    key = NodeKey.generate()
    network_id = network_id_for(key.public)
    path = network_key_path(node.home, network_id)
    moment = now()
    certificate = issue_certificate(
        key,
        node_id=node.node_id,
        fingerprint=node.fingerprint,
        roles=ROLES,
        not_before=moment - CLOCK_SKEW,
        expires=moment + OWN_CERTIFICATE_LIFETIME,
        serial=1,
    )
    revocations = issue_revocations(key, version=1, issued=moment, expires=moment + REVOCATIONS_LIFETIME, revoked=[])
    write_key(path, key)
    try:
        with write(node.db) as conn:
            conn.execute(
                """INSERT INTO networks (id, name, public, role, operator_node, operator_url, operator_fingerprint,
                                         certificate, revocations, revocations_version, created)
                   VALUES (?, ?, ?, 'operator', ?, ?, ?, ?, ?, 1, ?)""",
                (
                    network_id,
                    name,
                    b64url(key.public),
                    node.node_id,
                    node.config.url,
                    node.fingerprint,
                    dumps(certificate),
                    dumps(revocations),
                    now_text(),
                ),
            )
            store_member(conn, network_id, node.config.url, certificate)
            audit.append(conn, user=by.name, action="network.create", detail=f"{name} ({network_id})")
    except BaseException:
        os.unlink(path)
        raise
    return present_network(node, resolve_network(node, network_id))


def _check_member_descriptor(descriptor: dict[str, Any], url: str, expected: str) -> None:
    if descriptor["url"] != url:
        raise NodeError(f"the node at {url} says its URL is {descriptor['url']}; not admitting it")
    current = sorted(fingerprint(raw) for raw in descriptor_keys(descriptor).values())
    if expected not in current:
        raise NodeError(
            f"fingerprint mismatch: the node at {url} has {', '.join(current)}, not {expected}; "
            "not admitting it, check with the other city"
        )


async def admit_member(
    node: Node,
    url: str,
    expected_fingerprint: str,
    *,
    network: str | None = None,
    lifetime: timedelta,
    roles: tuple[str, ...] = ("member",),
    pull_only: bool = False,
    descriptor: dict[str, Any] | None = None,
    by: Actor,
) -> dict[str, Any]:
    """Admit the node at `url` to a network this node operates; return its join code and certificate.

    The node's descriptor is fetched (or given, already verified, for a node that cannot be reached
    from here: `network admit FILE`) and one of its current keys must have `expected_fingerprint`,
    which the certificate then names. The member is trusted here as a network peer at once; a
    `pull_only` one (a small town that makes only outbound connections) is never pushed to: it pulls
    what this node shares and relays for it from the outbox.
    Audited as `network.admit`.
    """
    by.require("manage_users")
    row = resolve_network(node, network, role="operator")
    expected = check_fingerprint_text(expected_fingerprint)
    if not roles or any(role not in ROLES for role in roles):
        raise NodeError(f"roles must be one or more of {', '.join(ROLES)}")
    if not MIN_EXPIRY <= lifetime <= MAX_EXPIRY:
        raise NodeError("a certificate lasts from 1 minute to 5 years")
    try:
        url = normalize_base_url(url)
    except ProtocolError as exc:
        raise NodeError(str(exc)) from None
    key = load_network_key(node, row["id"])
    if descriptor is None:
        async with new_session(node) as session:
            descriptor = await fetch_descriptor(session, url)
    _check_member_descriptor(descriptor, url, expected)
    member = descriptor["node_id"]
    if member == node.node_id:
        raise NodeError("that is this node itself; the operator is a member already")
    revoked = held_revocations(row)
    if revoked is not None and member in revoked.nodes:
        raise NodeError(f"{member} was revoked from {row['name']}; a revoked node cannot be admitted again")
    moment = now()
    with write(node.db) as conn:
        serial = conn.execute("SELECT max(serial) FROM network_members WHERE network = ?", (row["id"],)).fetchone()
        certificate = issue_certificate(
            key,
            node_id=member,
            fingerprint=expected,
            roles=roles,
            not_before=moment - CLOCK_SKEW,
            expires=moment + lifetime,
            serial=int(serial[0] or 0) + 1,
        )
        store_member(conn, row["id"], url, certificate)
        if conn.execute("SELECT 1 FROM peers WHERE node_id = ?", (member,)).fetchone() is None:
            trust_descriptor(node, url, expected, descriptor, within=conn, network=row["id"], by=by)
        conn.execute(
            "UPDATE peers SET certificate = ? WHERE node_id = ? AND network IS NOT NULL",
            (dumps(certificate), member),
        )
        if pull_only:
            conn.execute("UPDATE peers SET pull_only = 1 WHERE node_id = ?", (member,))
        audit.append(
            conn,
            user=by.name,
            action="network.admit",
            recipients=[member],
            detail=(
                f"{row['name']} ({row['id']}): {descriptor['name']} at {url} ({expected}), serial "
                f"{certificate['serial']}, roles {', '.join(certificate['roles'])}, until {certificate['expires']}"
                + (", pull-only" if pull_only else "")
            ),
        )
    code = make_bundle(
        network_public=key.public,
        name=row["name"],
        operator_url=node.config.url,
        operator_fingerprint=node.fingerprint,
        certificate=certificate,
    )
    return {
        "code": code,
        "network": row["id"],
        "name": row["name"],
        "node_id": member,
        "member_name": descriptor["name"],
        "url": url,
        "fingerprint": expected,
        "serial": certificate["serial"],
        "roles": certificate["roles"],
        "expires": certificate["expires"],
        "pull_only": pull_only,
    }


def _issue_revocations(conn: sqlite3.Connection, key: NodeKey, network_id: str, version: int) -> dict[str, Any]:
    revoked = [
        {"serial": serial, "node_id": node_id, "since": since}
        for serial, node_id, since in conn.execute(
            """SELECT serial, node_id, revoked_since FROM network_members
               WHERE network = ? AND revoked_since IS NOT NULL ORDER BY serial""",
            (network_id,),
        )
    ]
    moment = now()
    document = issue_revocations(
        key, version=version, issued=moment, expires=moment + REVOCATIONS_LIFETIME, revoked=revoked
    )
    conn.execute(
        "UPDATE networks SET revocations = ?, revocations_version = ? WHERE id = ?",
        (dumps(document), version, network_id),
    )
    return document


def revoke_member(node: Node, member: str, *, network: str | None = None, by: Actor) -> dict[str, Any]:
    """Revoke a member: every certificate of it is listed in a new revocation list (version + 1).

    The operator stops trusting it at once (unless it is also paired directly); node.networks.push
    sends the new list to the other members. Audited as `network.revoke`.
    """
    by.require("manage_users")
    try:
        check_node_id(member)
    except ProtocolError as exc:
        raise NodeError(str(exc)) from None
    row = resolve_network(node, network, role="operator")
    if member == node.node_id:
        raise NodeError("the operator cannot revoke itself")
    with write(node.db) as conn:
        version, removed = revoke_within(conn, node, row, member, reason="revoked")
        audit.append(
            conn,
            user=by.name,
            action="network.revoke",
            recipients=[member],
            detail=f"{row['name']} ({row['id']}): revocation list version {version}"
            + ("; no longer trusted here" if removed else ""),
        )
    return {"network": row["id"], "name": row["name"], "node_id": member, "version": version, "untrusted": removed}


def revoke_within(
    conn: sqlite3.Connection, node: Node, row: dict[str, Any], member: str, *, reason: str
) -> tuple[int, bool]:
    """Inside a write transaction: mark every certificate of `member` revoked for `reason` ('revoked' or
    'left'), sign the next revocation list and stop trusting the member through this network.

    Returns the new list's version and whether the member was untrusted here. NotFound if it was
    never a member, NodeError if it is revoked already.
    """
    key = load_network_key(node, row["id"])
    stamp = now_text()
    held = network_row(conn, row["id"])
    total, revoked = conn.execute(
        "SELECT count(*), count(revoked_since) FROM network_members WHERE network = ? AND node_id = ?",
        (row["id"], member),
    ).fetchone()
    if not total:
        raise NotFound(f"{member} is not a member of {row['name']} (see `praevnet network members`)")
    if revoked == total:
        raise NodeError(f"{member} is already revoked from {row['name']}")
    conn.execute(
        """UPDATE network_members SET revoked_since = ?, revoked_reason = ?
           WHERE network = ? AND node_id = ? AND revoked_since IS NULL""",
        (stamp, reason, row["id"], member),
    )
    version = int(held["revocations_version"]) + 1
    _issue_revocations(conn, key, row["id"], version)
    return version, untrust(conn, member, row["id"], stamp=stamp)


def maintain(node: Node, row: dict[str, Any]) -> dict[str, Any]:
    """The operator's refresh: re-issue the revocation list and its own certificate before they expire
    (or when the node key changed), and stop trusting network peers whose certificates lapsed."""
    report: dict[str, Any] = {
        "network": row["id"],
        "name": row["name"],
        "role": "operator",
        "trusted": [],
        "removed": [],
        "refused": [],
        "renewed": [],
    }
    key = load_network_key(node, row["id"])
    moment = now()
    stamp = format_timestamp(moment)
    with write(node.db) as conn:
        held = network_row(conn, row["id"])
        revocations = json.loads(held["revocations"])
        if parse_timestamp(revocations["expires"]) - moment < RENEW_REVOCATIONS_BEFORE:
            _issue_revocations(conn, key, row["id"], int(held["revocations_version"]) + 1)
            report["renewed"].append("revocations")
        own = json.loads(held["certificate"])
        if own["fingerprint"] != node.fingerprint or (
            parse_timestamp(own["expires"]) - moment < RENEW_OWN_CERTIFICATE_BEFORE
        ):
            serial = conn.execute("SELECT max(serial) FROM network_members WHERE network = ?", (row["id"],)).fetchone()
            renewed = issue_certificate(
                key,
                node_id=node.node_id,
                fingerprint=node.fingerprint,
                roles=own["roles"],
                not_before=moment - CLOCK_SKEW,
                expires=moment + OWN_CERTIFICATE_LIFETIME,
                serial=int(serial[0]) + 1,
            )
            store_member(conn, row["id"], node.config.url, renewed)
            conn.execute(
                "UPDATE networks SET certificate = ?, operator_fingerprint = ? WHERE id = ?",
                (dumps(renewed), node.fingerprint, row["id"]),
            )
            report["renewed"].append("certificate")
        valid = {
            node_id
            for (node_id,) in conn.execute(
                """SELECT node_id FROM network_members WHERE network = ? AND revoked_since IS NULL
                   AND not_before <= ? AND expires > ?""",
                (row["id"], stamp, stamp),
            )
        }
        for (peer_id,) in conn.execute("SELECT node_id FROM peers WHERE network = ?", (row["id"],)).fetchall():
            if peer_id not in valid:
                reason = "its certificate is no longer valid"
                drop_network_peer(conn, peer_id, row, stamp=stamp, reason=reason, removed=report["removed"])
        conn.execute("UPDATE networks SET refreshed = ?, refresh_error = NULL WHERE id = ?", (stamp, row["id"]))
    return report


# --- the operator's endpoints ------------------------------------------------------------------


def operated_for(node: Node, network_id: str, peer: dict[str, Any]) -> dict[str, Any]:
    """The network if this node operates it and `peer` is a current member with the key it signed with."""
    found = rows(node.db, "SELECT * FROM networks WHERE id = ? AND role = 'operator'", (network_id,))
    if not found:
        raise NotFound(f"this node does not operate network {network_id}")
    stamp = now_text()
    keys = peer_fingerprints(node, peer["node_id"]) or set()
    members = node.db.execute(
        """SELECT fingerprint FROM network_members WHERE network = ? AND node_id = ? AND revoked_since IS NULL
           AND not_before <= ? AND expires > ?""",
        (network_id, peer["node_id"], stamp, stamp),
    ).fetchall()
    if not any(fp in keys for (fp,) in members):
        raise PolicyError(f"{peer['node_id']} is not a current member of network {network_id}")
    return found[0]


def members_answer(node: Node, network_id: str, peer: dict[str, Any]) -> dict[str, Any]:
    """GET /fed/v1/networks/{id}/members: the current members, for a current member only.

    Each entry also carries the member's self-signed descriptor as held here, so that members can
    trust a member they cannot reach, and whether it is pull-only (never to be pushed to).
    """
    operated_for(node, network_id, peer)
    held = {
        node_id: (json.loads(descriptor), bool(pull_only))
        for node_id, descriptor, pull_only in node.db.execute("SELECT node_id, descriptor, pull_only FROM peers")
    }
    held[node.node_id] = (node.descriptor(), False)
    members = []
    for row in current_members(node, network_id):
        descriptor, pull_only = held.get(row["node_id"], (None, False))
        members.append(
            {
                "node_id": row["node_id"],
                "url": row["url"],
                "fingerprint": row["fingerprint"],
                "roles": json.loads(row["roles"]),
                "certificate": json.loads(row["certificate"]),
                "descriptor": descriptor,
                "pull_only": pull_only,
            }
        )
    return {"members": members}


def revocations_answer(node: Node, network_id: str, peer: dict[str, Any]) -> dict[str, Any]:
    """GET /fed/v1/networks/{id}/revocations: the newest signed revocation list, for a current member only."""
    row = operated_for(node, network_id, peer)
    document: dict[str, Any] = json.loads(row["revocations"])
    return document
