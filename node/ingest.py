"""Receiving envelopes from a peer, by push (inbox) or pull (outbox): verify, then store atomically.

Every envelope is verified completely before anything is written: origin signature, content hash,
content schema, and that its origin is the peer that sent it, or else that it may be relayed: a
network-scoped envelope only by a hub of its network (node.relays), any other only if TLP:CLEAR.
A hub queues each network-scoped envelope it accepts for the network's other members. A batch is
stored in one transaction together with the transaction id that carried it, so a repeat returns
the same answer and an envelope is stored once, whole, or not at all.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

from node import audit
from node.errors import NotFound
from node.home import Node
from node.peer_keys import envelope_resolver, key_problem
from node.relays import enqueue, hub_networks, relay_problem, relay_targets
from node.store import dumps, flush_erased, now, now_text, rows, write
from node.users import NODE
from protocol.canonical import canonical_bytes
from protocol.envelope import VerifiedEnvelope, redact, verify_envelope
from protocol.errors import ProtocolError
from protocol.timestamps import format_timestamp, parse_timestamp
from protocol.tlp import may_forward
from protocol.wire import result

log = logging.getLogger("praevnet.ingest")


def _verify_all(node: Node, sender: str, envelopes: Sequence[Any]) -> list[VerifiedEnvelope | str]:
    resolve = envelope_resolver(node)
    moment = now()
    checked: list[VerifiedEnvelope | str] = []
    for envelope in envelopes:
        try:
            verified = verify_envelope(envelope, resolve)
        except ProtocolError as exc:
            checked.append(str(exc))
            continue
        problem = key_problem(node, verified.origin, verified.key_id, verified.created, moment)
        if problem is not None:
            checked.append(problem)
        elif verified.origin != sender and verified.network is not None:
            refusal = relay_problem(node, sender, verified)
            checked.append(refusal if refusal is not None else verified)
            if refusal is None and not verified.has_content:
                checked[-1] = "envelope has no content"
        elif verified.origin != sender and not may_forward(verified.tlp, shared_in=None, forward_in=None):
            checked.append(
                f"origin {verified.origin} is not the sending peer {sender}, and {verified.tlp} may not be forwarded"
            )
        elif not verified.has_content:
            checked.append("envelope has no content")
        else:
            checked.append(verified)
    return checked


def _store_retraction(conn: sqlite3.Connection, item: VerifiedEnvelope, stamp: str) -> None:
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


def _expires(item: VerifiedEnvelope) -> str | None:
    if item.kind != "alert":
        return None
    return format_timestamp(parse_timestamp(item.envelope["content"]["expires"]))


def _gap_before(conn: sqlite3.Connection, item: VerifiedEnvelope) -> bool:
    """Whether the origin's previous envelope is missing here (a gap: something may not have arrived)."""
    return conn.execute("SELECT 1 FROM inbox WHERE origin = ? AND ref = ?", (item.origin, item.prev)).fetchone() is None


def _store(conn: sqlite3.Connection, sender: str, item: VerifiedEnvelope, stamp: str) -> str | None:
    """Store one verified envelope; return a refusal reason, "duplicate", or None when it was stored."""
    existing = conn.execute("SELECT ref FROM inbox WHERE origin = ? AND seq = ?", (item.origin, item.seq)).fetchone()
    if existing is not None:
        if existing[0] == item.ref:
            return "duplicate"
        log.warning("refused a fork from %s: two different envelopes with seq %d", item.origin, item.seq)
        conn.execute("UPDATE peers SET forks = forks + 1 WHERE node_id = ?", (item.origin,))
        audit.append(
            conn,
            user=NODE.name,
            action="fork.refused",
            record_id=item.id,
            version=item.version,
            recipients=[sender],
            digest=audit.digest_of(canonical_bytes(item.envelope)),
            detail=f"origin {item.origin} seq {item.seq} already held as {existing[0]}",
        )
        return f"fork: origin already sent a different envelope with seq {item.seq}"
    if item.prev is not None and _gap_before(conn, item):
        conn.execute("UPDATE peers SET catch_up = 1 WHERE node_id = ?", (item.origin,))
    if item.kind != "retraction":
        retracted = conn.execute(
            "SELECT version FROM retractions WHERE origin = ? AND id = ?", (item.origin, item.id)
        ).fetchone()
        if retracted is not None and retracted[0] >= item.version:
            return f"version {item.version} of {item.id} was retracted by its origin"
    conn.execute(
        """INSERT INTO inbox (origin, seq, id, version, kind, tlp, ref, envelope, sender, received, expires)
           VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
        (
            item.origin,
            item.seq,
            item.id,
            item.version,
            item.kind,
            item.tlp,
            item.ref,
            dumps(item.envelope),
            sender,
            stamp,
            _expires(item),
        ),
    )
    if item.kind == "retraction":
        _store_retraction(conn, item, stamp)
    audit.append(
        conn,
        user=NODE.name,
        action="received" if item.kind != "retraction" else "retraction.received",
        record_id=item.id,
        version=item.version,
        recipients=[sender],
        digest=audit.digest_of(canonical_bytes(item.envelope)),
        detail=f"{item.kind} from {item.origin}",
    )
    return None


def _relay_plan(node: Node, sender: str, checked: Sequence[VerifiedEnvelope | str]) -> dict[str, list[str]]:
    """For a hub: per network of the accepted envelopes, the members to relay them to (not the sender)."""
    wanted = {item.network for item in checked if isinstance(item, VerifiedEnvelope) and item.network is not None}
    if not wanted:
        return {}
    hubbed = hub_networks(node) & wanted
    return {network: [peer for peer in relay_targets(node, network) if peer != sender] for network in hubbed}


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
    relay_to = _relay_plan(node, sender, checked)
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
            outcome = _store(conn, sender, item, stamp)
            if outcome is None:
                results.append(result(index, raw, "accepted"))
                if item.network in relay_to:
                    enqueue(conn, relay_to[item.network], item, stamp)
            elif outcome == "duplicate":
                results.append(result(index, raw, "duplicate"))
            else:
                results.append(result(index, raw, "refused", outcome))
        answer = {"results": results}
        if txn_id is not None:
            conn.execute(
                "INSERT INTO inbound_txns (sender, txn_id, response, received) VALUES (?, ?, ?, ?)",
                (sender, txn_id, dumps(answer), stamp),
            )
    if any(isinstance(item, VerifiedEnvelope) and item.kind == "retraction" for item in checked):
        flush_erased(node.db)
    return answer


def stored_answer(node: Node, sender: str, txn_id: str) -> dict[str, Any] | None:
    """The answer already given to (sender, txn_id), if that transaction was seen before."""
    found = rows(node.db, "SELECT response FROM inbound_txns WHERE sender = ? AND txn_id = ?", (sender, txn_id))
    return dict(json.loads(found[0]["response"])) if found else None


def _entry(node: Node, row: dict[str, Any], resolve: Any) -> dict[str, Any]:
    envelope = json.loads(row["envelope"])
    try:
        checked = verify_envelope(envelope, resolve)
        problem = key_problem(node, checked.origin, checked.key_id, checked.created, parse_timestamp(row["received"]))
        verified = problem is None
    except ProtocolError as exc:
        verified, problem = False, str(exc)
    return {
        "kind": row["kind"],
        "id": row["id"],
        "version": row["version"],
        "tlp": row["tlp"],
        "origin": row["origin"],
        "origin_name": row.get("origin_name"),
        "seq": row["seq"],
        "created": envelope.get("created"),
        "received": row["received"],
        "expires": row["expires"],
        "erased": row["erased"],
        "verified": verified,
        "problem": problem,
        "content": envelope.get("content"),
    }


def list_inbox(node: Node, kind: str | None = None, *, include_lapsed: bool = False) -> list[dict[str, Any]]:
    """The newest version of each record and alert peers sent, newest first, re-verified now.

    Retracted (erased) entries and lapsed alerts are left out unless `include_lapsed` is given.
    """
    resolve = envelope_resolver(node)
    found = rows(
        node.db,
        """SELECT i.*, p.name AS origin_name FROM inbox i LEFT JOIN peers p ON p.node_id = i.origin
           WHERE i.kind != 'retraction' AND i.version = (
               SELECT max(j.version) FROM inbox j WHERE j.origin = i.origin AND j.id = i.id AND j.kind != 'retraction')
           ORDER BY i.received DESC, i.rowid DESC""",
    )
    moment = now()
    entries = []
    for row in found:
        if kind is not None and row["kind"] != kind:
            continue
        lapsed = row["erased"] is not None or (row["expires"] is not None and parse_timestamp(row["expires"]) <= moment)
        if lapsed and not include_lapsed:
            continue
        entries.append(_entry(node, row, resolve))
    return entries


def history(node: Node, record_id: str) -> list[dict[str, Any]]:
    """Every version (and retraction) of a received record that this node holds, oldest first."""
    found = rows(
        node.db,
        """SELECT i.*, p.name AS origin_name FROM inbox i LEFT JOIN peers p ON p.node_id = i.origin
           WHERE i.id = ? ORDER BY i.origin, i.version, i.seq""",
        (record_id,),
    )
    if not found:
        raise NotFound(f"no received record with id {record_id!r}")
    resolve = envelope_resolver(node)
    return [_entry(node, row, resolve) for row in found]
