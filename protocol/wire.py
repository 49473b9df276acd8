"""Bodies of the federation endpoints: inbox transactions, per-envelope results and outbox pages."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from protocol.errors import SchemaError

MAX_ENVELOPES = 50
MAX_OUTBOX_LIMIT = 500
TXN_ID_RE = re.compile(r"^[A-Za-z0-9._~-]{1,64}\Z")
Status = Literal["accepted", "duplicate", "refused"]


def check_txn_id(text: str) -> str:
    """Return a transaction id if it is 1 to 64 URL-safe characters, else raise SchemaError."""
    if not TXN_ID_RE.match(text):
        raise SchemaError("txn_id", "must be 1 to 64 characters of A-Z a-z 0-9 . _ ~ -")
    return text


def parse_transaction(body: object) -> list[Any]:
    """The envelopes of an inbox transaction `{"envelopes": [...]}` (1 to 50), unverified."""
    if not isinstance(body, Mapping):
        raise SchemaError("(body)", "must be a JSON object")
    unknown = sorted(set(body) - {"envelopes"})
    if unknown:
        raise SchemaError(unknown[0], "unknown field")
    envelopes = body.get("envelopes")
    if not isinstance(envelopes, list):
        raise SchemaError("envelopes", "required field is missing or not an array")
    if not envelopes:
        raise SchemaError("envelopes", "must hold at least one envelope")
    if len(envelopes) > MAX_ENVELOPES:
        raise SchemaError("envelopes", f"holds {len(envelopes)} envelopes; at most {MAX_ENVELOPES} are allowed")
    return envelopes


def result(index: int, envelope: object, status: Status, reason: str | None = None) -> dict[str, Any]:
    """One per-envelope result of an inbox transaction."""
    entry: dict[str, Any] = {"index": index, "status": status}
    if isinstance(envelope, Mapping):
        for name in ("id", "origin", "seq"):
            value = envelope.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool):
                entry[name] = value
    if reason is not None:
        entry["reason"] = reason
    return entry


def parse_cursor(text: str | None) -> int:
    """An outbox cursor: a non-negative integer in decimal, 0 when absent."""
    if text is None or text == "":
        return 0
    if not (text.isascii() and text.isdigit()) or len(text) > 16:
        raise SchemaError("since", "must be a non-negative integer cursor")
    return int(text)


def parse_limit(text: str | None, default: int = 100) -> int:
    """The page size of an outbox request, 1 to 500."""
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 16 or not 1 <= int(text) <= MAX_OUTBOX_LIMIT:
        raise SchemaError("limit", f"must be an integer from 1 to {MAX_OUTBOX_LIMIT}")
    return int(text)


def parse_results(body: object) -> list[dict[str, Any]]:
    """The per-envelope results a peer's inbox answered with."""
    if not isinstance(body, Mapping) or not isinstance(body.get("results"), list):
        raise SchemaError("results", "inbox answer must be an object with a results array")
    return [r for r in body["results"] if isinstance(r, dict)]


def parse_outbox_page(body: object) -> tuple[list[Any], int, bool]:
    """The envelopes, next cursor and more-flag of an outbox page."""
    if not isinstance(body, Mapping):
        raise SchemaError("(body)", "outbox page must be a JSON object")
    envelopes, cursor, more = body.get("envelopes"), body.get("next"), body.get("more")
    if not isinstance(envelopes, list) or len(envelopes) > MAX_OUTBOX_LIMIT:
        raise SchemaError("envelopes", "must be an array of at most 500 envelopes")
    if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0:
        raise SchemaError("next", "must be a non-negative integer")
    if not isinstance(more, bool):
        raise SchemaError("more", "must be a boolean")
    return envelopes, cursor, more


def check_page_advances(since: int, envelopes: Sequence[Any], following: int, more: bool) -> None:
    """Refuse an outbox page asked for with `since` that would not move a pull forward: `next` before
    `since`, or `next` equal to it while the page holds envelopes or says `more` (asked for again, such a
    page would be answered the same, forever). An empty last page (`more` false) may leave it where it was."""
    if following < since:
        raise SchemaError("next", f"moved backwards: {following} is before since {since}")
    if following == since and (envelopes or more):
        why = "more is true" if more else "the page holds envelopes"
        raise SchemaError("next", f"does not advance past since {since} although {why}")


def outbox_page_body(envelopes: Sequence[bytes], cursor: int, more: bool, remaining: int) -> bytes:
    """The canonical bytes of the outbox page `{"envelopes", "more", "next", "remaining"}`, joined from
    envelopes that are each already in canonical form (as stored), without parsing them again."""
    tail = f'],"more":{"true" if more else "false"},"next":{cursor},"remaining":{remaining}}}'
    return b'{"envelopes":[' + b",".join(envelopes) + tail.encode()


def page_remaining(body: Mapping[str, Any]) -> int | None:
    """The optional `remaining` count of an outbox page: envelopes still to pull after this page."""
    remaining = body.get("remaining")
    if remaining is None:
        return None
    if isinstance(remaining, bool) or not isinstance(remaining, int) or remaining < 0:
        raise SchemaError("remaining", "must be a non-negative integer")
    return remaining


def parse_chain_head(body: object) -> Mapping[str, Any] | None:
    """The answer to `GET /fed/v1/chain-head` (SPEC 8.11): `{"envelope": <tombstone> | null}`, the envelope
    unverified (the requester verifies it as its own)."""
    if not isinstance(body, Mapping):
        raise SchemaError("(body)", "chain head answer must be a JSON object")
    unknown = sorted(set(body) - {"envelope"})
    if unknown:
        raise SchemaError(unknown[0], "unknown field")
    if "envelope" not in body:
        raise SchemaError("envelope", "required field is missing")
    envelope = body["envelope"]
    if envelope is not None and not isinstance(envelope, Mapping):
        raise SchemaError("envelope", "must be an envelope object or null")
    if envelope is not None and ("content" in envelope or "unsigned" in envelope):
        raise SchemaError("envelope", "must be a tombstone: without content and unsigned")
    return envelope
