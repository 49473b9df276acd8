"""Checking the audit log: `verify` recomputes the whole hash chain against the head and the triggers,
`holds` checks that the log still holds the entry a checkpoint vouches for."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from node.audit.reading import _head, _select, _snapshot
from node.audit.writing import TRIGGERS, entry_hash
from node.home import Node
from protocol.errors import ProtocolError


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
