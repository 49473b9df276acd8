"""Signed envelopes: the unit in which a city's records and alerts travel between nodes.

The origin signs the redacted form of an envelope (everything but `content`, `signatures` and the
transport-only `unsigned`), which carries the SHA-256 of the canonical content. A receiver can
therefore erase the content later and keep a tombstone that still verifies. `seq` and `prev`
chain each origin's envelopes so that gaps and forks become visible.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from protocol.canonical import canonical_bytes, encode_scanned, scan
from protocol.encoding import b64url, b64url_decode, sha256_b64url
from protocol.errors import CanonicalError, EnvelopeError, ProtocolError, SchemaError, SignatureError
from protocol.keys import NodeKey, check_key_id, check_node_id, verify
from protocol.network import check_network_id
from protocol.records import Kind, check_kind, validate_content
from protocol.timestamps import format_timestamp, parse_timestamp
from protocol.tlp import check_label

ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}\Z")
HASH_RE = re.compile(r"^[A-Za-z0-9_-]{43}\Z")
SIGNED_FIELDS = frozenset({"type", "id", "version", "tlp", "origin", "seq", "prev", "created", "hashes", "network"})
OPTIONAL_SIGNED = frozenset({"network"})  # signed when present; absent in envelopes not scoped to a network
ENVELOPE_FIELDS = SIGNED_FIELDS | {"content", "signatures", "unsigned"}
UNSIGNED_MEMBERS = frozenset({"crossing"})  # what the transport-only `unsigned` may carry (SPEC 4, 8A.7)
MAX_SEQ = 2**53 - 1

KeyResolver = Callable[[str, str], bytes | None]
"""resolve(origin node id, key id) -> trusted raw public key, or None if unknown."""


def content_hash(content: Mapping[str, Any]) -> str:
    """SHA-256 (base64url) of the canonical bytes of the content."""
    return sha256_b64url(canonical_bytes(content))


def signing_form(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The redacted form that the origin signs: the envelope without content, signatures, unsigned."""
    return {name: envelope[name] for name in SIGNED_FIELDS if name in envelope}


def signed_bytes(envelope: Mapping[str, Any]) -> bytes:
    """The canonical bytes covered by the origin's signature."""
    return canonical_bytes(signing_form(envelope))


def envelope_ref(envelope: Mapping[str, Any]) -> str:
    """The envelope's reference hash, used as `prev` by the next envelope of the same origin."""
    return sha256_b64url(signed_bytes(envelope))


def build_envelope(
    key: NodeKey,
    *,
    origin: str,
    kind: Kind,
    record_id: str,
    version: int,
    tlp: str,
    seq: int,
    prev: str | None,
    created: datetime,
    content: Mapping[str, Any],
    network: str | None = None,
) -> dict[str, Any]:
    """Sign new envelope. Content must already be free of local fields; it is validated here again.

    With `network` (a network id), the origin states in the signed part that the envelope is for
    distribution within that network, so that a hub of the network may relay it unchanged.
    """
    validate_content(kind, content, allow_local=False)
    envelope: dict[str, Any] = {
        "type": kind,
        "id": record_id,
        "version": version,
        "tlp": tlp,
        "origin": origin,
        "seq": seq,
        "prev": prev,
        "created": format_timestamp(created),
        "content": dict(content),
        "hashes": {"sha256": content_hash(content)},
    }
    if network is not None:
        envelope["network"] = network
    _check_structure(envelope)
    envelope["signatures"] = {key.key_id: b64url(key.sign(signed_bytes(envelope)))}
    return envelope


def redact(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope without its content: a tombstone that still verifies."""
    return {name: value for name, value in envelope.items() if name not in ("content", "unsigned")}


@dataclass(frozen=True)
class VerifiedEnvelope:
    """An envelope whose origin signature and content hash have been checked.

    `canonical` holds the envelope's canonical bytes; `envelope` parses them on first use (the
    verifier fills it in at once), so that a result pickled in a worker process carries the
    envelope once, as bytes. `expires` is an alert's expiry time.
    """

    kind: Kind
    id: str
    version: int
    tlp: str
    origin: str
    seq: int
    prev: str | None
    created: datetime
    ref: str
    key_id: str
    has_content: bool
    canonical: bytes
    network: str | None = None
    expires: datetime | None = None

    @functools.cached_property
    def envelope(self) -> dict[str, Any]:
        """The envelope as parsed JSON."""
        return dict(json.loads(self.canonical))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle the fields only, not the parsed envelope."""
        return VerifiedEnvelope, tuple(getattr(self, field.name) for field in dataclasses.fields(self))


def _check_structure(envelope: Mapping[str, Any]) -> None:
    unknown = sorted(set(envelope) - ENVELOPE_FIELDS)
    if unknown:
        raise EnvelopeError(f"unknown envelope field {unknown[0]!r}")
    for name in sorted(SIGNED_FIELDS - {"prev"} - OPTIONAL_SIGNED):
        if name not in envelope:
            raise EnvelopeError(f"envelope field {name!r} is missing")
    if "prev" not in envelope:
        raise EnvelopeError("envelope field 'prev' is missing")
    try:
        check_kind(envelope["type"])
    except SchemaError as exc:
        raise EnvelopeError(str(exc)) from None
    if not isinstance(envelope["id"], str) or not ID_RE.match(envelope["id"]):
        raise EnvelopeError("id must be 8 to 64 characters of A-Z, a-z, 0-9, '_' or '-'")
    try:
        check_node_id(envelope["origin"])
        parse_timestamp(envelope["created"])
    except ProtocolError as exc:
        raise EnvelopeError(str(exc)) from None
    version = envelope["version"]
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_SEQ:
        raise EnvelopeError("version must be a positive integer")
    try:
        check_label(envelope["tlp"])
    except SchemaError as exc:
        raise EnvelopeError(str(exc)) from None
    seq, prev = envelope["seq"], envelope["prev"]
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= MAX_SEQ:
        raise EnvelopeError("seq must be a positive integer")
    if seq == 1 and prev is not None:
        raise EnvelopeError("the first envelope of an origin (seq 1) has prev null")
    if seq > 1 and (not isinstance(prev, str) or not HASH_RE.match(prev)):
        raise EnvelopeError("prev must be the base64url SHA-256 of the origin's previous envelope")
    hashes = envelope["hashes"]
    if not isinstance(hashes, Mapping) or set(hashes) != {"sha256"} or not isinstance(hashes["sha256"], str):
        raise EnvelopeError("hashes must be an object with exactly one member, sha256")
    if not HASH_RE.match(hashes["sha256"]):
        raise EnvelopeError("hashes.sha256 is not a base64url SHA-256")
    if "network" in envelope:
        try:
            check_network_id(envelope["network"])
        except ProtocolError as exc:
            raise EnvelopeError(f"network: {exc}") from None
    if "unsigned" in envelope:
        _check_unsigned(envelope["unsigned"])


def _check_unsigned(unsigned: object) -> None:
    """`unsigned` carries only what SPEC section 4 defines for it (UNSIGNED_MEMBERS), each an object.

    Nothing in it is covered by a signature, so a receiver stores and passes on nothing else there.
    """
    if not isinstance(unsigned, Mapping):
        raise EnvelopeError("unsigned must be an object")
    if not unsigned:
        raise EnvelopeError("unsigned, when present, must hold " + " or ".join(sorted(UNSIGNED_MEMBERS)))
    for name, value in unsigned.items():
        if name not in UNSIGNED_MEMBERS:
            raise EnvelopeError(f"unsigned may hold only {', '.join(sorted(UNSIGNED_MEMBERS))}; refusing {name!r}")
        if not isinstance(value, Mapping):
            raise EnvelopeError(f"unsigned.{name} must be an object")


def _canonical_whole(envelope: Mapping[str, Any], signed: bytes, content: bytes | None, astral: bool) -> bytes:
    """The canonical bytes of a checked envelope, joined from parts already encoded: its content and its
    signing form. JCS is compositional and the top-level keys are fixed, so they are `{"content":...,`
    then the signed members up to `"tlp"` (no signed value can hold a quote, so that key is found
    exactly), then `"signatures":...`, then the rest. An envelope with `unsigned` is encoded whole."""
    if "unsigned" in envelope:
        return encode_scanned(envelope, astral)
    at = signed.index(b',"tlp":') + 1
    head = b'{"content":' + content + b"," if content is not None else b"{"
    return head + signed[1:at] + b'"signatures":' + encode_scanned(envelope["signatures"], astral) + b"," + signed[at:]


SignatureCheck = tuple[bytes, bytes, bytes]
"""One Ed25519 check an envelope needs: (public key, signature, message), for protocol.keys.verify."""


@dataclass(frozen=True)
class PreparedEnvelope:
    """An envelope with every check done but its Ed25519 signature checks, which `checks` lists.

    The verdict (`settle`): the first check that fails, else `problem` (a reason found after the
    signatures in verify_envelope's order, such as a content hash that does not match), else `verified`.
    Splitting them lets a node run the checks in other processes while it goes on with the batch.
    """

    checks: tuple[SignatureCheck, ...]
    verified: VerifiedEnvelope | None
    problem: ProtocolError | None = None

    def settle(self, failures: Mapping[int, str]) -> VerifiedEnvelope:
        """The verdict, given why checks failed (by index into `checks`; none failed if empty):
        the verified envelope, or the ProtocolError that verify_envelope would raise."""
        for index in range(len(self.checks)):
            if index in failures:
                raise SignatureError(failures[index])
        if self.problem is not None:
            raise self.problem
        if self.verified is None:  # never: a prepared envelope holds a problem or the verified envelope
            raise EnvelopeError("envelope was not verified")
        return self.verified


def verify_envelope(envelope: object, resolve: KeyResolver, *, astral: bool | None = None) -> VerifiedEnvelope:
    """Check an envelope completely: structure, origin signature, content hash and content schema.

    A content-less envelope (a tombstone) verifies too; `has_content` tells which it is. Pass
    `astral` only for an envelope inside a document that protocol.canonical.parse_scanned returned
    it for: the envelope is then not scanned again. Raises EnvelopeError, SignatureError or
    SchemaError with a message naming the problem.
    """
    prepared = prepare_envelope(envelope, resolve, astral=astral)
    return prepared.settle(run_checks(prepared.checks))


def run_checks(checks: Sequence[SignatureCheck]) -> dict[int, str]:
    """Run Ed25519 checks; return why each one that failed did, by its index."""
    failures: dict[int, str] = {}
    for index, (public, signature, message) in enumerate(checks):
        try:
            verify(public, signature, message)
        except SignatureError as exc:
            failures[index] = str(exc)
    return failures


def prepare_envelope(envelope: object, resolve: KeyResolver, *, astral: bool | None = None) -> PreparedEnvelope:
    """Every check of verify_envelope but the Ed25519 ones, which the result lists in the order verify_envelope
    makes them; `PreparedEnvelope.settle` gives verify_envelope's verdict once they have run.

    Raises what verify_envelope raises before its first signature check (structure, profile, not signed).
    """
    if not isinstance(envelope, Mapping):
        raise EnvelopeError("an envelope must be a JSON object")
    if astral is None:
        try:
            astral = scan(envelope)
        except CanonicalError as exc:
            raise EnvelopeError(str(exc)) from None
    _check_structure(envelope)
    signatures = envelope.get("signatures")
    if not isinstance(signatures, Mapping) or not signatures:
        raise SignatureError("envelope is not signed")
    origin = envelope["origin"]
    message = encode_scanned(signing_form(envelope), astral)
    checks: list[SignatureCheck] = []
    verified_with: str | None = None
    for kid, sig in sorted(signatures.items()):
        try:
            check_key_id(kid)
            signature = b64url_decode(sig)
        except ProtocolError as exc:
            return PreparedEnvelope(
                tuple(checks), None, SignatureError(f"malformed origin signature under {kid!r}: {exc}")
            )
        public = resolve(origin, kid)
        if public is None:
            continue
        checks.append((public, signature, message))
        verified_with = verified_with or kid
    if verified_with is None:
        return PreparedEnvelope((), None, SignatureError(f"no signature by a known key of origin {origin}"))
    try:
        verified = _verified(envelope, message, verified_with, astral)
    except ProtocolError as exc:
        return PreparedEnvelope(tuple(checks), None, exc)
    return PreparedEnvelope(tuple(checks), verified)


def _verified(envelope: Mapping[str, Any], message: bytes, key_id: str, astral: bool) -> VerifiedEnvelope:
    """The checks after the signatures (content present is an object, its hash, its schema) and the result."""
    has_content = "content" in envelope
    kind = check_kind(envelope["type"])
    content_bytes: bytes | None = None
    if has_content:
        content = envelope["content"]
        if not isinstance(content, Mapping):
            raise EnvelopeError("content must be an object")
        content_bytes = encode_scanned(content, astral)
        if sha256_b64url(content_bytes) != envelope["hashes"]["sha256"]:
            raise EnvelopeError("content does not match hashes.sha256")
        validate_content(kind, content, allow_local=False)
    verified = VerifiedEnvelope(
        kind=kind,
        id=envelope["id"],
        version=envelope["version"],
        tlp=envelope["tlp"],
        origin=envelope["origin"],
        seq=envelope["seq"],
        prev=envelope["prev"],
        created=parse_timestamp(envelope["created"]),
        ref=sha256_b64url(message),
        key_id=key_id,
        has_content=has_content,
        canonical=_canonical_whole(envelope, message, content_bytes, astral),
        network=envelope.get("network"),
        expires=parse_timestamp(envelope["content"]["expires"]) if kind == "alert" and has_content else None,
    )
    verified.__dict__["envelope"] = dict(envelope)  # already parsed: spare `envelope` the work
    return verified
