"""Receiving envelopes from a peer, by push (inbox) or pull (outbox): verify, then store atomically.

Every envelope is verified completely before anything is written: origin signature, content hash,
content schema, and that its origin is the peer that sent it, or else that it may be relayed: a
network-scoped envelope only by a hub of its network (node.networks.relays), any other only if TLP:CLEAR;
and one that names a network of ours, sent by its origin, only if that origin is a member of it. An
envelope without content, or an alert that expired before it arrived, is refused: nothing of it is stored.
A hub queues each network-scoped envelope it accepts for the network's other members. A batch is
stored in one transaction (node.exchange.inbox_store) together with the transaction id that carried it, so
a repeat returns the same answer and an envelope is stored once, whole, or not at all.

The signature checks themselves (protocol.batch) need no storage, so a pull may run them in other
processes (node.exchange.verify_pool) and hand the results to `admit_and_store`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from node.events import Received, kind_of
from node.exchange import signature_workers
from node.exchange.inbox_store import store_batch
from node.exchange.verify_pool import worker_count
from node.home import Node
from node.logs import short_reason
from node.networks.crossing import crossing_problem, crossing_resolver, crossing_targets
from node.networks.registry import membership_problem
from node.networks.relays import enqueue, hub_networks, relay_problem, relay_targets
from node.store import dumps, flush_erased, now, now_text, rows, write
from node.trust.peer_keys import KeyBook
from node.trust.peers import peer_name
from protocol.batch import Prepared, checks_of, prepare_each, settle_each
from protocol.envelope import VerifiedEnvelope
from protocol.timestamps import format_timestamp
from protocol.tlp import may_forward
from protocol.wire import result

log = logging.getLogger("praevnet.inbox")
Checked = VerifiedEnvelope | str
"""An envelope whose signatures were checked, or the reason it was refused."""


def _admit(node: Node, book: KeyBook, sender: str, checked: Sequence[Checked]) -> list[Checked]:
    """The node's own checks after the signatures: key state, who may send or relay what (`_scope_problem`),
    content present and not an alert already expired."""
    moment = now()
    ours = {row["id"] for row in rows(node.db, "SELECT id FROM networks")}
    admitted: list[Checked] = []
    for verified in checked:
        if isinstance(verified, str):
            admitted.append(verified)
            continue
        refusal = book.problem(verified.origin, verified.key_id, verified.created, moment)
        if refusal is None:
            refusal = _scope_problem(node, sender, verified, ours)
        if refusal is None:
            refusal = _content_problem(verified, moment)
        admitted.append(refusal if refusal is not None else verified)
    return admitted


def _content_problem(verified: VerifiedEnvelope, moment: datetime) -> str | None:
    """Why the envelope brings nothing to store, or None: it has no content, or is an alert that expired
    before it arrived (it would never be shown; nothing of it is stored)."""
    if not verified.has_content:
        return "envelope has no content"
    if verified.kind == "alert" and verified.expires is not None and verified.expires <= moment:
        return f"alert expired at {format_timestamp(verified.expires)}, before it arrived"
    return None


def _scope_problem(node: Node, sender: str, verified: VerifiedEnvelope, ours: set[str]) -> str | None:
    """Why `sender` may not give us this envelope, or None: one carrying a network we are not in only
    across a peering (node.networks.crossing); one of another origin only if a network of ours lets the
    sender relay it (node.networks.relays) or, without a network, if its label may be forwarded; and one
    carrying a network of ours only if its origin is a current member of that network."""
    if verified.network is not None and verified.network not in ours:
        return crossing_problem(node, sender, verified)
    if verified.origin != sender and verified.network is not None:
        return relay_problem(node, sender, verified)
    if verified.origin != sender and not may_forward(verified.tlp, shared_in=None, forward_in=None):
        return f"origin {verified.origin} is not the sending peer {sender}, and {verified.tlp} may not be forwarded"
    if verified.network is not None:
        problem = membership_problem(node, verified.origin, verified.network)
        if problem is not None:
            return f"origin {verified.origin} is not a member of network {verified.network} ({problem})"
    return None


def _relay_plan(node: Node, sender: str, checked: Sequence[Checked]) -> dict[str, list[str]]:
    """For a hub: per network of the accepted envelopes, the members to relay them to (not the sender)."""
    wanted = {item.network for item in checked if isinstance(item, VerifiedEnvelope) and item.network is not None}
    if not wanted:
        return {}
    hubbed = hub_networks(node) & wanted
    return {network: [peer for peer in relay_targets(node, network) if peer != sender] for network in hubbed}


def _crossing_plan(node: Node, sender: str, checked: Sequence[Checked]) -> dict[int, list[str]]:
    """For an operator: per accepted envelope (by index), the nodes it goes to across a peering."""
    plan = {}
    for index, item in enumerate(checked):
        if isinstance(item, VerifiedEnvelope) and item.network is not None:
            targets = crossing_targets(node, sender, item)
            if targets:
                plan[index] = targets
    return plan


def ingest(
    node: Node, sender: str, envelopes: Sequence[Any], txn_id: str | None = None, *, astral: bool | None = None
) -> dict[str, Any]:
    """Verify and store envelopes from `sender`; return `{"results": [...]}` with one entry per envelope.

    With a `txn_id`, the answer is stored with the batch and a repeat of the same (sender, txn_id)
    returns the stored answer without looking at the envelopes again. `astral` only for envelopes of a
    document that protocol.canonical.parse_scanned parsed (it returned `astral`): they are not scanned again.
    """
    if txn_id is not None:
        stored = stored_answer(node, sender, txn_id)
        if stored is not None:
            return stored
    book = KeyBook.load(node.db.conn)
    resolve = crossing_resolver(node, book, envelopes)
    workers = worker_count(node.config.delivery.verify_workers)
    with signature_workers.begin(workers, inline=len(envelopes) < signature_workers.SPLIT_FROM) as pending:
        prepared: list[Prepared] = []
        for start in range(0, len(envelopes), signature_workers.PART):
            part = prepare_each(envelopes[start : start + signature_workers.PART], resolve, astral)
            last = start > 0 and start + signature_workers.PART >= len(envelopes)
            pending.add(checks_of(part), keep=last)  # the node checks the last part while the workers finish
            prepared.extend(part)
        try:  # stored as if every signature verified, committed only if they all did
            hopeful = settle_each(prepared, {})
            return admit_and_store(node, sender, envelopes, hopeful, txn_id, book, confirm=pending.failures)
        except _SignaturesFailed:
            pass  # rolled back: store again with the verdicts (the reference path, below)
    return admit_and_store(node, sender, envelopes, settle_each(prepared, pending.failures()), txn_id, book)


class _SignaturesFailed(Exception):
    """A signature check failed after the batch was stored as if all verified: roll the transaction back."""


def admit_and_store(
    node: Node,
    sender: str,
    envelopes: Sequence[Any],
    checked: Sequence[Checked],
    txn_id: str | None = None,
    book: KeyBook | None = None,
    then: Callable[[sqlite3.Connection], None] | None = None,
    confirm: Callable[[], Mapping[int, str]] | None = None,
) -> dict[str, Any]:
    """Store envelopes from `sender` whose signatures were checked (`checked`, one per envelope, e.g. by
    protocol.batch in another process) after the node's own checks; answer as `ingest` does.

    `then` runs last inside the same write transaction (a pull moves its cursor there). `confirm`, for
    signature checks still running elsewhere (node.exchange.signature_workers), is asked just before the
    commit: if it names a failed check, the transaction is rolled back and _SignaturesFailed raised.
    """
    book = book or KeyBook.load(node.db.conn)
    admitted = _admit(node, book, sender, checked)
    relay_to = _relay_plan(node, sender, admitted)
    cross_to = _crossing_plan(node, sender, admitted)
    results: list[dict[str, Any]] = []
    with write(node.db) as conn:
        if txn_id is not None:
            again = conn.execute(
                "SELECT response FROM inbound_txns WHERE sender = ? AND txn_id = ?", (sender, txn_id)
            ).fetchone()
            if again is not None:
                return dict(json.loads(again[0]))
        stamp = now_text()
        verified = [item for item in admitted if isinstance(item, VerifiedEnvelope)]
        outcomes = iter(store_batch(conn, sender, verified, stamp))
        for index, (raw, item) in enumerate(zip(envelopes, admitted, strict=True)):
            if isinstance(item, str):
                results.append(result(index, raw, "refused", item))
                continue
            outcome = next(outcomes)
            if outcome is None:
                results.append(result(index, raw, "accepted"))
                if item.network in relay_to:
                    enqueue(conn, relay_to[item.network], item.origin, item.seq, stamp)
                if index in cross_to:
                    enqueue(conn, cross_to[index], item.origin, item.seq, stamp)
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
        if then is not None:
            then(conn)
        if confirm is not None and confirm():
            raise _SignaturesFailed
    if any(isinstance(item, VerifiedEnvelope) and item.kind == "retraction" for item in admitted):
        flush_erased(node.db)
    _report(node, envelopes, checked, admitted, results)
    _log_refused(node, sender, results, txn_id)
    return answer


def _log_refused(node: Node, sender: str, results: Sequence[dict[str, Any]], txn_id: str | None) -> None:
    """Log each refused envelope at info level: the sender, the record id and the reason (never its content)."""
    refused = [entry for entry in results if entry["status"] == "refused"]
    if not refused:
        return
    peer = peer_name(node, sender)
    for entry in refused:
        why = short_reason(entry.get("reason", ""))
        record_id = str(entry["id"])[:64] if "id" in entry else None  # as the sender wrote it: bounded
        log.info(
            "refused %s from %s: %s",
            record_id or f"envelope {entry['index']}",
            peer,
            why,
            extra=peer.fields(event="inbox.refused", record_id=record_id, txn_id=txn_id, outcome="refused", reason=why),
        )


def _report(
    node: Node, envelopes: Sequence[Any], checked: Sequence[Checked], admitted: Sequence[Checked], results: list[Any]
) -> None:
    """Tell node.events how the envelopes of a stored batch ended, and why each refused one was: its signature,
    hash or form did not verify, this node's rules refused it, or it conflicts with the origin's chain held here."""
    for raw, signed, item, entry in zip(envelopes, checked, admitted, results, strict=True):
        status: Received = entry["status"]
        node.events.received(item.kind if isinstance(item, VerifiedEnvelope) else kind_of(raw), status)
        if status == "refused":
            node.events.refused(
                "signature" if isinstance(signed, str) else "policy" if isinstance(item, str) else "conflict"
            )


def stored_answer(node: Node, sender: str, txn_id: str) -> dict[str, Any] | None:
    """The answer already given to (sender, txn_id), if that transaction was seen before."""
    found = rows(node.db, "SELECT response FROM inbound_txns WHERE sender = ? AND txn_id = ?", (sender, txn_id))
    return dict(json.loads(found[0]["response"])) if found else None
