"""Migration 0005_pairing: one-time invitations for pairing in one step, and each peer's confirmed pair safety
number."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0005_pairing"


def apply(db: Database) -> None:
    """One-time invitations for pairing in one step, and each peer's confirmed pair safety number."""
    for statement in (
        """
        CREATE TABLE invitations (
            id INTEGER PRIMARY KEY,
            secret_hash TEXT NOT NULL UNIQUE,  -- base64url SHA-256 of the secret; the secret is never stored
            created TEXT NOT NULL,
            created_by TEXT NOT NULL,
            expires TEXT NOT NULL,          -- UTC, second precision, with Z (compared as text)
            used_by TEXT,                   -- node id of the node that paired with it
            used_at TEXT
        )
        """,
        "ALTER TABLE peers ADD COLUMN verified TEXT",  # when the officers confirmed the pair safety number
        "ALTER TABLE peers ADD COLUMN verified_by TEXT",
        "ALTER TABLE peers ADD COLUMN verified_fingerprint TEXT",  # the peer key that number was computed with
    ):
        db.execute(statement)
