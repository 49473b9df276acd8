"""Writing the audit log: the fields of an entry and its hash, the checks on a new entry, and appending
entries to the hash chain inside the caller's write transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from node.errors import NodeError
from node.store import dumps, now_text
from protocol.canonical import MAX_SAFE_INTEGER, canonical_bytes, encode_scanned
from protocol.encoding import sha256_b64url
from protocol.errors import CanonicalError

FIELDS = (
    "seq",
    "time",
    "user",
    "action",
    "record_id",
    "version",
    "recipients",
    "digest",
    "detail",
    "records",
    "prev",
    "hash",
)
"""The columns of an entry, in the order list, export and the CSV header use."""

HASHED = FIELDS[:-1]
"""The fields an entry's hash covers: all but the hash itself (and `records` only where it is not null)."""
RECORD_FIELDS = ("action", "record_id", "version", "digest", "detail")
"""What `records` holds of each envelope of a batch, in this order."""

TRIGGERS = (
    "audit_no_update",
    "audit_no_delete",
    "audit_append_only",
    "audit_head_no_insert",
    "audit_head_no_delete",
    "audit_head_forward",
    "audit_head_follows",
)
"""The triggers of migrations 0002_audit and 0009 that keep the log append-only; `verify` reports missing ones."""


def digest_of(data: bytes) -> str:
    """The digest of bytes that left or arrived, as the log stores it: "sha256:" + base64url."""
    return "sha256:" + sha256_b64url(data)


def _hashed(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an entry's hash covers: every one but `hash`, and `records` only when it is not null."""
    return {name: entry[name] for name in HASHED if name != "records" or entry.get("records") is not None}


def entry_hash(entry: dict[str, Any]) -> str:
    """The hash of an entry: base64url SHA-256 of the canonical JSON of every field but `hash` (and `records`
    when it is null)."""
    return sha256_b64url(canonical_bytes(_hashed(entry)))


def _check_text(name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        raise NodeError(f"audit: {name} must be a non-empty string, not {value!r}")


def _checked(
    user: str,
    action: str,
    record_id: str | None = None,
    version: int | None = None,
    recipients: Sequence[str] = (),
    digest: str | None = None,
    detail: str | None = None,
    records: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The fields of one new entry, checked; NodeError names a bad one."""
    _check_text("user", user)
    _check_text("action", action)
    _check_text("record_id", record_id, optional=True)
    _check_text("digest", digest, optional=True)
    if detail is not None and not isinstance(detail, str):
        raise NodeError(f"audit: detail must be a string, not {detail!r}")
    if version is not None and (type(version) is not int or not 0 <= version <= MAX_SAFE_INTEGER):
        raise NodeError(f"audit: version must be an integer from 0 to 2^53-1, not {version!r}")
    if isinstance(recipients, str) or not all(isinstance(r, str) and r for r in recipients):
        raise NodeError(f"audit: recipients must be a list of node ids, not {recipients!r}")
    return {
        "records": None if records is None else [_checked_record(item) for item in records],
        "user": user,
        "action": action,
        "record_id": record_id,
        "version": version,
        "recipients": list(recipients),
        "digest": digest,
        "detail": detail,
    }


def _checked_record(item: Mapping[str, Any]) -> dict[str, Any]:
    """One envelope of a batch entry's `records`, checked as an entry of its own would be."""
    if not isinstance(item, Mapping) or set(item) != set(RECORD_FIELDS):
        raise NodeError(f"audit: each of records must hold exactly {', '.join(RECORD_FIELDS)}, not {item!r}")
    checked = _checked("node", **item)  # the batch entry's own user is checked with it
    return {name: checked[name] for name in RECORD_FIELDS}


_INSERT = f"INSERT INTO audit ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))})"  # noqa: S608 - constants


def append_many(conn: sqlite3.Connection, entries: Sequence[Mapping[str, Any]]) -> int:
    """Append entries, each given as the keyword arguments of `append`, inside the caller's write
    transaction; return the seq of the last one (the head's if `entries` is empty).

    All are checked before any is written; one INSERT statement carries them all, and the
    migration 0009 trigger moves the head with every row.
    """
    if not conn.in_transaction:
        raise RuntimeError("audit.append must run inside a write transaction (with write(node.db) as conn: ...)")
    checked = [_checked(**entry) for entry in entries]
    head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    if head is None:
        raise NodeError("the audit log has no head; run `praevnet audit verify`")
    seq, prev = int(head[0]), head[1]
    time = now_text()
    stored: list[tuple[Any, ...]] = []
    for fields in checked:
        seq += 1
        entry = {"seq": seq, "time": time, **fields, "prev": prev}
        try:  # `_checked` kept every field inside the canonical profile but for lone surrogates, which fail here
            entry["hash"] = prev = sha256_b64url(encode_scanned(_hashed(entry), astral=False))
        except CanonicalError:
            raise NodeError("audit: cannot log this entry: a text contains a lone surrogate") from None
        entry["recipients"] = dumps(entry["recipients"])
        entry["records"] = None if entry["records"] is None else dumps(entry["records"])
        stored.append(tuple(entry[name] for name in FIELDS))
    conn.executemany(_INSERT, stored)
    return seq


def append(
    conn: sqlite3.Connection,
    *,
    user: str,
    action: str,
    record_id: str | None = None,
    version: int | None = None,
    recipients: Sequence[str] = (),
    digest: str | None = None,
    detail: str | None = None,
    records: Sequence[Mapping[str, Any]] | None = None,
) -> int:
    """Append an entry inside the caller's write transaction (`with write(node.db) as conn:`); return its seq.

    The entry commits or rolls back with whatever the caller did in that transaction.
    """
    entry = {
        "user": user,
        "action": action,
        "record_id": record_id,
        "version": version,
        "recipients": recipients,
        "digest": digest,
        "detail": detail,
        "records": records,
    }
    return append_many(conn, [entry])
