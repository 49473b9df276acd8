"""Alerts lapse: after `expires` they drop out of lists everywhere (node.sharing.records, node.exchange.received), and
after the configured retention their content is purged, on the origin and on every receiver.

Purging keeps each signed envelope as a tombstone (its content removed, its signature still
verifiable), so the chain and the audit log stay intact.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from node import audit
from node.home import Node
from node.migrations import search_erase_traces
from node.store import flush_erased, now, now_text, write
from node.users import NODE
from protocol.canonical import canonical_bytes
from protocol.envelope import redact
from protocol.timestamps import format_timestamp


def purge_expired(node: Node, *, moment: datetime | None = None) -> dict[str, int]:
    """Purge the content of alerts that expired more than `retention_days` ago; return what was purged."""
    cutoff = format_timestamp((moment or now()) - timedelta(days=node.config.alerts.retention_days))
    stamp = now_text()
    counts = {"own": 0, "received": 0}
    with write(node.db) as conn:
        own = conn.execute(
            "SELECT id, version FROM records WHERE kind = 'alert' AND purged IS NULL AND expires <= ?", (cutoff,)
        ).fetchall()
        for record_id, version in own:
            conn.execute("UPDATE versions SET content = '{}' WHERE record_id = ?", (record_id,))
            for seq, text in conn.execute("SELECT seq, envelope FROM envelopes WHERE id = ?", (record_id,)).fetchall():
                conn.execute("UPDATE envelopes SET envelope = ? WHERE seq = ?", (_tombstone(text), seq))
                conn.execute("DELETE FROM deliveries WHERE seq = ? AND state = 'pending'", (seq,))
                conn.execute("DELETE FROM grants WHERE seq = ?", (seq,))
            conn.execute("UPDATE records SET purged = ? WHERE id = ?", (stamp, record_id))
            audit.append(conn, user=NODE.name, action="alert.purge", record_id=record_id, version=version)
            counts["own"] += 1
        received = conn.execute(
            """SELECT origin, seq, id, version, envelope FROM inbox
               WHERE kind = 'alert' AND erased IS NULL AND expires <= ?""",
            (cutoff,),
        ).fetchall()
        for origin, seq, record_id, version, text in received:
            conn.execute(
                "UPDATE inbox SET envelope = ?, erased = ? WHERE origin = ? AND seq = ?",
                (_tombstone(text), stamp, origin, seq),
            )
            audit.append(
                conn,
                user=NODE.name,
                action="alert.purge",
                record_id=record_id,
                version=version,
                detail=f"from {origin}",
            )
            counts["received"] += 1
        search_erase_traces(conn)  # the purged text leaves the search index's segments too
    if any(counts.values()):
        flush_erased(node.db)
    return counts


def _tombstone(text: str) -> str:
    envelope: dict[str, Any] = json.loads(text)
    return canonical_bytes(redact(envelope)).decode()
