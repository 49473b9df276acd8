"""This node's own chain as its peers hold it: where the next envelope goes, and holding envelopes back
until the node knows where its chain stands.

Every own envelope takes the next seq of the chain and the ref of the one before it as its prev (SPEC
4.3). A node restored from an older backup has lost the end of its chain: its peers hold envelopes
under seqs it is about to use again, and refuse every new one as a fork. So after a restore
(node.ops.backup marks it) and whenever a peer refuses one of our own envelopes as a fork, the chain
is *pending*: none of our envelopes above `held_above` leaves, neither pushed nor through the outbox,
until the node has asked its peers for the newest envelope of its chain they hold
(node.exchange.chain_head) and node.sharing.reseal has moved the chain past it. The head learned
is kept, so the next envelope follows it (`next_link`) even when the node holds nothing that high.

A fork refusal of our own envelope is loud: a log line at ERROR level, the peer's `chain_fork` (shown
by `praevnet peers status`), an audit entry, and `fork_refusals` and `chain_state` for the doctor.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

from node import audit
from node.home import Node
from node.store import first_row, now, now_text, rows, write
from node.users import NODE
from protocol.canonical import canonical_bytes
from protocol.envelope import build_envelope, envelope_ref

log = logging.getLogger("praevnet.chain")
FORK = "fork:"
"""How a peer's reason for refusing an envelope as a fork begins (node.exchange.inbox_store, SPEC 4.2)."""


def next_link(conn: sqlite3.Connection) -> tuple[int, str | None]:
    """The seq and prev of the next own envelope: after our newest one, or after the newest one of our chain
    that a peer reported holding (`chain_state.head_seq`) when that is as high (peers hold it, so it counts)."""
    last = conn.execute("SELECT seq, ref FROM envelopes ORDER BY seq DESC LIMIT 1").fetchone()
    seq, ref = (0, None) if last is None else (int(last[0]), str(last[1]))
    head = conn.execute("SELECT head_seq, head_ref FROM chain_state WHERE id = 1").fetchone()
    if head is not None and int(head[0]) >= seq and head[1] is not None:  # at the same seq, the peers' one counts
        seq, ref = int(head[0]), head[1]
    return seq + 1, ref


def append_envelope(node: Node, conn: sqlite3.Connection, **fields: Any) -> tuple[int, dict[str, Any]]:
    """Sign an envelope of `fields` (protocol.envelope.build_envelope's) into the chain at `next_link`, inside
    the caller's write transaction; return its seq and the envelope."""
    seq, prev = next_link(conn)
    envelope = build_envelope(node.key, origin=node.node_id, seq=seq, prev=prev, created=now(), **fields)
    conn.execute(
        "INSERT INTO envelopes (seq, id, version, kind, ref, envelope, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            seq,
            fields["record_id"],
            fields["version"],
            fields["kind"],
            envelope_ref(envelope),
            canonical_bytes(envelope).decode(),
            now_text(),
        ),
    )
    return seq, envelope


def held_above(conn: sqlite3.Connection) -> int | None:
    """While the chain is pending: the seq above which no own envelope may leave; None when all may."""
    found = conn.execute("SELECT held_above FROM chain_state WHERE id = 1 AND pending IS NOT NULL").fetchone()
    return None if found is None else int(found[0])


def hold(conn: sqlite3.Connection, above: int, why: str) -> None:
    """Inside a write transaction: make the chain pending for `why`, holding back own envelopes above `above`
    (or above a lower seq that an earlier hold named)."""
    conn.execute(
        """UPDATE chain_state SET pending = ?,
           held_above = CASE WHEN pending IS NULL THEN ? ELSE min(held_above, ?) END WHERE id = 1""",
        (why, above, above),
    )


def mark_restored(conn: sqlite3.Connection) -> None:
    """Inside a write transaction on a restored database: learn the chain head from peers before anything new
    leaves; every envelope the restored node signs from now on is held until then."""
    top = conn.execute("SELECT coalesce(max(seq), 0) FROM envelopes").fetchone()[0]
    hold(conn, int(top), f"restored from a backup on {now_text()}; the chain may have gone on after it")


def chain_state(node: Node) -> dict[str, Any]:
    """Where the chain stands: `pending` (why the head is to be learned from peers first, or None),
    `held_above`, the newest own seq, the head peers reported (`head_seq`, `head_ref`) and when (`learned`)."""
    row = first_row(
        node.db.conn,
        """SELECT s.pending, s.held_above, s.head_seq, s.head_ref, s.learned,
                  (SELECT coalesce(max(seq), 0) FROM envelopes) AS top
           FROM chain_state s WHERE s.id = 1""",
    )
    if row is None:  # migration 0019 inserts the row; a database without it has nothing held or learned
        row = {"pending": None, "head_seq": 0, "head_ref": None, "learned": None, "top": 0}
    return {**row, "held_above": row.get("held_above") if row["pending"] else None}


def fork_refusals(node: Node) -> list[dict[str, Any]]:
    """The peers whose last answer refused one of our own envelopes as a fork, each with `node_id`, `name` and
    `chain_fork` ("<time> seq N: <reason>"); cleared once the peer takes our envelopes again. For the doctor:
    any entry means a peer holds more of this node's chain than this node did (a restore from an older backup)."""
    return rows(
        node.db,
        "SELECT node_id, name, chain_fork FROM peers WHERE chain_fork IS NOT NULL ORDER BY name, node_id",
    )


def note_delivery(node: Node, peer_id: str, outcomes: Sequence[tuple[int, str, str | None]]) -> None:
    """After a push of own envelopes to `peer_id`, given (seq, state, reason) of each: a refusal as a fork is
    logged at ERROR level, shown in the peer's `chain_fork`, audited, and makes the chain pending (the node
    learns its head from its peers before sending more); an envelope the peer took clears an old `chain_fork`."""
    forks = sorted((seq, reason) for seq, state, reason in outcomes if state == "refused" and _is_fork(reason))
    if not forks:
        if any(state == "delivered" for _, state, _ in outcomes):
            with write(node.db) as conn:
                conn.execute(
                    "UPDATE peers SET chain_fork = NULL WHERE node_id = ? AND chain_fork IS NOT NULL"
                    " AND NOT EXISTS (SELECT 1 FROM chain_state WHERE pending IS NOT NULL)",
                    (peer_id,),
                )
        return
    seq, reason = forks[0]
    shown = f"{now_text()} seq {seq}: {reason}"
    with write(node.db) as conn:
        found = conn.execute("SELECT name FROM peers WHERE node_id = ?", (peer_id,)).fetchone()
        name = found[0] if found is not None else peer_id
        log.error(
            "%s (%s) refused %d of this node's own envelope(s) as a fork, first seq %d: it holds envelopes of this "
            "node's chain that this node does not (restored from an older backup?); learning the chain head from "
            "the peers before sending more, then sending them again after it",
            name,
            peer_id,
            len(forks),
            seq,
        )
        conn.execute("UPDATE peers SET chain_fork = ? WHERE node_id = ?", (shown, peer_id))
        hold(conn, seq - 1, f"{name} refused seq {seq} of this node's chain as a fork")
        audit.append(
            conn,
            user=NODE.name,
            action="chain.fork",
            recipients=[peer_id],
            detail=f"seq {', '.join(str(s) for s, _ in forks)} refused as a fork: {reason}",
        )


def _is_fork(reason: str | None) -> bool:
    return reason is not None and reason.startswith(FORK)
