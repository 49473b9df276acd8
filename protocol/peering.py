"""Peered networks: network cards, peering statements and the attachments a crossing envelope carries.

Two networks X and Y peer when both operators agree: each operator prints its **network card** (the
network's id, name and key and its operator node, signed by the network key), gives it to the other,
and each signs, with its own network key, a **peering statement** naming the other network, its key
and the labels that may cross (only TLP:CLEAR, or none once withdrawn), with a validity window and a
serial that only grows. A network-scoped TLP:CLEAR envelope of X then crosses from X's operator to
Y's operator and on to Y's members unchanged; its transport-only `unsigned` member carries a
**crossing** attachment (the origin's X certificate, the key it names, X's revocation list) from
which a node of Y, holding its own network's statement with X's key, verifies an origin it never
paired with. Everything here is pure: the node decides what it holds and when.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from protocol.canonical import MAX_SAFE_INTEGER
from protocol.descriptor import normalize_base_url
from protocol.encoding import b64url
from protocol.errors import ProtocolError
from protocol.keys import FINGERPRINT_RE, NodeKey, check_key_id, check_node_id, fingerprint, public_key_from_b64
from protocol.network import (
    Membership,
    Revocations,
    _sign,
    _verified_body,
    check_network_id,
    network_id_for,
    verify_certificate,
    verify_revocations,
)
from protocol.timestamps import format_timestamp, parse_timestamp
from protocol.tlp import CLEAR

CROSSING_LABELS = (CLEAR,)
"""The labels a peering statement may name: only TLP:CLEAR ever crosses into a peered network."""
MAX_NAME = 200
CARD_FIELDS = frozenset(
    {"type", "network", "name", "key", "operator_node", "operator_url", "operator_fingerprint", "issued"}
)
PEERING_FIELDS = frozenset({"type", "network", "peer_network", "peer_key", "labels", "not_before", "expires", "serial"})
CROSSING_FIELDS = frozenset({"certificate", "key_id", "key", "revocations"})
CROSSING = "crossing"


def _check_serial(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SAFE_INTEGER:
        raise ProtocolError(f"the {what} must be a positive integer")
    return value


# --- network cards ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """A verified network card: the network and its operator node, as the network key states them."""

    network: str
    name: str
    key: bytes
    operator_node: str
    operator_url: str
    operator_fingerprint: str
    issued: datetime


def issue_card(
    network_key: NodeKey,
    *,
    name: str,
    operator_node: str,
    operator_url: str,
    operator_fingerprint: str,
    issued: datetime,
) -> dict[str, Any]:
    """A network card signed by the network key, for the operator of another network."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        raise ProtocolError("the network name must be 1 to 200 characters")
    if not FINGERPRINT_RE.match(operator_fingerprint):
        raise ProtocolError("the operator fingerprint is malformed")
    return _sign(
        network_key,
        {
            "type": "network-card",
            "network": network_id_for(network_key.public),
            "name": name,
            "key": b64url(network_key.public),
            "operator_node": check_node_id(operator_node),
            "operator_url": normalize_base_url(operator_url),
            "operator_fingerprint": operator_fingerprint,
            "issued": format_timestamp(issued),
        },
    )


def verify_card(document: object) -> Card:
    """Check a network card: self-signed by the key it carries, the network id derived from that key.

    The card proves only that its signer holds the key; the reader compares the key's fingerprint
    with the one the other operator's officer read out before it trusts the card.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("key"), str):
        raise ProtocolError("a network card is a JSON object with the network's key")
    key = public_key_from_b64(document["key"])
    body = _verified_body(document, key, "network card", CARD_FIELDS)
    if body["type"] != "network-card":
        raise ProtocolError("not a network card")
    if check_network_id(body["network"]) != network_id_for(key):
        raise ProtocolError("the card's network id does not belong to its key")
    if not isinstance(body["name"], str) or not 0 < len(body["name"]) <= MAX_NAME:
        raise ProtocolError("the network name must be 1 to 200 characters")
    if not isinstance(body["operator_fingerprint"], str) or not FINGERPRINT_RE.match(body["operator_fingerprint"]):
        raise ProtocolError("the operator fingerprint is malformed")
    url = normalize_base_url(body["operator_url"])
    if url != body["operator_url"]:
        raise ProtocolError("the operator URL is not in normal form")
    return Card(
        body["network"],
        body["name"],
        key,
        check_node_id(body["operator_node"]),
        url,
        body["operator_fingerprint"],
        parse_timestamp(body["issued"]),
    )


# --- peering statements -------------------------------------------------------------------------


@dataclass(frozen=True)
class Peering:
    """A verified peering statement of `network` about `peer_network` (not checked against the clock)."""

    network: str
    peer_network: str
    peer_key: bytes
    labels: tuple[str, ...]
    not_before: datetime
    expires: datetime
    serial: int

    def problem(self, label: str, now: datetime) -> str | None:
        """Why an envelope of `label` may not cross under this statement at `now`, or None if it may."""
        if not self.labels:
            return f"the peering with network {self.peer_network} was withdrawn"
        if now < self.not_before:
            return f"the peering with network {self.peer_network} is not valid yet"
        if now >= self.expires:
            return f"the peering with network {self.peer_network} has expired"
        if label not in self.labels:
            return f"{label} may not cross into a peered network; only {', '.join(self.labels)} may"
        return None


def issue_peering(
    network_key: NodeKey,
    *,
    peer_key: bytes,
    labels: tuple[str, ...] = CROSSING_LABELS,
    not_before: datetime,
    expires: datetime,
    serial: int,
) -> dict[str, Any]:
    """A peering statement signed by `network_key` about the network of `peer_key`; labels () withdraws it."""
    if any(label not in CROSSING_LABELS for label in labels) or len(set(labels)) != len(labels):
        raise ProtocolError(f"a peering names only {', '.join(CROSSING_LABELS)}, or nothing when withdrawn")
    network, peer_network = network_id_for(network_key.public), network_id_for(peer_key)
    if network == peer_network:
        raise ProtocolError("a network cannot peer with itself")
    valid_from, valid_until = format_timestamp(not_before), format_timestamp(expires)
    if parse_timestamp(valid_until) <= parse_timestamp(valid_from):
        raise ProtocolError("a peering must expire after it becomes valid")
    return _sign(
        network_key,
        {
            "type": "peering",
            "network": network,
            "peer_network": peer_network,
            "peer_key": b64url(peer_key),
            "labels": sorted(labels),
            "not_before": valid_from,
            "expires": valid_until,
            "serial": _check_serial(serial, "peering serial"),
        },
    )


def verify_peering(document: object, network_public: bytes, *, held_serial: int = 0) -> Peering:
    """Check a peering statement: signed by the network key it claims, well formed, no rollback below
    `held_serial`. Its validity window is checked when it is used (Peering.problem)."""
    body = _verified_body(document, network_public, "peering statement", PEERING_FIELDS)
    if body["type"] != "peering":
        raise ProtocolError("not a peering statement")
    if body["network"] != network_id_for(network_public):
        raise ProtocolError("the peering statement is of another network")
    peer_key = public_key_from_b64(body["peer_key"])
    if check_network_id(body["peer_network"]) != network_id_for(peer_key):
        raise ProtocolError("the peer network's id does not belong to its key")
    if body["peer_network"] == body["network"]:
        raise ProtocolError("a network cannot peer with itself")
    labels = body["labels"]
    if (
        not isinstance(labels, list)
        or any(label not in CROSSING_LABELS for label in labels)
        or labels != sorted(set(labels))
    ):
        raise ProtocolError(f"the labels of a peering are a sorted subset of {', '.join(CROSSING_LABELS)}")
    serial = _check_serial(body["serial"], "peering serial")
    if serial < held_serial:
        raise ProtocolError(f"peering statement rolled back from serial {held_serial} to {serial}")
    not_before, expires = parse_timestamp(body["not_before"]), parse_timestamp(body["expires"])
    if expires <= not_before:
        raise ProtocolError("the peering expires before it becomes valid")
    return Peering(body["network"], body["peer_network"], peer_key, tuple(labels), not_before, expires, serial)


# --- crossing attachments -----------------------------------------------------------------------


def crossing_attachment(
    certificate: Mapping[str, Any], key_id: str, key: bytes, revocations: Mapping[str, Any]
) -> dict[str, Any]:
    """What an envelope of network X carries in `unsigned` into a peered network: the origin's X
    certificate, the key it names (with the key id the origin signs under) and X's revocation list."""
    return {
        CROSSING: {
            "certificate": dict(certificate),
            "key_id": check_key_id(key_id),
            "key": b64url(key),
            "revocations": dict(revocations),
        }
    }


@dataclass(frozen=True)
class Crossing:
    """A crossing attachment as read from `unsigned`; nothing in it is verified yet."""

    certificate: dict[str, Any]
    key_id: str
    key: bytes
    revocations: dict[str, Any]


def parse_crossing(unsigned: object) -> Crossing:
    """Read the crossing attachment of an envelope's `unsigned` member; ProtocolError if absent or malformed."""
    part = unsigned.get(CROSSING) if isinstance(unsigned, Mapping) else None
    if not isinstance(part, Mapping):
        raise ProtocolError("the envelope carries no crossing attachment (unsigned.crossing)")
    if set(part) != CROSSING_FIELDS:
        raise ProtocolError("a crossing attachment has exactly " + ", ".join(sorted(CROSSING_FIELDS)))
    if not isinstance(part["certificate"], Mapping) or not isinstance(part["revocations"], Mapping):
        raise ProtocolError("the crossing attachment's certificate and revocations are objects")
    return Crossing(
        dict(part["certificate"]),
        check_key_id(part["key_id"]),
        public_key_from_b64(part["key"]),
        dict(part["revocations"]),
    )


def crossing_key(crossing: Crossing, peer_key: bytes, *, origin: str, now: datetime) -> Membership:
    """The origin's membership in the peer network, if the attachment's certificate verifies with
    `peer_key`, is valid at `now`, names `origin` and the attached key; else ProtocolError."""
    membership = verify_certificate(crossing.certificate, peer_key, now=now)
    if membership.node_id != origin:
        raise ProtocolError(f"the attached certificate names {membership.node_id}, not the origin {origin}")
    if membership.fingerprint != fingerprint(crossing.key):
        raise ProtocolError("the attached certificate is for another key than the attached one")
    return membership


def newest_revocations(
    crossing: Crossing, peer_key: bytes, held: Revocations | None, *, now: datetime
) -> tuple[Revocations, bool]:
    """The peer network's revocation list to check against: the attached one if it verifies and is not
    older than `held`, else `held` if it has not expired. Returns it and whether it is the attached one.
    ProtocolError if neither is current: nothing crosses without a current list."""
    try:
        attached = verify_revocations(crossing.revocations, peer_key, now=now, held_version=held.version if held else 0)
    except ProtocolError as exc:
        if held is not None and now < held.expires:
            return held, False
        raise ProtocolError(f"no current revocation list of the peer network ({exc})") from None
    return attached, held is None or attached.version > held.version


def check_crossing(
    crossing: Crossing,
    peering: Peering,
    revocations: Revocations,
    *,
    origin: str,
    key_id: str,
    label: str,
    now: datetime,
) -> Membership:
    """Everything a node of the peered network checks before it accepts an envelope of `peering.peer_network`
    verified under `key_id`: the peering allows `label` now, the certificate verifies with the peer
    network's key from the statement and names the origin and the key that verified, and neither the
    certificate's serial nor the origin is in the peer network's current revocation list."""
    problem = peering.problem(label, now)
    if problem is not None:
        raise ProtocolError(problem)
    membership = crossing_key(crossing, peering.peer_key, origin=origin, now=now)
    if crossing.key_id != key_id:
        raise ProtocolError(f"the envelope verified under {key_id}, not under the attached key {crossing.key_id}")
    if revocations.network != peering.peer_network or now >= revocations.expires:
        raise ProtocolError("no current revocation list of the peer network")
    if membership.serial in revocations.serials or origin in revocations.nodes:
        raise ProtocolError(f"origin {origin} is revoked from network {peering.peer_network}")
    return membership
