"""Migration 0015_audit_checkpoints: the newest signed checkpoints of the audit log's head (node.checkpoints);
copies belong outside the node."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0015_audit_checkpoints"


def apply(db: Database) -> None:
    """The newest signed checkpoints of the audit log's head (node.checkpoints); copies belong outside the node."""
    db.execute(
        """
        CREATE TABLE audit_checkpoints (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            seq INTEGER NOT NULL,           -- the audit entry it vouches for (the head when it was made)
            made TEXT NOT NULL,             -- its time (UTC, second precision, with Z)
            checkpoint TEXT NOT NULL        -- the signed checkpoint, canonical JSON (protocol.checkpoint)
        )
        """
    )
