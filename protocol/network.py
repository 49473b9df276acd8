"""Networks: membership certificates, revocation lists and join bundles, signed by a network key.

A network (DEFUS, a state prevention council, ...) has its own Ed25519 key, kept apart from any
node key; its id is derived from that key. The operator signs a membership certificate for each
member node, naming the member's node id and key fingerprint, its roles, a validity window and a
serial, and publishes a signed, versioned, expiring revocation list. Members accept each other for
network-scoped records without pairing while a certificate is valid, names the presenting key and
is not revoked; a revocation list older than one already held is refused (no rollback).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from protocol.canonical import MAX_SAFE_INTEGER, canonical_bytes, check_profile, parse
from protocol.descriptor import descriptor_keys, descriptor_old_keys, follows_from, normalize_base_url
from protocol.encoding import b64url, b64url_decode
from protocol.errors import CanonicalError, ProtocolError, SignatureError
from protocol.keys import FINGERPRINT_RE, NodeKey, check_node_id, fingerprint, public_key_from_b64, verify
from protocol.timestamps import format_timestamp, parse_timestamp

NETWORK_ID_RE = re.compile(r"\Anw[a-z2-7]{32}\Z")
ROLES = ("member", "hub")
BUNDLE_PREFIX = "pvnet1."
MAX_NAME = 200
MEMBERS, REVOCATIONS, LEAVE = "members", "revocations", "leave"


def network_path(network_id: str, endpoint: str) -> str:
    """The path of one of a network's endpoints: /fed/v1/networks/{network id}/{members|revocations|leave}."""
    if endpoint not in (MEMBERS, REVOCATIONS, LEAVE):
        raise ProtocolError(f"no network endpoint {endpoint!r}")
    return f"/fed/v1/networks/{check_network_id(network_id)}/{endpoint}"


def network_id_for(public_key: bytes) -> str:
    """Derive a network id from the network's public key: `nw` + base32 of 20 bytes of SHA-256."""
    digest = hashlib.sha256(b"praevnet-network-id:" + public_key).digest()[:20]
    return "nw" + base64.b32encode(digest).decode("ascii").lower()


def check_network_id(text: object) -> str:
    """Return `text` if it is a well-formed network id, else raise ProtocolError."""
    if not isinstance(text, str) or not NETWORK_ID_RE.match(text):
        raise ProtocolError(f"malformed network id {text!r}")
    return text


def _sign(key: NodeKey, body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "signature": b64url(key.sign(canonical_bytes(body)))}


def _verified_body(document: object, public: bytes, what: str, fields: frozenset[str]) -> dict[str, Any]:
    if not isinstance(document, Mapping):
        raise ProtocolError(f"a {what} must be a JSON object")
    try:
        check_profile(document)
    except CanonicalError as exc:
        raise ProtocolError(f"{what}: {exc}") from None
    expected = fields | {"signature"}
    if set(document) != expected:
        missing = sorted(expected - set(document))
        raise ProtocolError(
            f"{what}: missing field {missing[0]!r}"
            if missing
            else f"{what}: unknown field {sorted(set(document) - expected)[0]!r}"
        )
    body = {k: v for k, v in document.items() if k != "signature"}
    signature = document["signature"]
    if not isinstance(signature, str):
        raise SignatureError(f"{what} is not signed")
    try:
        verify(public, b64url_decode(signature), canonical_bytes(body))
    except ProtocolError as exc:
        raise SignatureError(f"{what}: the network's signature does not verify ({exc})") from None
    return body


CERT_FIELDS = frozenset({"type", "network", "node_id", "fingerprint", "roles", "not_before", "expires", "serial"})


def issue_certificate(
    network_key: NodeKey,
    *,
    node_id: str,
    fingerprint: str,
    roles: Sequence[str],
    not_before: datetime,
    expires: datetime,
    serial: int,
) -> dict[str, Any]:
    """A membership certificate for one member node's key, signed by the network key."""
    if not roles or any(role not in ROLES for role in roles):
        raise ProtocolError(f"roles must be a non-empty subset of {', '.join(ROLES)}")
    if not isinstance(fingerprint, str) or not FINGERPRINT_RE.match(fingerprint):
        raise ProtocolError("the certificate's fingerprint is malformed")
    if isinstance(serial, bool) or not isinstance(serial, int) or not 1 <= serial <= MAX_SAFE_INTEGER:
        raise ProtocolError("the certificate's serial must be a positive integer")
    valid_from, valid_until = format_timestamp(not_before), format_timestamp(expires)
    if parse_timestamp(valid_until) <= parse_timestamp(valid_from):  # as signed: whole seconds, UTC
        raise ProtocolError("a certificate must expire after it becomes valid")
    return _sign(
        network_key,
        {
            "type": "membership",
            "network": network_id_for(network_key.public),
            "node_id": check_node_id(node_id),
            "fingerprint": fingerprint,
            "roles": sorted(set(roles)),
            "not_before": valid_from,
            "expires": valid_until,
            "serial": serial,
        },
    )


@dataclass(frozen=True)
class Membership:
    """A verified membership certificate."""

    network: str
    node_id: str
    fingerprint: str
    roles: tuple[str, ...]
    not_before: datetime
    expires: datetime
    serial: int


def verify_certificate(certificate: object, network_public: bytes, *, now: datetime) -> Membership:
    """Check a certificate's network signature, fields and validity window; raise ProtocolError naming the problem."""
    body = _verified_body(certificate, network_public, "membership certificate", CERT_FIELDS)
    if body["type"] != "membership":
        raise ProtocolError("not a membership certificate")
    if body["network"] != network_id_for(network_public):
        raise ProtocolError("the certificate is for another network")
    check_node_id(body["node_id"])
    if not isinstance(body["fingerprint"], str) or not FINGERPRINT_RE.match(body["fingerprint"]):
        raise ProtocolError("the certificate's fingerprint is malformed")
    roles = body["roles"]
    if not isinstance(roles, list) or not roles or any(role not in ROLES for role in roles):
        raise ProtocolError(f"the certificate's roles must be a non-empty subset of {', '.join(ROLES)}")
    if len(set(roles)) != len(roles):
        raise ProtocolError("the certificate names a role twice")
    serial = body["serial"]
    if isinstance(serial, bool) or not isinstance(serial, int) or serial < 1:
        raise ProtocolError("the certificate's serial must be a positive integer")
    not_before, expires = parse_timestamp(body["not_before"]), parse_timestamp(body["expires"])
    if now < not_before:
        raise ProtocolError("the certificate is not valid yet")
    if now >= expires:
        raise ProtocolError("the certificate has expired")
    return Membership(body["network"], body["node_id"], body["fingerprint"], tuple(roles), not_before, expires, serial)


REVOCATION_FIELDS = frozenset({"type", "network", "version", "issued", "expires", "revoked"})


def issue_revocations(
    network_key: NodeKey, *, version: int, issued: datetime, expires: datetime, revoked: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """A signed revocation list: every revoked certificate serial with its node id and the time since."""
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_SAFE_INTEGER:
        raise ProtocolError("the revocation list's version must be a positive integer")
    issued_text, expires_text = format_timestamp(issued), format_timestamp(expires)
    if parse_timestamp(expires_text) <= parse_timestamp(issued_text):
        raise ProtocolError("a revocation list must expire after it is issued")
    return _sign(
        network_key,
        {
            "type": "revocations",
            "network": network_id_for(network_key.public),
            "version": version,
            "issued": issued_text,
            "expires": expires_text,
            "revoked": [dict(entry) for entry in revoked],
        },
    )


@dataclass(frozen=True)
class Revocations:
    """A verified revocation list."""

    network: str
    version: int
    expires: datetime
    serials: frozenset[int]
    nodes: frozenset[str]


def verify_revocations(document: object, network_public: bytes, *, now: datetime, held_version: int = 0) -> Revocations:
    """Check a revocation list: signature, network, expiry, and no rollback below `held_version`."""
    body = _verified_body(document, network_public, "revocation list", REVOCATION_FIELDS)
    if body["type"] != "revocations" or body["network"] != network_id_for(network_public):
        raise ProtocolError("not a revocation list of this network")
    version = body["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ProtocolError("the revocation list's version must be a positive integer")
    if version < held_version:
        raise ProtocolError(f"revocation list rolled back from version {held_version} to {version}")
    issued, expires = parse_timestamp(body["issued"]), parse_timestamp(body["expires"])
    if expires <= issued:
        raise ProtocolError("the revocation list expires before it was issued")
    if now >= expires:
        raise ProtocolError("the revocation list has expired")
    serials, nodes = set(), set()
    if not isinstance(body["revoked"], list):
        raise ProtocolError("revoked must be an array")
    for entry in body["revoked"]:
        if not isinstance(entry, Mapping) or set(entry) != {"serial", "node_id", "since"}:
            raise ProtocolError("each revoked entry has exactly serial, node_id and since")
        if isinstance(entry["serial"], bool) or not isinstance(entry["serial"], int) or entry["serial"] < 1:
            raise ProtocolError("a revoked serial must be a positive integer")
        parse_timestamp(entry["since"])
        serials.add(entry["serial"])
        nodes.add(check_node_id(entry["node_id"]))
    return Revocations(body["network"], version, expires, frozenset(serials), frozenset(nodes))


def check_member(
    certificate: object,
    network_public: bytes,
    revocations: Revocations | None,
    *,
    node_id: str,
    fingerprints: Sequence[str],
    now: datetime,
) -> Membership:
    """Everything a member checks before accepting another: valid certificate, for that node and one
    of its current key fingerprints, and neither its serial nor its node revoked.

    `revocations` is the held list of the same network, which must not have expired; None (no list
    held yet) skips the revocation checks.
    """
    membership = verify_certificate(certificate, network_public, now=now)
    if revocations is not None and revocations.network != membership.network:
        raise ProtocolError("the revocation list is of another network")
    if revocations is not None and now >= revocations.expires:
        raise ProtocolError("the held revocation list has expired; fetch a current one")
    if membership.node_id != node_id:
        raise ProtocolError("the certificate names another node")
    if membership.fingerprint not in fingerprints:
        raise ProtocolError("the certificate is for another key")
    if revocations is not None and (
        membership.serial in revocations.serials or membership.node_id in revocations.nodes
    ):
        raise ProtocolError("the membership has been revoked")
    return membership


def member_fingerprints(current: Mapping[str, bytes], old: Mapping[str, bytes], revoked: Collection[str]) -> list[str]:
    """The fingerprints a membership certificate of a node may name (section 8A.4, step 4): those of its
    current keys and of the old keys it rotated away from, none of them revoked.

    `current`, `old` (key id -> public key) and `revoked` (key ids) are what the receiver holds for
    that node; its old keys are adopted only by following a rotation (section 6.5).
    """
    return sorted({fingerprint(public) for kid, public in {**old, **current}.items() if kid not in revoked})


def vouched_fingerprints(descriptor: Mapping[str, Any]) -> list[str]:
    """The fingerprints a certificate may name for a node first seen by this verified descriptor: its
    current keys, and each old key that is not revoked and has signed this very descriptor, so that it
    vouches for the current keys like a rotation (section 6.5). A merely listed old key does not count."""
    revoked = descriptor.get("revoked", {})
    old = {
        kid: public
        for kid, (public, _) in descriptor_old_keys(descriptor).items()
        if kid not in revoked and follows_from(descriptor, {kid: public})
    }
    return member_fingerprints(descriptor_keys(descriptor), old, revoked)


def make_bundle(
    *, network_public: bytes, name: str, operator_url: str, operator_fingerprint: str, certificate: Mapping[str, Any]
) -> str:
    """A join code for one member: the network's key and name, its operator, and the member's certificate."""
    body = {
        "network": network_id_for(network_public),
        "name": name,
        "key": b64url(network_public),
        "operator_url": normalize_base_url(operator_url),
        "operator_fingerprint": operator_fingerprint,
        "certificate": dict(certificate),
    }
    return BUNDLE_PREFIX + b64url(canonical_bytes(body))


@dataclass(frozen=True)
class Bundle:
    """A parsed join code; the certificate is not verified yet (see verify_certificate)."""

    network: str
    name: str
    key: bytes
    operator_url: str
    operator_fingerprint: str
    certificate: dict[str, Any]


def parse_bundle(text: str) -> Bundle:
    """Parse a join code; raise ProtocolError naming what is malformed."""
    if not isinstance(text, str):
        raise ProtocolError("a network join code is text")
    text = text.strip()
    if not text.startswith(BUNDLE_PREFIX):
        raise ProtocolError(f"a network join code starts with {BUNDLE_PREFIX}")
    raw = b64url_decode(text[len(BUNDLE_PREFIX) :])
    body = parse(raw)
    fields = {"network", "name", "key", "operator_url", "operator_fingerprint", "certificate"}
    if not isinstance(body, dict) or set(body) != fields:
        raise ProtocolError("the join code does not hold exactly " + ", ".join(sorted(fields)))
    if canonical_bytes(body) != raw:
        raise ProtocolError("the join code is not in canonical form")
    key = public_key_from_b64(body["key"])
    if check_network_id(body["network"]) != network_id_for(key):
        raise ProtocolError("the join code's network id does not belong to its key")
    if not isinstance(body["name"], str) or not 0 < len(body["name"]) <= MAX_NAME:
        raise ProtocolError("the network name must be 1 to 200 characters")
    if not isinstance(body["operator_fingerprint"], str) or not FINGERPRINT_RE.match(body["operator_fingerprint"]):
        raise ProtocolError("the operator fingerprint is malformed")
    if not isinstance(body["certificate"], dict):
        raise ProtocolError("the certificate must be an object")
    return Bundle(
        body["network"],
        body["name"],
        key,
        normalize_base_url(body["operator_url"]),
        body["operator_fingerprint"],
        body["certificate"],
    )
