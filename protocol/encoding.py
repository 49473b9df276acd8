"""Byte encodings used on the wire: unpadded base64url, and SHA-256 digests in that form."""

from __future__ import annotations

import base64
import binascii
import hashlib

from protocol.errors import ProtocolError


def b64url(data: bytes) -> str:
    """Encode bytes as base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url strictly; raise ProtocolError on anything else."""
    if not isinstance(text, str) or "=" in text or not text.isascii():
        raise ProtocolError("expected unpadded base64url text")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ProtocolError("malformed base64url text") from None
    if b64url(data) != text:
        raise ProtocolError("non-canonical base64url text")
    return data


def sha256_b64url(data: bytes) -> str:
    """SHA-256 of `data`, base64url without padding."""
    return b64url(hashlib.sha256(data).digest())
