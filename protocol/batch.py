"""Verifying many envelopes at once, such as an outbox page, against a plain table of keys.

Pure and free of callbacks into storage, so that a node can run it in another process: the keys
travel with the work as `{origin: {key id: raw public key}}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from protocol.canonical import parse_scanned
from protocol.envelope import (
    KeyResolver,
    PreparedEnvelope,
    SignatureCheck,
    VerifiedEnvelope,
    prepare_envelope,
    run_checks,
)
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
    prepared = prepare_each(envelopes, resolve, astral)
    return settle_each(prepared, run_checks(checks_of(prepared)))


Prepared = PreparedEnvelope | str
"""An envelope prepared for its signature checks, or the reason it was refused before them."""


def prepare_each(envelopes: Sequence[Any], resolve: KeyResolver, astral: bool | None = None) -> list[Prepared]:
    """Prepare every envelope (protocol.envelope.prepare_envelope); one that fails before its signature
    checks gets its reason."""
    prepared: list[Prepared] = []
    for envelope in envelopes:
        try:
            prepared.append(prepare_envelope(envelope, resolve, astral=astral))
        except ProtocolError as exc:
            prepared.append(str(exc))
    return prepared


def checks_of(prepared: Sequence[Prepared]) -> list[SignatureCheck]:
    """The Ed25519 checks of prepared envelopes, all in one list, in order (`settle_each` splits their outcomes)."""
    return [check for item in prepared if not isinstance(item, str) for check in item.checks]


def settle_each(prepared: Sequence[Prepared], failures: Mapping[int, str]) -> list[VerifiedEnvelope | str]:
    """Each envelope's verdict, given why checks of `checks_of(prepared)` failed, by their index in it."""
    checked: list[VerifiedEnvelope | str] = []
    start = 0
    for item in prepared:
        if isinstance(item, str):
            checked.append(item)
            continue
        mine = {index - start: why for index, why in failures.items() if start <= index < start + len(item.checks)}
        start += len(item.checks)
        try:
            checked.append(item.settle(mine))
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
