"""Content-Digest (RFC 9530) over the exact bytes of a message body.

A node sends `sha-256`; a receiver accepts `sha-256` and `sha-512` members, and every member given
must match the body (SPEC.md 7.2, rule 6).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

from protocol.errors import SignatureError
from protocol.structured import Member, parse_dictionary, parse_item

HASHES: dict[str, Callable[[bytes], hashlib._Hash]] = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


def content_digest(body: bytes) -> str:
    """The Content-Digest field value a node sends for `body`: `sha-256=:<base64>:`."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def check_content_digest(value: str, body: bytes) -> None:
    """Check a Content-Digest field value against `body`; SignatureError naming the problem otherwise."""
    if value == content_digest(body):  # what every node sends: it parses to exactly the one matching member
        return
    try:
        members = parse_dictionary(value, unique=True)
    except ValueError as exc:
        raise SignatureError(f"Malformed Content-Digest field: {exc}") from None
    _check_members(members, body)


def check_digest_member(value: str, algorithm: str, body: bytes) -> None:
    """Check one serialised member of Content-Digest (a `"content-digest";key=...` component) against `body`."""
    try:
        member = parse_item(value)
    except ValueError as exc:
        raise SignatureError(f"Malformed Content-Digest field: {exc}") from None
    _check_members({algorithm: member}, body)


def _check_members(members: dict[str, Member], body: bytes) -> None:
    if not members:
        raise SignatureError("Content-Digest must contain at least one digest")
    for algorithm, (digest, _) in members.items():
        if not isinstance(digest, bytes):
            raise SignatureError("Content digest values must be Structured Field byte sequences")
        hasher = HASHES.get(algorithm)
        if hasher is None:
            raise SignatureError(f"Unsupported content digest algorithm {algorithm!r}")
        expected = hasher(body).digest()
        if len(digest) != len(expected):
            raise SignatureError(f"Invalid {algorithm} digest length")
        if not hmac.compare_digest(digest, expected):
            raise SignatureError("Content-Digest does not match the message body")
