"""The audit log: append-only and hash-chained, for the data-protection officer.

Every entry records when, who, what, which record (id and version), to or from whom, and the
SHA-256 of the bytes that left or arrived. An entry about a whole batch received from a peer (a
transaction or a pulled page) lists instead, in `records`, each envelope's action, record id, version,
digest and detail, as the entry of its own would have held them; entries without `records` hash as if
the field did not exist, so entries made before it existed verify unchanged.

Entries are numbered contiguously from 1 (`seq`); each
carries the hash of the entry before it (`prev`, empty for the first) and its own `hash`: the
base64url SHA-256 of the canonical JSON of all its other fields. The `audit_head` row holds the seq
and hash of the last entry; a trigger moves it with every inserted entry, in the same transaction,
so that deleting the last entries is noticed too.

SQL triggers refuse UPDATE and DELETE on the log and any INSERT that does not follow the head.
They stop mistakes, not someone with write access to the file: `verify` recomputes the whole chain
and names every entry that was changed, deleted or inserted even if the triggers were dropped.
What it cannot notice is the end cut off (or a forged entry appended) together with a matching head,
or the whole log rewritten from the start; against that, the node signs checkpoints of its head
(node.checkpoints), the data-protection officer keeps them outside the node, and `holds` checks
that the log still holds the entry a checkpoint vouches for.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from node.errors import NodeError
from node.home import Node
from node.store import dumps, now_text
from protocol.canonical import MAX_SAFE_INTEGER, canonical_bytes, encode_scanned
from protocol.encoding import sha256_b64url
from protocol.errors import CanonicalError, ProtocolError
from protocol.timestamps import format_timestamp

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

_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CSV_FREE_TEXT = frozenset({"user", "action", "record_id", "detail"})


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


def _recomputed(row: dict[str, Any]) -> str | None:
    """The hash the row's content should have, or None if the content cannot even be hashed."""
    try:
        recipients = json.loads(row["recipients"])
        records = None if row["records"] is None else json.loads(row["records"])
        return entry_hash({**row, "recipients": recipients, "records": records})
    except (TypeError, ValueError, ProtocolError):
        return None


def _missing(first: int, last: int) -> str:
    return f"entry {first} is missing" if first == last else f"entries {first} to {last} are missing"


def verify(node: Node) -> list[str]:
    """Recompute the chain; return one line per problem, each naming the entry, or [] if the log is intact."""
    with _snapshot(node) as conn:
        try:
            entries = _select(conn, "ORDER BY seq")
            top = _head(conn)
        except sqlite3.DatabaseError as exc:
            return [f"the audit log cannot be read: {exc}"]
        triggers = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    problems: list[str] = []
    for name in TRIGGERS:
        if name not in triggers:
            problems.append(f"the append-only protection was removed (trigger {name} is missing)")
    if top is None:
        problems.append("head is missing")
    bad_seq = [e for e in entries if type(e["seq"]) is not int]
    for entry in bad_seq:
        problems.append(f"entry {entry['seq']!r} was inserted (its seq is not a whole number)")
    entries = [e for e in entries if type(e["seq"]) is int]
    head_seq = top["seq"] if top is not None and type(top["seq"]) is int else None
    last_seq = max((e["seq"] for e in entries), default=0)
    end = head_seq if head_seq is not None else last_seq
    previous: dict[str, Any] | None = None
    changed: set[int] = set()
    for entry in entries:
        seq = entry["seq"]
        if seq < 1:
            problems.append(f"entry {seq} was inserted (seq numbers start at 1)")
            continue
        if seq > end:
            problems.append(f"entry {seq} was inserted (it lies beyond the head, which says the log ends at {end})")
            continue
        if _recomputed(entry) != entry["hash"]:
            changed.add(seq)
            problems.append(f"entry {seq} was changed (its hash does not match its content)")
        expected = 1 if previous is None else previous["seq"] + 1
        if seq > expected:
            if previous is None:
                problems.append(f"{_missing(1, seq - 1)} (the log starts at {seq})")
            else:
                problems.append(f"{_missing(expected, seq - 1)} (seq jumps from {previous['seq']} to {seq})")
        elif seq in changed or (previous is not None and previous["seq"] in changed):
            pass  # the change is reported; what the entry linked to before it is unknown
        elif previous is None and entry["prev"] != "":
            problems.append("entry 1 was inserted or re-linked (it is the first entry, but its prev is not empty)")
        elif previous is not None and entry["prev"] != previous["hash"]:
            problems.append(
                f"entry {seq} was inserted or the chain was re-linked (prev does not match entry {seq - 1}):"
                f" entry {seq - 1} was changed and re-hashed, or entry {seq} was forged"
            )
        previous = entry
    if top is not None:
        kept = [e for e in entries if 1 <= e["seq"] <= end]
        if head_seq is None or type(top["hash"]) is not str:
            problems.append(f"the head was changed (it holds seq {top['seq']!r}, hash {top['hash']!r})")
        elif not kept and head_seq > 0:
            plural = "the only entry was" if head_seq == 1 else f"all {head_seq} entries were"
            problems.append(f"{plural} deleted (head says {head_seq}, the log is empty)")
        elif kept and kept[-1]["seq"] < head_seq:
            gone = head_seq - kept[-1]["seq"]
            what = "the last entry was" if gone == 1 else f"the last {gone} entries were"
            problems.append(f"{what} deleted (head says {head_seq}, log ends at {kept[-1]['seq']})")
        elif kept and kept[-1]["hash"] != top["hash"] and head_seq not in changed:
            problems.append(
                f"entry {head_seq} does not match the head (its hash differs from the head's):"
                " it was replaced, or the head was changed"
            )
        elif head_seq == 0 and top["hash"] != "":
            problems.append("the head was changed (the log is empty, but the head holds a hash)")
    return problems


def holds(node: Node, seq: int, hash_: str) -> str | None:
    """None if the log still holds entry `seq` with hash `hash_` (what a checkpoint vouches for), else
    what is missing or different. Whether the chain up to that entry is intact is `verify`'s part."""
    if seq == 0:
        return None
    with _snapshot(node) as conn:
        found = conn.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
        last = conn.execute("SELECT max(seq) FROM audit WHERE typeof(seq) = 'integer'").fetchone()[0]
        top = _head(conn)
    if found is not None:
        if found[0] == hash_:
            return None
        return (
            f"entry {seq} differs (its hash is {found[0]!r}, the checkpoint's {hash_!r}):"
            f" it or an entry before it was changed or replaced"
        )
    if last is not None and last > seq:
        return f"entry {seq} is missing"
    head_says = f"the head says {top['seq']!r}" if top is not None else "the head is missing"
    ends = "the log is empty" if last is None else f"the log ends at entry {last}"
    return f"{_missing(1 if last is None else last + 1, seq)} ({ends}, {head_says})"


def _csv_cell(name: str, value: Any) -> Any:
    """Free text that a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    if name in _CSV_FREE_TEXT and isinstance(value, str) and value.startswith(_CSV_FORMULA_START):
        return "'" + value
    return value


def export(node: Node, fmt: Literal["csv", "json"], *, only: EntryFilter | None = None) -> str:
    """Every entry (or those `only` lets through) with its hashes, as CSV (header row first) or JSON
    (with the node, the head and, if filtered, the filter).

    CSV gives recipients as a JSON array and puts an apostrophe before free text (user, action,
    record id, detail) that starts like a spreadsheet formula; JSON carries every value unchanged.
    """
    if fmt not in ("csv", "json"):
        raise NodeError(f"unknown export format {fmt!r}; use csv or json")
    where, params = (only or EntryFilter()).where()
    with _snapshot(node) as conn:
        entries = [_present(row) for row in _select(conn, f"{where} ORDER BY seq", params)]
        top = _head(conn)
    if fmt == "json":
        document: dict[str, Any] = {
            "node_id": node.node_id,
            "node_name": node.config.name,
            "exported": now_text(),
            "head": top,
        }
        if only is not None:
            document["filter"] = only.described()
        document["entries"] = entries
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS)
    writer.writeheader()
    for entry in entries:
        recipients, records = entry["recipients"], entry["records"]
        cells = {
            **entry,
            "recipients": dumps(recipients) if isinstance(recipients, list) else recipients,
            "records": dumps(records) if isinstance(records, list) else records,
        }
        writer.writerow({name: _csv_cell(name, cells[name]) for name in FIELDS})
    return out.getvalue()
