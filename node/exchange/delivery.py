"""Push delivery: sending queued envelopes to one peer as a signed inbox transaction.

The queue is the `deliveries` table, so it survives restarts. A batch holds up to 50 envelopes
and no more bytes than the receiver's 1 MiB body limit, alerts first; its transaction id is
written before sending, so a repeat after a lost answer uses the same id and the receiver
deduplicates. A failed attempt is retried a few times at once (connection errors, 401, 408,
429, 5xx); then the peer goes into a persisted, jittered backoff that grows from seconds to
hours, and is reset as soon as the peer talks to us. Other 4xx answers are final and recorded.
Pull-only peers are never pushed to. Envelopes come only from node.sharing.policy.releasable, and the
envelopes of other origins that a network hub relays (node.networks.relays) only from node.sharing.policy.relayable;
both travel in the same transactions, one transaction in flight per peer. While this node's chain is held
(node.sharing.chain), its own envelopes above the hold wait; a peer's fork refusal of one is reported there.
A fan-out is claimed in one commit and its sends write nothing before their request goes out; the answers
that come in together are recorded in one commit (node.exchange.group_commit).
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from node import audit
from node.errors import PeerError
from node.exchange.group_commit import GroupCommit
from node.home import Node
from node.logs import PeerName, short_reason
from node.sharing import policy
from node.sharing.chain import held_above, note_delivery
from node.store import now_text, rows, write
from node.transport.auth import MAX_BODY
from node.transport.client import HttpFailure, signed_request
from node.trust.peers import get_peer, peer_name
from node.users import NODE
from protocol.canonical import canonical_bytes
from protocol.envelope import MAX_SEQ
from protocol.errors import ProtocolError
from protocol.wire import MAX_ENVELOPES, parse_results

log = logging.getLogger("praevnet.delivery")
RETRYABLE_STATUS = frozenset({401, 408, 429})
QUICK_RETRIES = (0.5, 2.0)  # seconds to wait before each immediate retry of a failed request
MAX_BATCH_BYTES = MAX_BODY - 1024  # the receiver's body limit, less room for {"envelopes":[...]}


def due_peers(node: Node) -> list[str]:
    """Peers with pending deliveries whose backoff has run out."""
    found = rows(
        node.db,
        """
        SELECT d.peer_id FROM deliveries d JOIN peers p ON p.node_id = d.peer_id
        WHERE d.state = 'pending' AND p.next_attempt <= :now AND p.pull_only = 0 AND d.seq <= :held
        UNION
        SELECT r.peer_id FROM relays r JOIN peers p ON p.node_id = r.peer_id
        WHERE r.state = 'pending' AND p.next_attempt <= :now AND p.pull_only = 0
        """,
        {"now": time.time(), "held": _held(node.db.conn)},
    )
    return [row["peer_id"] for row in found]


def _held(conn: sqlite3.Connection) -> int:
    """The highest own seq that may be pushed now: all, unless the chain is held (node.sharing.chain)."""
    above = held_above(conn)
    return MAX_SEQ if above is None else above


def claim_batches(node: Node, peer_ids: Sequence[str]) -> dict[str, str]:
    """Claim the next batch for each peer in one write transaction; return each peer's transaction id.

    A fan-out to many peers (an alert to all of them) then costs one commit instead of one per
    peer; `send_batch` finds each claimed transaction and sends it without writing again.
    """
    if not peer_ids:
        return {}
    with write(node.db) as conn:
        return {peer_id: _claim(conn, peer_id) for peer_id in peer_ids}


def _inflight(conn: sqlite3.Connection, peer_id: str) -> str | None:
    """The id of the peer's claimed, unfinished transaction, if there is one."""
    found = conn.execute(
        """SELECT txn_id FROM deliveries WHERE peer_id = :peer AND state = 'pending' AND txn_id IS NOT NULL
           UNION ALL
           SELECT txn_id FROM relays WHERE peer_id = :peer AND state = 'pending' AND txn_id IS NOT NULL
           LIMIT 1""",
        {"peer": peer_id},
    ).fetchone()
    return None if found is None else str(found[0])


def _claim(conn: sqlite3.Connection, peer_id: str) -> str:
    """Inside a write transaction: the peer's unfinished transaction id, else a new one claiming up to 50."""
    inflight = _inflight(conn, peer_id)
    if inflight is not None:
        txn_id = inflight
    else:
        txn_id = uuid.uuid4().hex
        candidates = conn.execute(
            """
            SELECT d.id, length(CAST(e.envelope AS BLOB)) FROM deliveries d JOIN envelopes e ON e.seq = d.seq
            WHERE d.peer_id = ? AND d.state = 'pending' AND d.seq <= ? ORDER BY d.priority, d.id LIMIT ?
            """,
            (peer_id, _held(conn), MAX_ENVELOPES),
        ).fetchall()
        chosen: list[int] = []
        size = 0
        for delivery_id, length in candidates:  # up to 50, and no more bytes than the receiver takes
            if chosen and size + length + 1 > MAX_BATCH_BYTES:
                break
            chosen.append(delivery_id)
            size += length + 1
        conn.executemany("UPDATE deliveries SET txn_id = ? WHERE id = ?", [(txn_id, i) for i in chosen])
        relays = conn.execute(
            """
            SELECT r.id, length(CAST(i.envelope AS BLOB)) FROM relays r
            JOIN inbox i ON i.origin = r.origin AND i.seq = r.seq
            WHERE r.peer_id = ? AND r.state = 'pending' ORDER BY r.id LIMIT ?
            """,
            (peer_id, MAX_ENVELOPES - len(chosen)),
        ).fetchall()
        relayed: list[int] = []
        for relay_id, length in relays:
            if (chosen or relayed) and size + length + 1 > MAX_BATCH_BYTES:
                break
            relayed.append(relay_id)
            size += length + 1
        conn.executemany("UPDATE relays SET txn_id = ? WHERE id = ?", [(txn_id, i) for i in relayed])
    return txn_id


def _claim_batch(node: Node, peer_id: str) -> tuple[str, list[dict[str, Any]]]:
    """The batch to send next: the unfinished transaction if there is one, else a new one of up to 50.

    Returns the transaction id and this node's own envelopes in it; the relays (other origins'
    envelopes a hub passes on) claimed into the same transaction are read with `_claimed_relays`.
    """
    # Claimed already (the worker claims a whole fan-out in one commit): read it without a write of its own.
    txn_id = _inflight(node.db.conn, peer_id) or claim_batches(node, [peer_id])[peer_id]
    batch = rows(
        node.db,
        "SELECT id, seq FROM deliveries WHERE peer_id = ? AND txn_id = ? AND state = 'pending' ORDER BY priority, id",
        (peer_id, txn_id),
    )
    return txn_id, batch


_FINISH_DELIVERY = "UPDATE deliveries SET state = ?, reason = ?, finished = ? WHERE id = ?"
_FINISH_RELAY = "UPDATE relays SET state = ?, reason = ?, finished = ? WHERE id = ?"


def _claimed_relays(node: Node, peer_id: str, txn_id: str) -> list[dict[str, Any]]:
    """The relays claimed into transaction `txn_id` and not finished yet."""
    return rows(
        node.db,
        "SELECT id FROM relays WHERE peer_id = ? AND txn_id = ? AND state = 'pending' ORDER BY id",
        (peer_id, txn_id),
    )


@dataclass(frozen=True)
class Outcome:
    """How one queued envelope ended: its row id, "delivered" or "refused" and why; with the envelope if it
    was sent (its bytes reached the peer, so it is audited as sent), without if it was withheld."""

    id: int
    state: str
    reason: str | None = None
    envelope: dict[str, Any] | None = None


class DeliveryOutcome(Outcome):
    """The outcome of one of this node's own envelopes: a row of table deliveries."""


class RelayOutcome(Outcome):
    """The outcome of another origin's envelope this node relays as a hub: a row of table relays."""


def _finish(
    node: Node,
    deliveries: Sequence[DeliveryOutcome],
    relays: Sequence[RelayOutcome] = (),
    peer_id: str = "",
    *,
    answered: bool = False,
) -> None:
    """Record the outcome of deliveries and relays and, for envelopes whose bytes reached the peer, an audit entry.

    With `answered`, the peer's backoff is reset in the same transaction (see `record_success`).
    """
    with write(node.db) as conn:
        _record_outcomes(conn, node, deliveries, relays, peer_id, answered=answered)
    _count_sent(node, (*deliveries, *relays))


def _record_outcomes(
    conn: sqlite3.Connection,
    node: Node,
    deliveries: Sequence[DeliveryOutcome],
    relays: Sequence[RelayOutcome],
    peer_id: str,
    *,
    answered: bool,
) -> None:
    """Inside a write transaction: what `_finish` records."""
    stamp = now_text()
    conn.executemany(_FINISH_DELIVERY, [(item.state, item.reason, stamp, item.id) for item in deliveries])
    conn.executemany(_FINISH_RELAY, [(item.state, item.reason, stamp, item.id) for item in relays])
    if answered:
        _reset_backoff(conn, peer_id, stamp)
    sent = [(item.envelope, item) for item in (*deliveries, *relays) if item.envelope is not None]
    if not sent:  # withheld before sending: no bytes left, nothing to audit
        return
    audit.append_many(
        conn,
        [
            {
                "user": NODE.name,
                "action": "sent",
                "record_id": envelope["id"],
                "version": envelope["version"],
                "recipients": [peer_id],
                "digest": audit.digest_of(canonical_bytes(envelope)),
                "detail": f"{envelope['type']}"
                + (f" of {envelope['origin']} (relayed)" if envelope["origin"] != node.node_id else "")
                + f": {'accepted' if item.state == 'delivered' else f'refused: {item.reason}'}",
            }
            for envelope, item in sent
        ],
    )


def _count_sent(node: Node, outcomes: Sequence[Outcome]) -> None:
    """After the commit: count every envelope whose bytes reached the peer in the node's metrics."""
    for item in outcomes:
        if item.envelope is not None:
            node.events.sent(item.envelope["type"], "delivered" if item.state == "delivered" else "refused")


def _verdict(result: dict[str, Any]) -> tuple[str, str | None]:
    """The state and reason of one sent envelope, from the peer's result for it ({} if it gave none)."""
    if result.get("status") in ("accepted", "duplicate"):
        return "delivered", None
    return "refused", str(result.get("reason") or "no result for this envelope")


def backoff_seconds(node: Node, failures: int) -> float:
    """How long to wait after the n-th consecutive failure: doubling, with ±25% jitter, never over max_backoff."""
    settings = node.config.delivery
    base = min(settings.max_backoff, settings.min_backoff * 2 ** min(failures - 1, 30))
    jittered = base * random.uniform(0.75, 1.25)  # noqa: S311 - jitter, not security
    return float(min(settings.max_backoff, jittered))


def _log_sent(peer: PeerName, txn_id: str, outcomes: Sequence[Outcome], seconds: float) -> None:
    """Log a transaction the peer answered (info), and each envelope it refused with the peer's reason."""
    refused = [item for item in outcomes if item.state != "delivered"]
    accepted = len(outcomes) - len(refused)
    log.info(
        "sent %d envelope(s) to %s: %d accepted, %d refused",
        len(outcomes),
        peer,
        accepted,
        len(refused),
        extra=peer.fields(
            event="delivery.sent",
            txn_id=txn_id,
            outcome="accepted" if not refused else "refused" if not accepted else "partly refused",
            accepted=accepted,
            refused=len(refused),
            duration=seconds,
        ),
    )
    for item in refused:
        record_id = item.envelope["id"] if item.envelope is not None else None
        log.info(
            "%s refused %s: %s",
            peer,
            record_id,
            short_reason(item.reason),
            extra=peer.fields(
                event="delivery.refused",
                txn_id=txn_id,
                record_id=record_id,
                outcome="refused",
                reason=short_reason(item.reason),
            ),
        )


def record_failure(node: Node, peer_id: str, message: str) -> None:
    """Count a failed attempt, persist the next retry time, and log it for the operator."""
    with write(node.db) as conn:
        found = conn.execute("SELECT failures FROM peers WHERE node_id = ?", (peer_id,)).fetchone()
        if found is None:
            return
        failures = found[0] + 1
        delay = backoff_seconds(node, failures)
        peer = peer_name(node, peer_id)
        log.warning(
            "delivery to %s failed (%d in a row), next try in %.0f s: %s",
            peer,
            failures,
            delay,
            short_reason(message),
            extra=peer.fields(event="delivery.failed", outcome="failed", reason=short_reason(message)),
        )
        conn.execute(
            "UPDATE peers SET failures = ?, next_attempt = ?, last_error = ? WHERE node_id = ?",
            (failures, time.time() + delay, f"{now_text()} {message}", peer_id),
        )


def record_error(node: Node, peer_id: str, message: str) -> None:
    """Show a final refusal by the peer without putting it into backoff."""
    peer = peer_name(node, peer_id)
    log.warning(
        "delivery to %s refused for good: %s",
        peer,
        short_reason(message),
        extra=peer.fields(event="delivery.refused", outcome="refused", reason=short_reason(message)),
    )
    with write(node.db) as conn:
        conn.execute("UPDATE peers SET last_error = ? WHERE node_id = ?", (f"{now_text()} {message}", peer_id))


def record_success(node: Node, peer_id: str) -> None:
    """Reset a peer's backoff after a successful exchange."""
    with write(node.db) as conn:
        _reset_backoff(conn, peer_id, now_text())


def _reset_backoff(conn: sqlite3.Connection, peer_id: str, stamp: str) -> None:
    conn.execute(
        "UPDATE peers SET failures = 0, next_attempt = 0, last_error = NULL, last_success = ? WHERE node_id = ?",
        (stamp, peer_id),
    )


def _retryable(exc: PeerError) -> bool:
    if isinstance(exc, HttpFailure):
        return exc.status in RETRYABLE_STATUS or exc.status >= 500
    return True  # connection refused, reset, timed out


def _may_change_chain(node: Node, peer_id: str, own: Sequence[tuple[int, str, str | None]]) -> bool:
    """Whether node.sharing.chain.note_delivery has anything to do: a refusal (perhaps as a fork), or an
    envelope the peer took while it shows an old fork refusal. Otherwise its write would change nothing."""
    if not own:
        return False
    if any(state != "delivered" for _, state, _ in own):
        return True
    shown = node.db.execute("SELECT chain_fork FROM peers WHERE node_id = ?", (peer_id,)).fetchone()
    return shown is not None and shown[0] is not None


async def _put(
    node: Node, session: aiohttp.ClientSession, peer: dict[str, Any], txn_id: str, payload: dict[str, Any]
) -> Any:
    """PUT one transaction, retrying a few times at once on failures worth retrying (same txn id)."""
    pauses = list(QUICK_RETRIES)
    while True:
        try:
            return await signed_request(node, session, peer, "PUT", f"/fed/v1/inbox/{txn_id}", payload)
        except PeerError as exc:
            if not pauses or not _retryable(exc):
                raise
            pause = pauses.pop(0)
            log.info("retrying delivery to %s in %.1f s: %s", peer["node_id"], pause, exc)
            await asyncio.sleep(pause)


async def send_batch(
    node: Node, session: aiohttp.ClientSession, peer_id: str, commits: GroupCommit | None = None
) -> int:
    """Send the next batch of queued envelopes to one peer; return how many it took.

    The outcome is recorded through `commits`, shared by a fan-out's sends (one commit for the answers that
    come in together), else in a transaction of its own.
    """
    if node.db.execute("SELECT 1 FROM peers WHERE node_id = ? AND pull_only = 1", (peer_id,)).fetchone():
        return 0  # a pull-only peer is never pushed to
    txn_id, batch = _claim_batch(node, peer_id)
    relay_batch = _claimed_relays(node, peer_id, txn_id)
    if not batch and not relay_batch:
        return 0
    allowed = policy.releasable(node, peer_id, [row["seq"] for row in batch])
    relayable = policy.relayable(node, peer_id, [row["id"] for row in relay_batch])
    withheld = [
        DeliveryOutcome(row["id"], "refused", "no longer shared with this peer")
        for row in batch
        if row["seq"] not in allowed
    ]
    relay_withheld = [
        RelayOutcome(row["id"], "refused", "not relayable now") for row in relay_batch if row["id"] not in relayable
    ]
    sending = [(row["id"], allowed[row["seq"]]) for row in batch if row["seq"] in allowed]
    relaying = [(row["id"], relayable[row["id"]]) for row in relay_batch if row["id"] in relayable]
    if withheld or relay_withheld:
        _finish(node, withheld, relay_withheld)
    if not sending and not relaying:
        return 0
    peer = get_peer(node, peer_id)
    payload = {"envelopes": [envelope for _, envelope in [*sending, *relaying]]}  # own envelopes first, then relays
    started = time.monotonic()
    try:
        answer = await _put(node, session, peer, txn_id, payload)
        results = parse_results(answer)
    except HttpFailure as exc:
        if _retryable(exc):
            record_failure(node, peer_id, str(exc))
        else:  # final: these envelopes are refused for good, the rest of the queue goes on
            _finish(
                node,
                [DeliveryOutcome(row_id, "refused", str(exc), envelope) for row_id, envelope in sending],
                [RelayOutcome(row_id, "refused", str(exc), envelope) for row_id, envelope in relaying],
                peer_id,
            )
            record_error(node, peer_id, str(exc))
        return 0
    except (PeerError, ProtocolError) as exc:
        record_failure(node, peer_id, str(exc))
        return 0
    by_index = {r.get("index"): r for r in results}  # a result names its envelope's place in the payload
    delivered = [
        DeliveryOutcome(row_id, *_verdict(by_index.get(index, {})), envelope)
        for index, (row_id, envelope) in enumerate(sending)
    ]
    relayed = [
        RelayOutcome(row_id, *_verdict(by_index.get(index, {})), envelope)
        for index, (row_id, envelope) in enumerate(relaying, start=len(sending))
    ]
    await (commits or GroupCommit(node)).record(
        lambda conn: _record_outcomes(conn, node, delivered, relayed, peer_id, answered=True)
    )
    _count_sent(node, (*delivered, *relayed))
    own = [(envelope["seq"], item.state, item.reason) for item, (_, envelope) in zip(delivered, sending, strict=True)]
    if _may_change_chain(node, peer_id, own):
        note_delivery(node, peer_id, own)
    _log_sent(PeerName(peer_id, peer["name"]), txn_id, [*delivered, *relayed], time.monotonic() - started)
    return sum(1 for item in (*delivered, *relayed) if item.state == "delivered")
