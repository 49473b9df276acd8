"""Crossing into a peered network: TLP:CLEAR envelopes of network X reach the members of a network Y
that peers with X, unchanged, through X's operator and Y's operator.

X's operator, on accepting a network-scoped TLP:CLEAR envelope of X, also queues it (node.networks.relays)
for the operator of each network X peers with now; when it leaves (node.sharing.policy.relayable, through
`outgoing`), it carries in its transport-only `unsigned` member the origin's X certificate, the key
that certificate names and X's revocation list (protocol.peering). Y's operator accepts it only from
X's operator, Y's members only from Y's operator, and each checks it against the peering statement
its own network signed (`crossing_problem`): the label may cross, the certificate verifies with X's
key from that statement, is valid, not revoked, and names the key that verified the origin's
signature (`crossing_resolver` lends that key to the signature check). Y's operator then relays it
to Y's members. Nothing else of X ever crosses, and nothing of X goes on from Y to a third network.

X's operator's own TLP:CLEAR records shared with X go the same way: node.sharing.shares adds the peered
operators (`peered_operators`) to a network share, and node.sharing.policy lets the envelope go to them only
as `own_outgoing` allows, with the operator's own certificate attached (`withheld` keeps a later
version that may not cross). Retractions carry `network` and cross like the records they retract.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from node.home import Node
from node.networks.peering import store_peer_revocations
from node.networks.registry import held_revocations, network_public_key, own_fingerprints
from node.networks.relays import membership, relay_targets
from node.store import now, rows
from node.trust.peer_keys import KeyBook
from protocol.envelope import KeyResolver, VerifiedEnvelope
from protocol.errors import ProtocolError
from protocol.keys import fingerprint, public_key_from_b64
from protocol.network import Membership, Revocations, check_member, verify_revocations
from protocol.peering import (
    CROSSING_LABELS,
    Peering,
    check_crossing,
    crossing_attachment,
    crossing_key,
    newest_revocations,
    parse_crossing,
    verify_peering,
)
from protocol.timestamps import parse_timestamp

_PEERINGS = """SELECT p.*, n.role, n.operator_node, n.public FROM peerings p JOIN networks n ON n.id = p.network
               WHERE p.peer_network = ?"""


def _peerings_of(node: Node, peer_network: str) -> list[dict[str, Any]]:
    """The peering statements our networks hold about `peer_network`, with our role and operator in each."""
    return rows(node.db, _PEERINGS, (peer_network,))


def _statement(row: dict[str, Any]) -> Peering:
    """The held statement, verified again with our own network's key."""
    return verify_peering(json.loads(row["statement"]), public_key_from_b64(row["public"]))


def _held_revocations(row: dict[str, Any]) -> Revocations | None:
    """The peer network's revocation list held, verified (still returned once expired: it only grows)."""
    if row["revocations"] is None:
        return None
    document = json.loads(row["revocations"])
    moment = min(now(), parse_timestamp(document["expires"]) - timedelta(seconds=1))
    return verify_revocations(document, public_key_from_b64(row["peer_key"]), now=moment)


def _accepts_from(row: dict[str, Any]) -> str | None:
    """The node an envelope of the peer network may come from here: on Y's operator the operator of X,
    on a member of Y the operator of Y."""
    accepted = row["peer_operator"] if row["role"] == "operator" else row["operator_node"]
    return str(accepted) if accepted is not None else None


def _ours(node: Node) -> set[str]:
    return {row["id"] for row in rows(node.db, "SELECT id FROM networks")}


# --- receiving ----------------------------------------------------------------------------------


def crossing_resolver(node: Node, book: KeyBook, envelopes: Sequence[Any]) -> KeyResolver:
    """A key resolver over the trusted peers' keys and, for origins we do not know, the keys that crossing
    attachments carry when a peering statement of ours vouches for the certificate naming them.

    This only lets the signature check run; `crossing_problem` decides whether the envelope is accepted.
    """
    ours, moment = _ours(node), now()
    lent: dict[tuple[str, str], bytes] = {}
    statements: dict[str, list[Peering]] = {}
    for envelope in envelopes:
        if not isinstance(envelope, dict) or "unsigned" not in envelope:
            continue
        network, origin = envelope.get("network"), envelope.get("origin")
        if not isinstance(network, str) or not isinstance(origin, str) or network in ours:
            continue
        if network not in statements:
            statements[network] = []
            for row in _peerings_of(node, network):
                try:
                    statements[network].append(_statement(row))
                except ProtocolError:
                    continue
        for peering in statements[network]:
            try:
                crossing = parse_crossing(envelope["unsigned"])
                crossing_key(crossing, peering.peer_key, origin=origin, now=moment)
            except ProtocolError:
                continue
            lent[(origin, crossing.key_id)] = crossing.key

    def resolve(origin: str, key_id: str) -> bytes | None:
        found = book.resolve(origin, key_id)
        if found is None and origin not in book.table:
            return lent.get((origin, key_id))
        return found

    return resolve


def is_crossing(node: Node, item: VerifiedEnvelope) -> bool:
    """Whether an envelope is scoped to a network this node does not belong to (it can only have crossed)."""
    return item.network is not None and item.network not in _ours(node)


def crossing_problem(node: Node, sender: str, item: VerifiedEnvelope) -> str | None:
    """Why an envelope of a network we do not belong to, sent by `sender`, must be refused; None if it is
    accepted. A newer revocation list of its network that it carries and that verifies is kept either way."""
    network = item.network
    if network is None:
        raise ValueError("crossing_problem is for envelopes with a network")
    candidates = _peerings_of(node, network)
    if not candidates:
        return f"this node is not a member of network {network}, and none of its networks peers with it"
    if item.tlp not in CROSSING_LABELS:
        return f"{item.tlp} never crosses into a peered network; only {', '.join(CROSSING_LABELS)} does"
    chosen = [row for row in candidates if _accepts_from(row) == sender]
    if not chosen:
        return (
            f"an envelope of network {network} is accepted only from the operator that brings it across, "
            f"not from {sender}"
        )
    row, moment = chosen[0], now()
    try:
        peering = _statement(row)
        crossing = parse_crossing(item.envelope.get("unsigned"))
        revocations, newer = newest_revocations(crossing, peering.peer_key, _held_revocations(row), now=moment)
        if newer:  # a newer signed list of the peer network is kept whatever becomes of the envelope
            store_peer_revocations(node, row, crossing.revocations)
        check_crossing(
            crossing, peering, revocations, origin=item.origin, key_id=item.key_id, label=item.tlp, now=moment
        )
    except ProtocolError as exc:
        return f"refused from network {network}: {exc}"
    return None


def crossing_targets(node: Node, sender: str, item: VerifiedEnvelope) -> list[str]:
    """Where an operator sends an envelope it accepted across a peering: X's operator to the operators
    of the networks X peers with now (CLEAR only), Y's operator to Y's current members."""
    if item.network is None or item.tlp not in CROSSING_LABELS or not item.has_content:
        return []
    targets: set[str] = set(peered_operators(node, item.network, item.tlp))
    if item.network not in _ours(node):
        for row in _peerings_of(node, item.network):
            if row["role"] == "operator" and row["peer_operator"] == sender:
                targets.update(relay_targets(node, row["network"]))
    return sorted(targets - {sender, item.origin, node.node_id})


def _operated(node: Node, network_id: str) -> dict[str, Any] | None:
    found = rows(node.db, "SELECT * FROM networks WHERE id = ? AND role = 'operator'", (network_id,))
    return found[0] if found else None


def peered_operators(node: Node, network_id: str, label: str) -> list[str]:
    """The operators of the networks that `network_id` (operated here) peers with now for `label`: where
    an envelope of that network with that label goes across (empty unless we operate it)."""
    network = _operated(node, network_id)
    if network is None or label not in CROSSING_LABELS:
        return []
    stamp, targets = now(), set()
    for row in rows(node.db, "SELECT * FROM peerings WHERE network = ? AND peer_operator IS NOT NULL", (network_id,)):
        if _statement({**row, "public": network["public"]}).problem(label, stamp) is None:
            targets.add(row["peer_operator"])
    return sorted(targets)


def withheld(node: Node, network_id: str | None, peer_id: str, label: str) -> str | None:
    """Why a version of this node's own record shared with `network_id` may not go to `peer_id` across a
    peering (`peer_id` is a peered operator and the label or the peering does not allow it); else None."""
    if network_id is None or _operated(node, network_id) is None:
        return None
    if not rows(node.db, "SELECT 1 FROM peerings WHERE network = ? AND peer_operator = ?", (network_id, peer_id)):
        return None
    return None if peer_id in peered_operators(node, network_id, label) else f"{label} does not cross to {peer_id}"


# --- sending ------------------------------------------------------------------------------------


def _origin_key(node: Node, origin: str, envelope: dict[str, Any], certified: str) -> tuple[str, bytes] | None:
    """The key id and key under which the origin signed `envelope` whose fingerprint is `certified`."""
    if origin == node.node_id:
        held = {node.key.key_id: node.key.public}
    else:
        found = node.db.execute("SELECT keys, old_keys FROM peers WHERE node_id = ?", (origin,)).fetchone()
        if found is None:
            return None
        current, old = json.loads(found[0]), json.loads(found[1])
        held = {kid: public_key_from_b64(entry["key"]) for kid, entry in old.items()}
        held.update((kid, public_key_from_b64(b64)) for kid, b64 in current.items())
    for kid in sorted(envelope.get("signatures", {})):
        if kid in held and fingerprint(held[kid]) == certified:
            return kid, held[kid]
    return None


def _origin_certificate(node: Node, network: dict[str, Any], origin: str) -> tuple[Membership, dict[str, Any]] | str:
    """The origin's valid, unrevoked membership of `network` and the certificate proving it, or why not.
    For this node's own envelopes (the operator's records) that is its own certificate."""
    if origin != node.node_id:
        held = membership(node, network, origin)
        if isinstance(held, str):
            return held
        found = node.db.execute(
            "SELECT certificate FROM network_members WHERE network = ? AND serial = ?", (network["id"], held.serial)
        ).fetchone()
        return (held, json.loads(found[0])) if found is not None else "no certificate held"
    certificate = json.loads(network["certificate"])
    try:
        own = check_member(
            certificate,
            network_public_key(network),
            held_revocations(network),
            node_id=origin,
            fingerprints=sorted(own_fingerprints(node)),
            now=now(),
        )
    except ProtocolError as exc:
        return str(exc)
    return own, certificate


def _leaving_our_network(
    node: Node, network: dict[str, Any], peering: dict[str, Any], envelope: dict[str, Any]
) -> dict[str, Any] | str:
    """An envelope of a network we operate, bound for the operator of a peered network, with its attachment."""
    label = envelope["tlp"]
    try:
        problem = _statement({**peering, "public": network["public"]}).problem(label, now())
    except ProtocolError as exc:
        problem = str(exc)
    if problem is not None:
        return problem
    origin = envelope["origin"]
    held = _origin_certificate(node, network, origin)
    if isinstance(held, str):
        return f"origin {origin} is not a current member of network {network['id']} ({held})"
    key = _origin_key(node, origin, envelope, held[0].fingerprint)
    if key is None or network["revocations"] is None:
        return f"no certificate, key or revocation list of origin {origin} to send along"
    unsigned = crossing_attachment(held[1], key[0], key[1], json.loads(network["revocations"]))
    return {**{k: v for k, v in envelope.items() if k != "unsigned"}, "unsigned": unsigned}


def _relayed_into_our_network(node: Node, peer_id: str, envelope: dict[str, Any]) -> dict[str, Any] | str:
    """An envelope of a peered network, passed on by our operator to a current member of our network,
    with the attachment it came with and the newest revocation list of its network held here."""
    for row in _peerings_of(node, envelope["network"]):
        if row["role"] != "operator" or peer_id not in relay_targets(node, row["network"]):
            continue
        try:
            problem = _statement(row).problem(envelope["tlp"], now())
            crossing = parse_crossing(envelope.get("unsigned"))
        except ProtocolError as exc:
            return str(exc)
        if problem is not None:
            return problem
        revocations = crossing.revocations
        if row["revocations"] is not None and row["revocations_version"] > revocations.get("version", 0):
            revocations = json.loads(row["revocations"])
        unsigned = crossing_attachment(crossing.certificate, crossing.key_id, crossing.key, revocations)
        return {**envelope, "unsigned": unsigned}
    return f"network {envelope['network']} is not peered here for {peer_id}"


def own_outgoing(node: Node, peer_id: str, envelope: dict[str, Any]) -> dict[str, Any] | str | None:
    """For node.sharing.policy.releasable and outbox_page: one of this node's own envelopes as it may go to `peer_id`.
    Only an envelope of a network this node operates, bound for the operator of a network it peers with,
    crosses (as `outgoing` allows, with this node's own certificate attached, or the reason it may not);
    None for every other envelope, which the policy treats as before."""
    network_id = envelope.get("network")
    if not isinstance(network_id, str) or _operated(node, network_id) is None:
        return None
    return outgoing(node, peer_id, envelope)


def outgoing(node: Node, peer_id: str, envelope: dict[str, Any]) -> dict[str, Any] | str | None:
    """For node.sharing.policy.relayable: the envelope as it may cross to `peer_id` (with its attachment), the
    reason it may not, or None if this is no crossing (a relay within the envelope's own network)."""
    network_id = envelope.get("network")
    if network_id is None:
        return None
    found = rows(node.db, "SELECT * FROM networks WHERE id = ?", (network_id,))
    crossing = not found or bool(
        found[0]["role"] == "operator"
        and rows(node.db, "SELECT 1 FROM peerings WHERE network = ? AND peer_operator = ?", (network_id, peer_id))
    )
    if not crossing:
        return None
    if envelope["tlp"] not in CROSSING_LABELS:
        return f"{envelope['tlp']} never crosses into a peered network"
    if not found:
        return _relayed_into_our_network(node, peer_id, envelope)
    (peering,) = rows(node.db, "SELECT * FROM peerings WHERE network = ? AND peer_operator = ?", (network_id, peer_id))
    return _leaving_our_network(node, found[0], peering, envelope)
