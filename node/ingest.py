"""Receiving envelopes from a peer, by push (inbox) or pull (outbox): verify, then store atomically.

Every envelope is verified completely before anything is written: origin signature, content hash,
content schema, and that its origin is the peer that sent it (until relays exist). A batch is
stored in one transaction together with the transaction id that carried it, so a repeat returns
the same answer and an envelope is stored once, whole, or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from node.home import Node
from node.peers import key_resolver
from node.store import dumps, now_text, rows, write
from protocol.envelope import VerifiedEnvelope, verify_envelope
from protocol.errors import ProtocolError
from protocol.wire import result


def _verify_all(node: Node, sender: str, envelopes: Sequence[Any]) -> list[VerifiedEnvelope | str]:
    resolve = key_resolver(node)
    checked: list[VerifiedEnvelope | str] = []
    for envelope in envelopes:
        try:
            verified = verify_envelope(envelope, resolve)
        except ProtocolError as exc:
            checked.append(str(exc))
            continue
        if verified.origin != sender:
            checked.append(f"origin {verified.origin} is not the sending peer {sender}")
        elif not verified.has_content:
            checked.append("envelope has no content")
        else:
            checked.append(verified)
    return checked


def ingest(node: Node, sender: str, envelopes: Sequence[Any], txn_id: str | None = None) -> dict[str, Any]:
    """Verify and store envelopes from `sender`; return `{"results": [...]}` with one entry per envelope.

    With a `txn_id`, the answer is stored with the batch and a repeat of the same (sender, txn_id)
    returns the stored answer without looking at the envelopes again.
    """
    if txn_id is not None:
        stored = stored_answer(node, sender, txn_id)
        if stored is not None:
            return stored
    checked = _verify_all(node, sender, envelopes)
    results: list[dict[str, Any]] = []
    with write(node.db) as conn:
        if txn_id is not None:
            again = conn.execute(
                "SELECT response FROM inbound_txns WHERE sender = ? AND txn_id = ?", (sender, txn_id)
            ).fetchone()
            if again is not None:
                return dict(json.loads(again[0]))
        stamp = now_text()
        for index, (raw, item) in enumerate(zip(envelopes, checked, strict=True)):
            if isinstance(item, str):
                results.append(result(index, raw, "refused", item))
                continue
            existing = conn.execute(
                "SELECT ref FROM inbox WHERE origin = ? AND seq = ?", (item.origin, item.seq)
            ).fetchone()
            if existing is not None:
                if existing[0] == item.ref:
                    results.append(result(index, raw, "duplicate"))
                else:
                    reason = f"fork: origin already sent a different envelope with seq {item.seq}"
                    results.append(result(index, raw, "refused", reason))
                continue
            conn.execute(
                "INSERT INTO inbox (origin, seq, id, kind, ref, envelope, sender, received) VALUES (?,?,?,?,?,?,?,?)",
                (
                    item.origin,
                    item.seq,
                    item.id,
                    item.kind,
                    item.ref,
                    dumps(item.envelope),
                    sender,
                    stamp,
                ),
            )
            results.append(result(index, raw, "accepted"))
        answer = {"results": results}
        if txn_id is not None:
            conn.execute(
                "INSERT INTO inbound_txns (sender, txn_id, response, received) VALUES (?, ?, ?, ?)",
                (sender, txn_id, dumps(answer), stamp),
            )
    return answer


def stored_answer(node: Node, sender: str, txn_id: str) -> dict[str, Any] | None:
    """The answer already given to (sender, txn_id), if that transaction was seen before."""
    found = rows(node.db, "SELECT response FROM inbound_txns WHERE sender = ? AND txn_id = ?", (sender, txn_id))
    return dict(json.loads(found[0]["response"])) if found else None


def list_inbox(node: Node, kind: str | None = None) -> list[dict[str, Any]]:
    """What peers sent, newest first, each re-verified now against the origin's trusted keys."""
    resolve = key_resolver(node)
    sql = "SELECT i.*, p.name AS origin_name FROM inbox i LEFT JOIN peers p ON p.node_id = i.origin"
    params: tuple[Any, ...] = ()
    if kind is not None:
        sql += " WHERE i.kind = ?"
        params = (kind,)
    entries = []
    for row in rows(node.db, sql + " ORDER BY i.received DESC, i.rowid DESC", params):
        envelope = json.loads(row["envelope"])
        try:
            verify_envelope(envelope, resolve)
            verified, problem = True, None
        except ProtocolError as exc:
            verified, problem = False, str(exc)
        entries.append(
            {
                "kind": row["kind"],
                "id": row["id"],
                "origin": row["origin"],
                "origin_name": row["origin_name"],
                "seq": row["seq"],
                "created": envelope.get("created"),
                "received": row["received"],
                "verified": verified,
                "problem": problem,
                "content": envelope.get("content"),
            }
        )
    return entries
