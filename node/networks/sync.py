"""Joining a network and keeping its members in step: the member's side of node.networks.registry.

`join_network` fetches what node.networks.joining needs to check a join code (the certificate must
be signed by the network key, name this node and its current key, and be valid now), the operator's
fingerprint and that the operator holds a valid certificate itself, and only then stores anything.
`refresh_network` fetches the operator's revocation list (never an older version than the one
held) and member list, trusts each member whose certificate checks out and whose descriptor has
the key the certificate names, and stops trusting network peers that were revoked, expired or are
no longer listed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from node import audit
from node.errors import NodeError, NotFound, PeerError
from node.home import Node
from node.networks.joining import Joining, accept, check_code, check_operator, held_version, key_fingerprints
from node.networks.member_list import Entry, parse_members
from node.networks.operator import maintain
from node.networks.peering import fetch_peer_revocations, refresh_peerings
from node.networks.registry import (
    drop_network_peer,
    held_revocations,
    list_networks,
    network_public_key,
    own_fingerprints,
    peer_fingerprints,
    resolve_network,
    store_member,
)
from node.store import dumps, now, now_text, rows, write
from node.transport.client import fetch_descriptor, new_session, signed_request
from node.trust.peers import get_peer, trust_descriptor
from node.users import NODE, Actor
from protocol.descriptor import descriptor_keys, verify_descriptor
from protocol.encoding import b64url
from protocol.errors import ProtocolError
from protocol.network import (
    BUNDLE_PREFIX,
    Membership,
    Revocations,
    check_member,
    verify_revocations,
    vouched_fingerprints,
)

log = logging.getLogger("praevnet.networks")
MAX_CODE_FILE = 64 * 1024
Resolve = Callable[[str, str], bytes | None]


class ListRefused(NodeError):
    """The operator served a revocation list we refuse (rolled back, badly signed, expired)."""


async def fetch_lists(
    node: Node,
    session: aiohttp.ClientSession,
    operator: dict[str, Any],
    row: dict[str, Any],
    resolve: Resolve | None = None,
) -> tuple[dict[str, Any], Revocations, list[Entry], list[dict[str, str]]]:
    """Fetch and check the revocation list (no rollback below the held version), then the member list."""
    base = f"/fed/v1/networks/{row['id']}"
    held = int(row["revocations_version"])
    document = await signed_request(node, session, operator, "GET", f"{base}/revocations", resolve=resolve)
    try:
        revocations = verify_revocations(document, network_public_key(row), now=now(), held_version=held)
    except ProtocolError as exc:
        kept = f"; keeping version {held}" if held else ""
        raise ListRefused(f"refused the revocation list of {row['name']}: {exc}{kept}") from None
    answer = await signed_request(node, session, operator, "GET", f"{base}/members", resolve=resolve)
    entries, refused = parse_members(answer)
    return document, revocations, entries, refused


def _read_code(source: str) -> str:
    text = source.strip()
    if text.startswith(BUNDLE_PREFIX):
        return text
    path = Path(source)
    if not path.is_file():
        shown = text if len(text) <= 40 else text[:39] + "…"
        raise NodeError(f"{shown!r} is neither a network join code ({BUNDLE_PREFIX}...) nor a file holding one")
    if path.stat().st_size > MAX_CODE_FILE:
        raise NodeError(f"{path} is larger than {MAX_CODE_FILE} bytes; it is no join code")
    return path.read_text(encoding="utf-8").strip()


async def join_network(node: Node, source: str, *, via_hub: bool = False, by: Actor) -> dict[str, Any]:
    """Join the network of a join code (or of a file holding one); return the network and the first refresh.

    Refused, with nothing stored, unless the certificate verifies with the network key, names this
    node and its current key, is valid now and not revoked, the operator's descriptor has the code's
    fingerprint, and the operator holds a valid certificate of the network itself (the checks are
    node.networks.joining's; this fetches what they need and stores the outcome). With `via_hub`, this
    node's shares within the network go only to its hubs (node.networks.registry.share_audience). Audited as
    `network.join`.
    """
    by.require("manage_users")
    text = _read_code(source)
    code = check_code(text, node_id=node.node_id, node_fingerprint=node.fingerprint, moment=now())
    bundle = code.bundle
    known = rows(node.db, "SELECT * FROM networks WHERE id = ? OR name = ?", (bundle.network, bundle.name))
    held = held_version(code, known)
    async with new_session(node) as session:
        descriptor = await fetch_descriptor(session, bundle.operator_url)
        operator = check_operator(code, descriptor)
        keys = descriptor_keys(descriptor)

        def resolve(node_id: str, key_id: str) -> bytes | None:
            return keys.get(key_id) if node_id == operator else None

        row = {"id": bundle.network, "name": bundle.name, "public": b64url(bundle.key), "revocations_version": held}
        try:
            document, revocations, entries, _ = await fetch_lists(
                node, session, {"node_id": operator, "url": bundle.operator_url}, row, resolve
            )
        except PeerError as exc:
            raise NodeError(f"{code.where} did not give this node the network's lists: {exc}; not joining") from None
    joining = accept(code, descriptor, operator, (document, revocations, entries), moment=now())
    _store_join(node, joining, via_hub=via_hub, by=by)
    async with new_session(node) as session:
        report = await refresh_network(node, session, bundle.network)
    network = next(item for item in list_networks(node) if item["id"] == bundle.network)
    return {"network": network, "refresh": report}


def _store_join(node: Node, joining: Joining, *, via_hub: bool, by: Actor) -> None:
    """Store an accepted join in one transaction: the network, both certificates, the operator as a peer
    (unless it is one already), and the audit entry `network.join`."""
    bundle, mine, operator, descriptor = joining.bundle, joining.mine, joining.operator, joining.descriptor
    with write(node.db) as conn:
        conn.execute(
            """INSERT INTO networks (id, name, public, role, operator_node, operator_url, operator_fingerprint,
                                     certificate, revocations, revocations_version, created)
               VALUES (?, ?, ?, 'member', ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET operator_node = excluded.operator_node,
                   operator_url = excluded.operator_url, operator_fingerprint = excluded.operator_fingerprint,
                   certificate = excluded.certificate, revocations = excluded.revocations,
                   revocations_version = excluded.revocations_version""",
            (
                bundle.network,
                bundle.name,
                b64url(bundle.key),
                operator,
                bundle.operator_url,
                bundle.operator_fingerprint,
                dumps(bundle.certificate),
                dumps(joining.document),
                joining.revocations.version,
                now_text(),
            ),
        )
        conn.execute("UPDATE networks SET via_hub = ? WHERE id = ?", (int(via_hub), bundle.network))
        store_member(conn, bundle.network, node.config.url, bundle.certificate)
        store_member(conn, bundle.network, bundle.operator_url, joining.operator_certificate)
        if conn.execute("SELECT 1 FROM peers WHERE node_id = ?", (operator,)).fetchone() is None:
            trust_descriptor(
                node, bundle.operator_url, bundle.operator_fingerprint, descriptor, within=conn, network=bundle.network
            )
            conn.execute(
                "UPDATE peers SET certificate = ? WHERE node_id = ?", (dumps(joining.operator_certificate), operator)
            )
        audit.append(
            conn,
            user=by.name,
            action="network.join",
            recipients=[operator],
            detail=(
                f"{bundle.name} ({bundle.network}) operated by {descriptor['name']} at {bundle.operator_url}; "
                f"serial {mine.serial}, roles {', '.join(mine.roles)}, until {bundle.certificate['expires']}"
                + ("; shares via its hubs" if via_hub else "")
            ),
        )


async def _admit_peer(
    node: Node, session: aiohttp.ClientSession, row: dict[str, Any], entry: Entry, membership: Membership
) -> None:
    """Trust a listed member that is not a peer yet: its descriptor must have the key its certificate names,
    or a key it rotated to from that one (the certified key signed the descriptor: vouched_fingerprints)."""
    if entry.descriptor is not None and entry.descriptor.get("url") == entry.url:
        try:  # as the operator holds it: no need to reach the member (a pull-only town)
            descriptor = verify_descriptor(entry.descriptor, now=now())
        except ProtocolError as exc:
            raise NodeError(f"the listed descriptor of {entry.node_id} is not acceptable: {exc}") from None
    else:  # none listed, or for another URL than the register's: ask the node at that URL
        descriptor = await fetch_descriptor(session, entry.url)
    if descriptor["node_id"] != entry.node_id:
        raise NodeError(f"the node at {entry.url} is {descriptor['node_id']}, not {entry.node_id}")
    current = key_fingerprints(descriptor)
    if membership.fingerprint not in vouched_fingerprints(descriptor):
        raise NodeError(
            f"the certificate is for another key: the node at {entry.url} has {', '.join(current)}, "
            f"not {membership.fingerprint}, nor a rotation from it"
        )
    checked = membership.fingerprint if membership.fingerprint in current else current[0]
    with write(node.db) as conn:
        if conn.execute("SELECT 1 FROM peers WHERE node_id = ?", (entry.node_id,)).fetchone() is not None:
            return
        trust_descriptor(
            node, entry.url, checked, descriptor, within=conn, network=row["id"], pull_only=entry.pull_only
        )
        conn.execute("UPDATE peers SET certificate = ? WHERE node_id = ?", (dumps(entry.certificate), entry.node_id))
        audit.append(
            conn,
            user=NODE.name,
            action="network.trust",
            recipients=[entry.node_id],
            detail=f"{row['name']} ({row['id']}): {descriptor['name']} at {entry.url}, serial {membership.serial}",
        )


def _cached(node: Node, network_id: str) -> list[Entry]:
    return [
        Entry(item["node_id"], item["url"], item["fingerprint"], json.loads(item["certificate"]))
        for item in rows(node.db, "SELECT * FROM network_members WHERE network = ? ORDER BY serial", (network_id,))
    ]


async def refresh_network(node: Node, session: aiohttp.ClientSession, network_id: str) -> dict[str, Any]:
    """Bring one network's members in step with its operator; return what was trusted, removed and refused.

    If the operator cannot be reached, or serves a revocation list we refuse (an older version than
    the one held, a bad signature), nothing new is trusted, and network peers are checked against
    what is held: those whose certificates lapsed or were revoked are no longer trusted.
    """
    row = resolve_network(node, network_id)
    if row["role"] == "operator":
        maintained = maintain(node, row)
        maintained["refused"].extend(await fetch_peer_revocations(node, session, row["id"]))
        return maintained
    report: dict[str, Any] = {
        "network": row["id"],
        "name": row["name"],
        "role": "member",
        "trusted": [],
        "removed": [],
        "refused": [],
    }
    public = network_public_key(row)
    fetched: tuple[dict[str, Any], Revocations, list[Entry], list[dict[str, str]]] | None = None
    revocations: Revocations | None
    try:
        operator = get_peer(node, row["operator_node"])
        fetched = await fetch_lists(node, session, operator, row)
    except NotFound:
        report["error"] = f"the operator {row['operator_node']} is no longer a trusted peer; join {row['name']} again"
    except NodeError as exc:
        report["error"] = str(exc)
    if fetched is not None:
        _, revocations, entries, refused = fetched
        report["refused"].extend(refused)
        try:
            report["refused"].extend(await refresh_peerings(node, session, row, operator))
        except NodeError as exc:
            report["refused"].append({"node_id": "peerings", "reason": str(exc)})
    else:
        revocations = held_revocations(row)
        entries = _cached(node, row["id"])
    moment = now()
    own = json.loads(row["certificate"])
    accepted: dict[str, Entry] = {}
    for entry in entries:
        try:
            membership = check_member(
                entry.certificate,
                public,
                revocations,
                node_id=entry.node_id,
                fingerprints=[entry.fingerprint],
                now=moment,
            )
        except ProtocolError as exc:
            report["refused"].append({"node_id": entry.node_id, "reason": str(exc)})
            continue
        if entry.node_id == node.node_id:
            if membership.fingerprint in own_fingerprints(node) and membership.serial >= own["serial"]:
                own = entry.certificate
                accepted[entry.node_id] = entry
            continue
        keys = peer_fingerprints(node, entry.node_id)
        if keys is None:
            if fetched is None:
                continue
            try:
                await _admit_peer(node, session, row, entry, membership)
            except NodeError as exc:
                report["refused"].append({"node_id": entry.node_id, "reason": str(exc)})
                continue
            report["trusted"].append(entry.node_id)
        elif membership.fingerprint not in keys:
            report["refused"].append({"node_id": entry.node_id, "reason": "the certificate is for another key"})
            continue
        previous = accepted.get(entry.node_id)
        if previous is None or entry.certificate["serial"] > previous.certificate["serial"]:
            accepted[entry.node_id] = entry
    _settle(node, row, report, accepted, own, fetched[0] if fetched else None, fetched[1] if fetched else None)
    return report


def _settle(
    node: Node,
    row: dict[str, Any],
    report: dict[str, Any],
    accepted: dict[str, Entry],
    own: dict[str, Any],
    document: dict[str, Any] | None,
    revocations: Revocations | None,
) -> None:
    """Store the outcome of a refresh in one transaction: lists, member cache, and peers no longer members."""
    stamp = now_text()
    with write(node.db) as conn:
        if document is not None and revocations is not None:
            conn.execute(
                """UPDATE networks SET revocations = ?, revocations_version = ?, refreshed = ?
                   WHERE id = ? AND revocations_version <= ?""",
                (dumps(document), revocations.version, stamp, row["id"], revocations.version),
            )
        conn.execute("UPDATE networks SET certificate = ? WHERE id = ?", (dumps(own), row["id"]))
        conn.execute("DELETE FROM network_members WHERE network = ?", (row["id"],))
        for entry in accepted.values():
            store_member(conn, row["id"], entry.url, entry.certificate)
        conn.executemany(  # only for members trusted through this network; a directly paired peer keeps its own
            "UPDATE peers SET pull_only = ? WHERE node_id = ? AND network = ?",
            [(int(entry.pull_only), entry.node_id, row["id"]) for entry in accepted.values()],
        )
        network_peers = conn.execute("SELECT node_id FROM peers WHERE network = ?", (row["id"],)).fetchall()
        for (peer_id,) in network_peers:
            if peer_id in accepted or peer_id == row["operator_node"]:
                continue
            reason = "revoked, expired or no longer listed"
            drop_network_peer(conn, peer_id, row, stamp=stamp, reason=reason, removed=report["removed"])
        for peer_id in accepted:
            conn.execute(
                "UPDATE peers SET certificate = ? WHERE node_id = ? AND network IS NOT NULL",
                (dumps(accepted[peer_id].certificate), peer_id),
            )
        problems = [report["error"]] if report.get("error") else []
        problems += [f"{item['node_id']}: {item['reason']}" for item in report["refused"]]
        conn.execute("UPDATE networks SET refresh_error = ? WHERE id = ?", ("; ".join(problems) or None, row["id"]))


async def refresh_all(node: Node, session: aiohttp.ClientSession, name: str | None = None) -> list[dict[str, Any]]:
    """Refresh every network (or the one called `name`); one report each, a failure never stops the others."""
    ids = [resolve_network(node, name)["id"]] if name else [item["id"] for item in list_networks(node)]
    reports = []
    for network_id in ids:
        try:
            reports.append(await refresh_network(node, session, network_id))
        except NodeError as exc:
            reports.append({"network": network_id, "error": str(exc), "trusted": [], "removed": [], "refused": []})
    return reports


async def refresh_now(node: Node, name: str | None = None) -> list[dict[str, Any]]:
    """Refresh with a session of its own (for the CLI)."""
    async with new_session(node) as session:
        return await refresh_all(node, session, name)
