"""Delivery status per peer, as `praevnet peers status` shows it, and retrying a peer at once."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from node.errors import NotFound
from node.home import Node
from node.store import rows, write

_STATUS = """
SELECT p.node_id, p.name, p.url, p.pull_only, p.failures, p.next_attempt, p.last_success, p.last_error,
       p.pull_cursor, p.served_cursor, p.forks, p.chain_fork,
       CASE WHEN p.pull_only THEN
           (SELECT count(*) FROM grants g WHERE g.peer_id = p.node_id AND g.cursor > p.served_cursor)
       ELSE (SELECT count(*) FROM deliveries d WHERE d.peer_id = p.node_id AND d.state = 'pending') END AS queued,
       (SELECT count(*) FROM deliveries d WHERE d.peer_id = p.node_id AND d.state = 'pending'
           AND d.txn_id IS NOT NULL) AS in_flight,
       (SELECT count(*) FROM deliveries d WHERE d.peer_id = p.node_id AND d.state = 'delivered') AS delivered,
       (SELECT count(*) FROM deliveries d WHERE d.peer_id = p.node_id AND d.state = 'refused') AS refused,
       (SELECT coalesce(max(g.cursor), 0) FROM grants g WHERE g.peer_id = p.node_id) AS outbox_end
FROM peers p ORDER BY p.name, p.node_id
"""


def _when(epoch: float) -> str | None:
    if epoch <= time.time():
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def peer_status(node: Node) -> list[dict[str, Any]]:
    """Per peer: queue depth, transaction in flight, outcomes, last success and error, next retry, cursors.

    For a pull-only peer the queue is what it has not pulled yet, judged by the cursor it last asked with.
    `forks_refused` counts the peer's envelopes this node refused as forks; `chain_fork` is the peer's last
    refusal of one of this node's own envelopes as a fork ("<time> seq N: <reason>", node.sharing.chain), or None.
    """
    result = []
    for row in rows(node.db, _STATUS):
        result.append(
            {
                "node_id": row["node_id"],
                "name": row["name"],
                "url": row["url"],
                "pull_only": bool(row["pull_only"]),
                "queued": row["queued"],
                "in_flight": row["in_flight"],
                "delivered": row["delivered"],
                "refused": row["refused"],
                "failures": row["failures"],
                "last_success": row["last_success"],
                "last_error": row["last_error"],
                "next_retry": _when(row["next_attempt"]) if row["queued"] else None,
                "our_cursor_in_their_outbox": row["pull_cursor"],
                "their_cursor_in_our_outbox": row["served_cursor"],
                "our_outbox_end_for_them": row["outbox_end"],
                "forks_refused": row["forks"],
                "chain_fork": row["chain_fork"],
            }
        )
    return result


def retry_now(node: Node, peer_id: str) -> int:
    """End a peer's backoff so queued envelopes go out at once; return how many are queued."""
    with write(node.db) as conn:
        if conn.execute("UPDATE peers SET next_attempt = 0 WHERE node_id = ?", (peer_id,)).rowcount == 0:
            raise NotFound(f"{peer_id} is not a trusted peer (see `praevnet peers list`)")
        return int(
            conn.execute(
                "SELECT count(*) FROM deliveries WHERE peer_id = ? AND state = 'pending'", (peer_id,)
            ).fetchone()[0]
        )


def contacted(node: Node, peer_id: str) -> None:
    """A peer just talked to us: if it was in backoff, try pushing to it again right away."""
    found = node.db.execute("SELECT next_attempt FROM peers WHERE node_id = ?", (peer_id,)).fetchone()
    if found is not None and found[0] > time.time():
        with write(node.db) as conn:
            conn.execute("UPDATE peers SET next_attempt = 0 WHERE node_id = ?", (peer_id,))
