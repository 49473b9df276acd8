"""Local experience records and alerts: adding, listing, signing and sharing them.

A record stays local until it is shared. Sharing signs it once into this node's chain (next seq,
prev = the previous envelope's ref), records who may receive it, and queues a push to each
recipient; the delivery worker and the outbox do the rest, both through node.policy.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from node import policy
from node.errors import NodeError, NotFound
from node.home import Node
from node.store import dumps, now, now_text, rows, write
from protocol.canonical import canonical_bytes, parse
from protocol.envelope import build_envelope, envelope_ref
from protocol.errors import ProtocolError
from protocol.records import Kind, validate_content

MAX_INPUT_BYTES = 1024 * 1024
PRIORITY = {"alert": 0, "experience": 1}


def read_content_file(path: Path) -> Any:
    """Read a JSON file strictly (no duplicate keys, floats or huge integers); raise NodeError naming the problem."""
    try:
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise NodeError(f"{path}: larger than 1 MiB")
        data = path.read_bytes()
    except OSError as exc:
        raise NodeError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return parse(data)
    except ProtocolError as exc:
        raise NodeError(f"{path}: {exc}") from None


def _validate(kind: Kind, content: object) -> dict[str, Any]:
    try:
        validate_content(kind, content, allow_local=True, now=now())
    except ProtocolError as exc:
        raise NodeError(f"invalid {kind}: {exc}") from None
    assert isinstance(content, Mapping)
    return dict(content)


def _insert_record(conn: sqlite3.Connection, kind: Kind, content: Mapping[str, Any]) -> str:
    record_id = uuid.uuid4().hex
    conn.execute(
        "INSERT INTO records (id, kind, content, created) VALUES (?, ?, ?, ?)",
        (record_id, kind, dumps(content), now_text()),
    )
    return record_id


def add_record(node: Node, kind: Kind, content: object) -> str:
    """Validate and store a new local record or alert; return its id. Nothing is shared."""
    checked = _validate(kind, content)
    with write(node.db) as conn:
        return _insert_record(conn, kind, checked)


def _row(node: Node, record_id: str, kind: Kind | None = None) -> dict[str, Any]:
    found = rows(node.db, "SELECT * FROM records WHERE id = ?", (record_id,))
    if not found or (kind is not None and found[0]["kind"] != kind):
        raise NotFound(f"no {kind or 'record'} with id {record_id!r} on this node")
    return found[0]


def _recipients(node: Node, seq: int | None) -> list[str]:
    if seq is None:
        return []
    return [r["peer_id"] for r in rows(node.db, "SELECT peer_id FROM shares WHERE seq = ? ORDER BY cursor", (seq,))]


def _present(node: Node, row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "created": row["created"],
        "shared_with": _recipients(node, row["seq"]),
        "content": json.loads(row["content"]),
    }


def list_records(node: Node, kind: Kind) -> list[dict[str, Any]]:
    """This node's own records (or alerts), newest first, including local fields."""
    found = rows(node.db, "SELECT * FROM records WHERE kind = ? ORDER BY created DESC, rowid DESC", (kind,))
    return [_present(node, row) for row in found]


def get_record(node: Node, record_id: str) -> dict[str, Any]:
    """One of this node's own records or alerts, with local fields and its recipients."""
    return _present(node, _row(node, record_id))


def _sign(node: Node, conn: sqlite3.Connection, record: Mapping[str, Any]) -> int:
    """Sign the record into this node's chain (inside the caller's write transaction); return its seq."""
    if record["seq"] is not None:
        return int(record["seq"])
    last = conn.execute("SELECT seq, ref FROM envelopes ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (1, None) if last is None else (last[0] + 1, last[1])
    envelope = build_envelope(
        node.key,
        origin=node.node_id,
        kind=record["kind"],
        record_id=record["id"],
        seq=seq,
        prev=prev,
        created=now(),
        content=policy.outgoing_content(json.loads(record["content"])),
    )
    conn.execute(
        "INSERT INTO envelopes (seq, id, kind, ref, envelope, created) VALUES (?, ?, ?, ?, ?, ?)",
        (seq, record["id"], record["kind"], envelope_ref(envelope), canonical_bytes(envelope).decode(), now_text()),
    )
    conn.execute("UPDATE records SET seq = ? WHERE id = ?", (seq, record["id"]))
    return seq


def _grant(conn: sqlite3.Connection, kind: str, seq: int, recipients: Sequence[str]) -> None:
    stamp = now_text()
    for peer_id in recipients:
        conn.execute("INSERT OR IGNORE INTO shares (seq, peer_id, created) VALUES (?, ?, ?)", (seq, peer_id, stamp))
        conn.execute(
            "INSERT OR IGNORE INTO deliveries (peer_id, seq, priority, enqueued) VALUES (?, ?, ?, ?)",
            (peer_id, seq, PRIORITY[kind], stamp),
        )


def share_record(node: Node, record_id: str, to: Sequence[str], all_peers: bool) -> list[str]:
    """Share a record with named peers or all trusted peers; return the recipients. Shares add up."""
    recipients = policy.audience(node, to, all_peers)
    with write(node.db) as conn:
        record = conn.execute("SELECT id, kind, content, seq FROM records WHERE id = ?", (record_id,)).fetchone()
        if record is None:
            raise NotFound(f"no record with id {record_id!r} on this node")
        row = dict(zip(("id", "kind", "content", "seq"), record, strict=True))
        seq = _sign(node, conn, row)
        _grant(conn, row["kind"], seq, recipients)
    return recipients


def send_alert(node: Node, content: object, to: Sequence[str], all_peers: bool) -> tuple[str, list[str]]:
    """Validate, store, sign and send an alert in one step; return its id and recipients."""
    checked = _validate("alert", content)
    recipients = policy.audience(node, to, all_peers)
    with write(node.db) as conn:
        record_id = _insert_record(conn, "alert", checked)
        row = {"id": record_id, "kind": "alert", "content": dumps(checked), "seq": None}
        seq = _sign(node, conn, row)
        _grant(conn, "alert", seq, recipients)
    return record_id, recipients
