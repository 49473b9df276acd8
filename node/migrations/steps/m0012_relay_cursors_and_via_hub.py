"""Migration 0012_relay_cursors_and_via_hub: outbox cursors for relays (a hub's outbox serves them after its grants,
in one order), and whether this node sends a network's shares only to its hubs."""

from __future__ import annotations

from sqlite_utils import Database

from node.migrations.cursors import allocate_cursors

NAME = "0012_relay_cursors_and_via_hub"


def apply(db: Database) -> None:
    """Outbox cursors for relays (a hub's outbox serves them after its grants, in one order), and whether
    this node sends a network's shares only to its hubs."""
    db.execute("ALTER TABLE relays ADD COLUMN cursor INTEGER")  # from the grants' sequence (allocate_cursors)
    db.execute("CREATE UNIQUE INDEX relays_cursor ON relays (peer_id, cursor)")
    db.execute("ALTER TABLE networks ADD COLUMN via_hub INTEGER NOT NULL DEFAULT 0")  # 1: shares go to hubs only
    pending = [row[0] for row in db.execute("SELECT id FROM relays WHERE state = 'pending' ORDER BY id").fetchall()]
    for relay_id, cursor in zip(pending, allocate_cursors(db.conn, len(pending)), strict=True):
        db.execute("UPDATE relays SET cursor = ? WHERE id = ?", (cursor, relay_id))
