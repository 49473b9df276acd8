"""Reading the audit log from one consistent snapshot: its head, and its entries (all, the newest, or those an
EntryFilter lets through); also the snapshot, select, present and head helpers the package's modules share."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from node.audit.writing import FIELDS, RECORD_FIELDS
from node.errors import NodeError
from node.home import Node
from protocol.canonical import MAX_SAFE_INTEGER
from protocol.timestamps import format_timestamp


@contextmanager
def _snapshot(node: Node) -> Iterator[sqlite3.Connection]:
    """A read transaction, so that the head and the entries come from the same moment."""
    conn = node.db.conn
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("ROLLBACK")


def _select(conn: sqlite3.Connection, where: str = "", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    cursor = conn.execute(f"SELECT {', '.join(FIELDS)} FROM audit {where}", params)  # noqa: S608 - constants
    return [dict(zip(FIELDS, row, strict=True)) for row in cursor]


def _present(row: dict[str, Any]) -> dict[str, Any]:
    """An entry as list and export show it: recipients and records as lists (as stored if that is not JSON)."""
    entry = dict(row)
    for name in ("recipients", "records"):
        if row[name] is not None:
            with suppress(TypeError, ValueError):
                entry[name] = json.loads(row[name])
    return entry


def _head(conn: sqlite3.Connection) -> dict[str, Any] | None:
    found = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    return None if found is None else {"seq": found[0], "hash": found[1]}


def head(node: Node) -> dict[str, Any] | None:
    """The head, {"seq": last seq, "hash": last hash} ({0, ""} for an empty log), or None if it is missing."""
    return _head(node.db.conn)


@dataclass(frozen=True)
class EntryFilter:
    """Which entries to list or export: only those meeting every condition given (None: any).

    `user` and `record_id` match exactly, `action` as a prefix ("peer." for every peer action);
    `since` (inclusive) and `until` (exclusive) bound the entry's time; `before_seq` pages back
    through the log (entries with a smaller seq only).
    """

    user: str | None = None
    action: str | None = None
    record_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None

    def __post_init__(self) -> None:
        for name in ("user", "action", "record_id"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise NodeError(f"audit filter: {name} must be text, not {value!r}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
                raise NodeError(f"audit filter: {name} must be a time with a time zone, not {value!r}")
        seq = self.before_seq
        if seq is not None and (type(seq) is not int or not 1 <= seq <= MAX_SAFE_INTEGER):
            raise NodeError(f"audit filter: before_seq must be a whole number from 1 to 2^53-1, not {seq!r}")

    def described(self) -> dict[str, Any]:
        """The conditions given, as an export names them (times in UTC)."""
        found: dict[str, Any] = {}
        for name in ("user", "action", "record_id", "since", "until", "before_seq"):
            value = getattr(self, name)
            if value is not None:
                found[name] = format_timestamp(value) if isinstance(value, datetime) else value
        return found

    def where(self) -> tuple[str, tuple[Any, ...]]:
        """The SQL condition (with its leading WHERE, or empty) and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.user is not None:
            clauses.append("user = ?")
            params.append(self.user)
        if self.record_id is not None:  # an entry about the record, or a batch entry that lists it
            clauses.append(
                "(record_id = ? OR (records IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(iif(json_valid(records),"
                " records, '[]')) r WHERE json_extract(r.value, '$.record_id') = ?)))"
            )
            params += [self.record_id, self.record_id]
        if self.action is not None:  # a prefix, compared as text: no LIKE wildcards to escape
            clauses.append("substr(action, 1, length(?)) = ?")
            params += [self.action, self.action]
        if self.since is not None:
            clauses.append("time >= ?")
            params.append(format_timestamp(self.since))
        if self.until is not None:
            clauses.append("time < ?")
            params.append(format_timestamp(self.until))
        if self.before_seq is not None:
            clauses.append("seq < ?")
            params.append(self.before_seq)
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def list_entries(
    node: Node, *, limit: int | None = None, record_id: str | None = None, only: EntryFilter | None = None
) -> list[dict[str, Any]]:
    """Entries oldest first; with `limit` only the newest `limit`; with `record_id` only those about that
    record; with `only` only those it lets through (the newest `limit` of them, with a limit)."""
    if limit is not None and limit < 0:
        raise NodeError("the limit must not be negative")
    if record_id is not None:
        only = EntryFilter(record_id=record_id) if only is None else _both(only, record_id)
    where, params = (only or EntryFilter()).where()
    order = "ORDER BY seq" if limit is None else "ORDER BY seq DESC LIMIT ?"
    with _snapshot(node) as conn:
        found = _select(conn, f"{where} {order}", params if limit is None else (*params, limit))
    if limit is not None:
        found.reverse()
    return [_present(row) for row in found]


def per_record(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Entries as listed (`list_entries`), one row per record they name: a batch entry gives one row per record
    in its `records` (with the batch entry's seq, time, user and recipients), any other entry itself."""
    rows: list[dict[str, Any]] = []
    for entry in entries:
        records = entry.get("records")
        if not isinstance(records, list):
            rows.append({name: entry[name] for name in FIELDS if name != "records"})
            continue
        shared = {name: entry[name] for name in ("seq", "time", "user", "recipients", "prev", "hash")}
        rows.extend({**shared, **{name: item.get(name) for name in RECORD_FIELDS}} for item in records)
    return rows


def _both(only: EntryFilter, record_id: str) -> EntryFilter:
    """`only` narrowed to `record_id` as well; NodeError if it names another record (nothing could match)."""
    if only.record_id not in (None, record_id):
        raise NodeError(f"two different records asked for: {only.record_id!r} and {record_id!r}")
    return replace(only, record_id=record_id)
