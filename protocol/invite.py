"""Invitation codes for pairing in one step, the pairing request's body, and the pair safety number.

An invitation code is `pvinv1.` followed by the base64url of the canonical JSON of
`{"v": 1, "url", "node_id", "fingerprint", "secret", "expires"}`: where the inviting node is, which
node and key the accepting node must find there, a 32-byte one-time secret and the time the code
lapses. The code is a bearer secret: whoever holds it can pair with the inviting node once, so it
travels only over a channel the two officers trust, and they confirm the pairing afterwards by
reading the pair safety number aloud (see SPEC.md section 8.5).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from protocol.canonical import canonical_bytes, parse
from protocol.descriptor import normalize_base_url
from protocol.encoding import b64url, b64url_decode
from protocol.errors import ProtocolError
from protocol.keys import FINGERPRINT_RE, check_node_id, safety_number
from protocol.timestamps import format_timestamp, parse_timestamp

PREFIX = "pvinv1."
VERSION = 1
SECRET_BYTES = 32
MAX_CODE = 2048
CODE_FIELDS = frozenset({"v", "url", "node_id", "fingerprint", "secret", "expires"})
PAIR_FIELDS = frozenset({"secret", "descriptor", "pull_only"})
PAIR_PATH = "/fed/v1/pair"


@dataclass(frozen=True)
class Invitation:
    """What an invitation code says: where the inviter is, its node id and key fingerprint, the secret, the expiry."""

    url: str
    node_id: str
    fingerprint: str
    secret: str
    expires: datetime

    @property
    def expires_text(self) -> str:
        """`expires` as the code carries it (UTC, second precision)."""
        return format_timestamp(self.expires)


def new_secret() -> str:
    """A fresh one-time secret: 32 random bytes as base64url."""
    return b64url(secrets.token_bytes(SECRET_BYTES))


def check_secret(value: object) -> str:
    """Return `value` if it is the base64url text of exactly 32 bytes, else raise ProtocolError."""
    if not isinstance(value, str):
        raise ProtocolError("secret must be a string")
    try:
        raw = b64url_decode(value)
    except ProtocolError as exc:
        raise ProtocolError(f"secret: {exc}") from None
    if len(raw) != SECRET_BYTES:
        raise ProtocolError(f"secret must be {SECRET_BYTES} bytes, not {len(raw)}")
    return value


def secret_hash(secret: str) -> str:
    """The SHA-256 (base64url) of a well-formed secret's bytes: what the inviting node stores."""
    return b64url(hashlib.sha256(b64url_decode(check_secret(secret))).digest())


def make_code(*, url: str, node_id: str, fingerprint: str, secret: str, expires: datetime) -> str:
    """The invitation code for these values; each is checked as `parse_code` would check it."""
    payload = {
        "v": VERSION,
        "url": normalize_base_url(url),
        "node_id": check_node_id(node_id),
        "fingerprint": _check_fingerprint(fingerprint),
        "secret": check_secret(secret),
        "expires": format_timestamp(expires),
    }
    return PREFIX + b64url(canonical_bytes(payload))


def parse_code(text: object) -> Invitation:
    """Parse and check an invitation code; raise ProtocolError naming the first problem.

    Surrounding whitespace is ignored; anything else that is not exactly the form `make_code` writes
    is refused: the prefix, strict base64url, canonical JSON in the strict profile, exactly the six
    fields with their types, a URL in normal form, a well-formed node id and fingerprint, a 32-byte
    secret and a UTC expiry time.
    """
    if not isinstance(text, str):
        raise ProtocolError("an invitation code is text")
    code = text.strip()
    if len(code) > MAX_CODE:
        raise ProtocolError(f"invitation code is longer than {MAX_CODE} characters")
    if not code.startswith(PREFIX):
        raise ProtocolError(f"not an invitation code: it must start with {PREFIX}")
    try:
        raw = b64url_decode(code[len(PREFIX) :])
    except ProtocolError as exc:
        raise ProtocolError(f"invitation code is damaged: {exc}") from None
    try:
        value = parse(raw)
    except ProtocolError as exc:
        raise ProtocolError(f"invitation code is damaged: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError("invitation code does not hold a JSON object")
    missing = sorted(CODE_FIELDS - set(value))
    if missing:
        raise ProtocolError(f"invitation code lacks the field {missing[0]!r}")
    unknown = sorted(set(value) - CODE_FIELDS)
    if unknown:
        raise ProtocolError(f"invitation code has the unknown field {unknown[0]!r}")
    if type(value["v"]) is not int or value["v"] != VERSION:
        raise ProtocolError(f"unsupported invitation version {value['v']!r}; this node reads version {VERSION}")
    if canonical_bytes(value) != raw:
        raise ProtocolError("invitation code is not in canonical form")
    url = value["url"]
    try:
        normal = normalize_base_url(url)
    except ProtocolError as exc:
        raise ProtocolError(f"invitation url: {exc}") from None
    if normal != url:
        raise ProtocolError(f"invitation url {url!r} is not in normal form ({normal})")
    return Invitation(
        url=url,
        node_id=check_node_id(value["node_id"]),
        fingerprint=_check_fingerprint(value["fingerprint"]),
        secret=check_secret(value["secret"]),
        expires=_check_expires(value["expires"]),
    )


def _check_fingerprint(value: object) -> str:
    if not isinstance(value, str) or not FINGERPRINT_RE.match(value):
        raise ProtocolError(f"malformed fingerprint {value!r}; expected SHA256: and 43 base64 characters")
    return value


def _check_expires(value: object) -> datetime:
    moment = parse_timestamp(value)
    if format_timestamp(moment) != value:
        raise ProtocolError(f"expires {value!r} must be UTC with second precision, like 2026-01-15T09:30:00Z")
    return moment.astimezone(UTC)


def pair_request(secret: str, descriptor: Mapping[str, Any], *, pull_only: bool) -> dict[str, Any]:
    """The body of POST /fed/v1/pair."""
    return {"secret": check_secret(secret), "descriptor": dict(descriptor), "pull_only": pull_only}


def parse_pair_request(value: object) -> tuple[str, Mapping[str, Any], bool]:
    """Check the structure of a POST /fed/v1/pair body; return secret, descriptor (unverified), pull_only."""
    if not isinstance(value, dict):
        raise ProtocolError("the pairing request must be a JSON object")
    missing = sorted(PAIR_FIELDS - set(value))
    if missing:
        raise ProtocolError(f"pairing request field {missing[0]!r} is missing")
    unknown = sorted(set(value) - PAIR_FIELDS)
    if unknown:
        raise ProtocolError(f"unknown pairing request field {unknown[0]!r}")
    if not isinstance(value["descriptor"], dict):
        raise ProtocolError("descriptor must be a JSON object")
    if type(value["pull_only"]) is not bool:
        raise ProtocolError("pull_only must be true or false")
    return check_secret(value["secret"]), value["descriptor"], value["pull_only"]


def pair_safety_number(public_a: bytes, public_b: bytes) -> str:
    """The 60-digit number two officers read to each other: both keys' safety numbers, in sorted order.

    Twelve groups of five digits joined by single spaces; the same on both sides, whichever key is `a`.
    """
    return " ".join(sorted((safety_number(public_a), safety_number(public_b))))
