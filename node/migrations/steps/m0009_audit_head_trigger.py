"""Migration 0009_audit_head_trigger: move the audit head with every insert, so that a batch of entries is one
executemany."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0009_audit_head_trigger"


def apply(db: Database) -> None:
    """Move the audit head with every insert, so that a batch of entries is one executemany."""
    db.execute(
        """
        CREATE TRIGGER audit_head_follows AFTER INSERT ON audit
        BEGIN UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1; END
        """
    )
