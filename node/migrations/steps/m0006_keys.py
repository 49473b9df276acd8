"""Migration 0006_keys: this node's key versions (rotation, revocation), and what we know of each peer's old and
revoked keys."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0006_keys"


def apply(db: Database) -> None:
    """This node's key versions (rotation, revocation), and what we know of each peer's old and revoked keys."""
    for statement in (
        """
        CREATE TABLE own_keys (
            version INTEGER PRIMARY KEY,
            public TEXT NOT NULL,           -- base64url; the private key is in keys/ed25519-<version>.key
            created TEXT NOT NULL,
            expired TEXT,                   -- when it stopped being the current key
            revoked_since TEXT              -- compromised from this time on
        )
        """,
        "ALTER TABLE peers ADD COLUMN old_keys TEXT NOT NULL DEFAULT '{}'",  # kid -> {key, expired}
        "ALTER TABLE peers ADD COLUMN revoked TEXT NOT NULL DEFAULT '{}'",  # kid -> {since}
        "ALTER TABLE peers ADD COLUMN revocation_version INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE peers ADD COLUMN descriptor_acked INTEGER NOT NULL DEFAULT 0",  # our key generation it has
    ):
        db.execute(statement)
