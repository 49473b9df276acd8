"""Node descriptors: the self-signed statement of who a node is, served at /.well-known/praevnet.

A descriptor names the node id, display name, base URL, current keys, old keys with the time they
expired, `valid_until` and the protocol versions. Every current key signs it. The node id must be
derived from key version 1, so a descriptor can only speak for the node that holds that key's line.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from protocol import PROTOCOL_VERSION
from protocol.canonical import canonical_bytes, check_profile
from protocol.encoding import b64url, b64url_decode
from protocol.errors import CanonicalError, DescriptorError, ProtocolError, SignatureError
from protocol.keys import NodeKey, check_key_id, check_node_id, node_id_for, public_key_from_b64, verify
from protocol.timestamps import format_timestamp, parse_timestamp

DESCRIPTOR_FIELDS = frozenset({"node_id", "name", "url", "keys", "old_keys", "valid_until", "protocols", "signatures"})
OPTIONAL_FIELDS = frozenset({"revoked", "revocation_version"})
MAX_NAME = 200


def normalize_base_url(text: object) -> str:
    """Check a node's base URL (http or https, no query or fragment) and return it without a trailing /."""
    if not isinstance(text, str) or len(text) > 500:
        raise ProtocolError("a base URL must be a string of at most 500 characters")
    stripped = text.strip()
    if not stripped.isascii() or any(c <= " " or c == "\x7f" for c in stripped):
        raise ProtocolError(f"{text!r}: a base URL is ASCII without spaces or control characters (use punycode)")
    parts = urlsplit(stripped)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProtocolError(f"{text!r} is not an http:// or https:// URL with a host")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ProtocolError(f"{text!r}: a base URL has no query, fragment or user info")
    try:
        port = parts.port
    except ValueError:
        raise ProtocolError(f"{text!r} has an invalid port") from None
    if port == 0:
        raise ProtocolError(f"{text!r} has an invalid port")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def build_descriptor(
    keys: list[NodeKey],
    *,
    node_id: str,
    name: str,
    url: str,
    valid_until: datetime,
    old_keys: Mapping[str, Mapping[str, str]] | None = None,
    revoked: Mapping[str, Mapping[str, str]] | None = None,
    revocation_version: int = 0,
    also_signed_by: list[NodeKey] | None = None,
) -> dict[str, Any]:
    """Build and sign a descriptor with every current key (and `also_signed_by`, e.g. the key it replaces)."""
    body: dict[str, Any] = {
        "node_id": node_id,
        "name": name,
        "url": normalize_base_url(url),
        "keys": {key.key_id: key.public_b64 for key in keys},
        "old_keys": {kid: dict(info) for kid, info in (old_keys or {}).items()},
        "valid_until": format_timestamp(valid_until),
        "protocols": [PROTOCOL_VERSION],
    }
    if revoked or revocation_version:
        body["revoked"] = {kid: dict(info) for kid, info in (revoked or {}).items()}
        body["revocation_version"] = revocation_version
    message = canonical_bytes(body)
    body["signatures"] = {key.key_id: b64url(key.sign(message)) for key in [*keys, *(also_signed_by or [])]}
    return body


def verify_descriptor(descriptor: object, *, now: datetime) -> dict[str, Any]:
    """Check a descriptor's structure, self-signatures, node id derivation and validity period.

    Returns the descriptor. Raises DescriptorError or SignatureError naming the problem.
    """
    if not isinstance(descriptor, Mapping):
        raise DescriptorError("a descriptor must be a JSON object")
    try:
        check_profile(descriptor)
    except CanonicalError as exc:
        raise DescriptorError(str(exc)) from None
    missing = sorted(DESCRIPTOR_FIELDS - set(descriptor))
    if missing:
        raise DescriptorError(f"descriptor field {missing[0]!r} is missing")
    unknown = sorted(set(descriptor) - DESCRIPTOR_FIELDS - OPTIONAL_FIELDS)
    if unknown:
        raise DescriptorError(f"unknown descriptor field {unknown[0]!r}")
    name = descriptor["name"]
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        raise DescriptorError(f"name must be 1 to {MAX_NAME} characters")
    try:
        node_id = check_node_id(descriptor["node_id"])
        if normalize_base_url(descriptor["url"]) != descriptor["url"]:
            raise DescriptorError("url is not in normal form")
        keys = _keys(descriptor["keys"])
        old = _old_keys(descriptor["old_keys"])
        valid_until = parse_timestamp(descriptor["valid_until"])
    except ProtocolError as exc:
        raise DescriptorError(str(exc)) from None
    if not keys:
        raise DescriptorError("descriptor lists no current key")
    first = keys.get("ed25519:1") or old.get("ed25519:1")
    if first is None or node_id_for(first) != node_id:
        raise DescriptorError("node_id is not derived from key ed25519:1")
    protocols = descriptor["protocols"]
    if not isinstance(protocols, list) or PROTOCOL_VERSION not in protocols:
        raise DescriptorError(f"descriptor does not offer protocol {PROTOCOL_VERSION}")
    if valid_until <= now:
        raise DescriptorError("descriptor has expired (valid_until lies in the past)")
    signatures = descriptor["signatures"]
    if not isinstance(signatures, Mapping):
        raise SignatureError("signatures must be an object")
    _check_revocations(descriptor, old)
    message = canonical_bytes({k: v for k, v in descriptor.items() if k != "signatures"})
    for kid in sorted(keys):
        if not isinstance(signatures.get(kid), str):
            raise SignatureError(f"descriptor is not signed by its current key {kid}")
    for kid, sig in sorted(signatures.items()):
        public = keys.get(kid) or old.get(kid)
        if public is None or not isinstance(sig, str):
            raise SignatureError(f"descriptor signature by {kid!r}, which is neither a current nor an old key")
        try:
            verify(public, b64url_decode(sig), message)
        except ProtocolError as exc:
            raise SignatureError(f"descriptor signature by {kid}: {exc}") from None
    return dict(descriptor)


def _check_revocations(descriptor: Mapping[str, Any], old: Mapping[str, bytes]) -> None:
    revoked = descriptor.get("revoked", {})
    version = descriptor.get("revocation_version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise DescriptorError("revocation_version must be a non-negative integer")
    if not isinstance(revoked, Mapping):
        raise DescriptorError("revoked must be an object of key id -> {since}")
    for kid, info in revoked.items():
        if kid not in old:
            raise DescriptorError(f"revoked key {kid!r} must be listed in old_keys")
        if not isinstance(info, Mapping) or set(info) != {"since"}:
            raise DescriptorError(f"revoked.{kid} must have exactly since")
        try:
            parse_timestamp(info["since"])
        except ProtocolError as exc:
            raise DescriptorError(f"revoked.{kid}.since: {exc}") from None
    if len(revoked) > version:
        raise DescriptorError("revocation_version must count at least every revoked key")


def _keys(value: object) -> dict[str, bytes]:
    if not isinstance(value, Mapping):
        raise DescriptorError("keys must be an object of key id -> public key")
    return {check_key_id(kid): public_key_from_b64(pub) for kid, pub in value.items()}


def _old_keys(value: object) -> dict[str, bytes]:
    if not isinstance(value, Mapping):
        raise DescriptorError("old_keys must be an object")
    result = {}
    for kid, info in value.items():
        if not isinstance(info, Mapping) or set(info) != {"key", "expired"}:
            raise DescriptorError(f"old_keys.{kid} must have exactly key and expired")
        parse_timestamp(info["expired"])
        result[check_key_id(kid)] = public_key_from_b64(info["key"])
    return result


def descriptor_keys(descriptor: Mapping[str, Any]) -> dict[str, bytes]:
    """The current public keys of a verified descriptor, by key id."""
    return _keys(descriptor["keys"])


def descriptor_old_keys(descriptor: Mapping[str, Any]) -> dict[str, tuple[bytes, datetime]]:
    """The old keys of a verified descriptor: key id -> (public key, when it stopped being current)."""
    return {
        kid: (public_key_from_b64(info["key"]), parse_timestamp(info["expired"]))
        for kid, info in descriptor["old_keys"].items()
    }


def descriptor_revocations(descriptor: Mapping[str, Any]) -> dict[str, datetime]:
    """Revoked keys of a verified descriptor: key id -> the time from which it counts as compromised."""
    return {kid: parse_timestamp(info["since"]) for kid, info in descriptor.get("revoked", {}).items()}


def follows_from(descriptor: Mapping[str, Any], trusted: Mapping[str, bytes]) -> bool:
    """Whether a verified descriptor is signed by a key we already trust for that node (a rotation we follow)."""
    message = canonical_bytes({k: v for k, v in descriptor.items() if k != "signatures"})
    for kid, public in trusted.items():
        sig = descriptor["signatures"].get(kid)
        if not isinstance(sig, str):
            continue
        try:
            verify(public, b64url_decode(sig), message)
        except ProtocolError:
            continue
        return True
    return False
