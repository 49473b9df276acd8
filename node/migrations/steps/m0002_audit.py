"""Migration 0002_audit: the hash-chained, append-only audit log, its head, and triggers that refuse changes (see
node/audit/)."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0002_audit"


def apply(db: Database) -> None:
    """The hash-chained, append-only audit log, its head, and triggers that refuse changes (see node/audit/)."""
    for statement in (
        """
        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,        -- contiguous from 1
            time TEXT NOT NULL,             -- ISO 8601, UTC, with Z
            user TEXT NOT NULL,
            action TEXT NOT NULL,
            record_id TEXT,
            version INTEGER,
            recipients TEXT NOT NULL,       -- JSON array of node ids
            digest TEXT,                    -- sha256:<base64url> of the bytes that left or arrived
            detail TEXT,
            prev TEXT NOT NULL,             -- hash of the previous entry, '' for the first
            hash TEXT NOT NULL              -- base64url SHA-256 of the canonical JSON of the fields above
        )
        """,
        "CREATE INDEX audit_record ON audit (record_id, seq)",
        """
        CREATE TABLE audit_head (           -- seq and hash of the last entry, moved with every append
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL
        )
        """,
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '')",
        """
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END
        """,
        """
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END
        """,
        """
        CREATE TRIGGER audit_append_only BEFORE INSERT ON audit
        WHEN NEW.seq IS NOT (SELECT seq + 1 FROM audit_head WHERE id = 1)
            OR NEW.prev IS NOT (SELECT hash FROM audit_head WHERE id = 1)
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only: a new entry must follow the head'); END
        """,
        """
        CREATE TRIGGER audit_head_no_insert BEFORE INSERT ON audit_head
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only: the head exists once'); END
        """,
        """
        CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END
        """,
        """
        CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head
        WHEN NEW.id IS NOT OLD.id OR NEW.seq IS NOT OLD.seq + 1
            OR NEW.hash IS NOT (SELECT hash FROM audit WHERE seq = NEW.seq)
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only: the head only moves to the next entry'); END
        """,
    ):
        db.execute(statement)
