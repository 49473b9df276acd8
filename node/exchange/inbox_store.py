"""Storing a batch of verified envelopes in the inbox inside one write transaction, with a few
statements per batch rather than several per envelope.

Per origin, each envelope is stored once: a repeat of what is held is a duplicate, a different
envelope with a seq already held is a fork (refused, counted and audited), a version the origin
retracted is refused, and a missing predecessor marks the origin for catch-up. A record keeps its
kind, and each of its versions one type, label and content: an envelope that would change them is a
conflict, refused and counted like a fork (a version sealed again with the same type, label and
content, e.g. for a network share, is stored). The batch gets one audit entry (`received.batch`) that
lists every stored envelope in batch order with its action, record id, version, digest and detail; each
fork or conflict refused gets an entry of its own.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from node import audit
from node.migrations import search_erase_traces
from node.store import dumps
from node.users import NODE
from protocol.envelope import VerifiedEnvelope, redact
from protocol.timestamps import format_timestamp

log = logging.getLogger("praevnet.ingest")

BATCH_ACTION = "received.batch"
"""The audit action of the entry that lists what one received transaction or pulled page stored."""

_CHUNK = 400  # bound parameters per IN (...) list, well below SQLite's limit

_INSERT = """INSERT INTO inbox (origin, seq, id, version, kind, tlp, ref, envelope, sender, received, expires)
             VALUES (?,?,?,?,?,?,?,?,?,?,?)"""


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _held(conn: sqlite3.Connection, wanted: dict[str, set[Any]], sql: str) -> set[tuple[Any, ...]]:
    """Rows already held for each origin and the values wanted of it (seqs or ids), prefixed with the origin."""
    found: set[tuple[Any, ...]] = set()
    for origin, values in wanted.items():
        for part in _chunks(sorted(values)):
            query = sql.format(marks=",".join("?" * len(part)))
            found.update((origin, *row) for row in conn.execute(query, (origin, *part)))
    return found


def _expires(item: VerifiedEnvelope) -> str | None:
    return format_timestamp(item.expires) if item.expires is not None else None


Version = tuple[str, str, str]
"""What must stay the same across envelopes of one version of a record: its type, label and content hash."""


def _version(held: Version | VerifiedEnvelope) -> Version:
    """The version a stored row (a tuple already) or an envelope of this batch (parsed only when needed) holds."""
    if isinstance(held, VerifiedEnvelope):
        return (held.kind, held.tlp, str(held.envelope["hashes"]["sha256"]))
    return held


def _retract(conn: sqlite3.Connection, item: VerifiedEnvelope, stamp: str) -> None:
    conn.execute(
        """INSERT INTO retractions (origin, id, version, received) VALUES (?, ?, ?, ?)
           ON CONFLICT (origin, id) DO UPDATE SET version = max(version, excluded.version)""",
        (item.origin, item.id, item.version, stamp),
    )
    for seq, text in conn.execute(
        """SELECT seq, envelope FROM inbox WHERE origin = ? AND id = ? AND version <= ?
           AND kind != 'retraction' AND erased IS NULL""",
        (item.origin, item.id, item.version),
    ).fetchall():
        conn.execute(
            "UPDATE inbox SET envelope = ?, erased = ? WHERE origin = ? AND seq = ?",
            (dumps(redact(json.loads(text))), stamp, item.origin, seq),
        )


class _Batch:
    """The state of one batch while it is stored: what is held, what waits to be inserted and audited."""

    def __init__(self, conn: sqlite3.Connection, sender: str, items: Sequence[VerifiedEnvelope], stamp: str) -> None:
        self.conn, self.sender, self.stamp = conn, sender, stamp
        seqs: dict[str, set[Any]] = {}  # each item's seq, and its predecessor's, whose ref its prev must be
        ids: dict[str, set[Any]] = {}
        for item in items:
            seqs.setdefault(item.origin, set()).update((item.seq, item.seq - 1))
            ids.setdefault(item.origin, set()).add(item.id)
        held = _held(conn, seqs, "SELECT seq, ref FROM inbox WHERE origin = ? AND seq IN ({marks})")
        self.refs_by_seq = {(origin, seq): ref for origin, seq, ref in held}
        self.retracted = {
            (origin, record_id): version
            for origin, record_id, version in _held(
                conn, ids, "SELECT id, version FROM retractions WHERE origin = ? AND id IN ({marks})"
            )
        }
        held_versions = _held(
            conn,
            ids,
            """SELECT id, version, kind, tlp, json_extract(envelope, '$.hashes.sha256') FROM inbox
               WHERE origin = ? AND kind != 'retraction' AND id IN ({marks})""",
        )
        self.kinds = {(origin, record_id): kind for origin, record_id, _, kind, _, _ in held_versions}
        self.versions: dict[tuple[str, str, int], Version | VerifiedEnvelope] = {
            (origin, record_id, version): (kind, tlp, digest)
            for origin, record_id, version, kind, tlp, digest in held_versions
        }
        self.inserts: list[tuple[Any, ...]] = []
        self.entries: list[dict[str, Any]] = []  # forks and conflicts refused
        self.records: list[dict[str, Any]] = []  # what the batch entry lists: each envelope stored
        self.gaps: set[str] = set()

    def flush(self) -> None:
        """Insert what waits, so that statements that read the inbox see it."""
        if self.inserts:
            self.conn.executemany(_INSERT, self.inserts)
            self.inserts.clear()

    def store(self, item: VerifiedEnvelope) -> str | None:
        """Store one envelope; return a refusal reason, "duplicate", or None when it was stored."""
        held = self.refs_by_seq.get((item.origin, item.seq))
        if held is not None:
            if held == item.ref:
                return "duplicate"
            self._count(item, "fork", f"seq {item.seq} already held as {held}")
            return f"fork: origin already sent a different envelope with seq {item.seq}"
        if item.prev is not None and self.refs_by_seq.get((item.origin, item.seq - 1)) != item.prev:
            self.gaps.add(item.origin)  # the predecessor is missing (or is not the one this envelope follows)
        if item.kind != "retraction":
            retracted = self.retracted.get((item.origin, item.id))
            if retracted is not None and retracted >= item.version:
                return f"version {item.version} of {item.id} was retracted by its origin"
            conflict = self._conflict(item)
            if conflict is not None:
                self._count(item, "conflict", conflict)
                return f"conflict: {conflict}"
            self.kinds[(item.origin, item.id)] = item.kind
            self.versions.setdefault((item.origin, item.id, item.version), item)
        self.inserts.append(
            (
                item.origin,
                item.seq,
                item.id,
                item.version,
                item.kind,
                item.tlp,
                item.ref,
                item.canonical.decode(),
                self.sender,
                self.stamp,
                _expires(item),
            )
        )
        self.refs_by_seq[(item.origin, item.seq)] = item.ref
        if item.kind == "retraction":
            self.flush()
            _retract(self.conn, item, self.stamp)
            key = (item.origin, item.id)
            self.retracted[key] = max(self.retracted.get(key, 0), item.version)
            self._listed(item, "retraction.received")
        else:
            self._listed(item, "received")
        return None

    def _conflict(self, item: VerifiedEnvelope) -> str | None:
        """Why a record or alert contradicts what the origin sent before under its id, or None."""
        kind = self.kinds.get((item.origin, item.id))
        if kind is not None and kind != item.kind:
            return f"{item.id} is held as {kind}, this envelope would make it {item.kind}"
        held = self.versions.get((item.origin, item.id, item.version))
        if held is not None and _version(held) != _version(item):
            return f"origin already sent a different envelope of {item.id} version {item.version}"
        return None

    def _count(self, item: VerifiedEnvelope, what: str, detail: str) -> None:
        """A fork or conflict: the origin signed two envelopes that contradict each other. Logged, counted
        in the peer's `forks` (shown by `praevnet peers status`) and audited as `<what>.refused`."""
        log.warning("refused a %s from %s: %s", what, item.origin, detail)
        self.conn.execute("UPDATE peers SET forks = forks + 1 WHERE node_id = ?", (item.origin,))
        self._audit(item, f"{what}.refused", f"origin {item.origin} {detail}")

    def _listed(self, item: VerifiedEnvelope, action: str) -> None:
        """Note a stored envelope in the batch's audit entry."""
        self.records.append(
            {
                "action": action,
                "record_id": item.id,
                "version": item.version,
                "digest": audit.digest_of(item.canonical),
                "detail": f"{item.kind} from {item.origin}",
            }
        )

    def _audit(self, item: VerifiedEnvelope, action: str, detail: str) -> None:
        self.entries.append(
            {
                "user": NODE.name,
                "action": action,
                "record_id": item.id,
                "version": item.version,
                "recipients": [self.sender],
                "digest": audit.digest_of(item.canonical),
                "detail": detail,
            }
        )

    def finish(self) -> None:
        """Write what waits: inserts, catch-up marks for origins with gaps, and the audit entries: the batch's
        (if it stored anything), then those of forks and conflicts."""
        self.flush()
        self.conn.executemany("UPDATE peers SET catch_up = 1 WHERE node_id = ?", [(o,) for o in sorted(self.gaps)])
        batch = {
            "user": NODE.name,
            "action": BATCH_ACTION,
            "recipients": [self.sender],
            "detail": f"{len(self.records)} envelope(s) stored",
            "records": self.records,
        }
        audit.append_many(self.conn, [batch, *self.entries] if self.records else self.entries)


def store_batch(
    conn: sqlite3.Connection, sender: str, items: Sequence[VerifiedEnvelope], stamp: str
) -> list[str | None]:
    """Store verified envelopes from `sender` in order (inside the caller's write transaction); for each,
    None when stored, "duplicate", or the reason it was refused."""
    batch = _Batch(conn, sender, items, stamp)
    outcomes = [batch.store(item) for item in items]
    batch.finish()
    search_erase_traces(conn)  # what a retraction erased leaves the search index's segments too
    return outcomes
