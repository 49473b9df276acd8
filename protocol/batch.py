"""Verifying many envelopes at once, such as an outbox page, against a plain table of keys.

Pure and free of callbacks into storage, so that a node can run it in another process: the keys
travel with the work as `{origin: {key id: raw public key}}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from protocol.canonical import parse_scanned
from protocol.envelope import KeyResolver, VerifiedEnvelope, verify_envelope
from protocol.errors import ProtocolError
from protocol.wire import parse_outbox_page

KeyTable = Mapping[str, Mapping[str, bytes]]
"""{origin node id: {key id: raw Ed25519 public key}}: every key that may verify an origin's records."""


def table_resolver(keys: KeyTable) -> KeyResolver:
    """resolve(origin, key id) over a key table."""

    def resolve(origin: str, key_id: str) -> bytes | None:
        return keys.get(origin, {}).get(key_id)

    return resolve


def verify_each(
    envelopes: Sequence[Any], resolve: KeyResolver, astral: bool | None = None
) -> list[VerifiedEnvelope | str]:
    """Verify every envelope; each result is the verified envelope or the reason it was refused.

    `astral` as for verify_envelope: only for envelopes of a document parsed by parse_scanned.
    """
    checked: list[VerifiedEnvelope | str] = []
    for envelope in envelopes:
        try:
            checked.append(verify_envelope(envelope, resolve, astral=astral))
        except ProtocolError as exc:
            checked.append(str(exc))
    return checked


def verify_outbox_body(body: bytes, keys: KeyTable) -> list[VerifiedEnvelope | str]:
    """Parse an outbox page strictly and verify each of its envelopes against `keys`.

    Raises ProtocolError if the page itself is malformed; a bad envelope only gets its reason.
    """
    value, astral = parse_scanned(body)
    envelopes, _, _ = parse_outbox_page(value)
    return verify_each(envelopes, table_resolver(keys), astral)
