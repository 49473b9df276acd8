"""Migration 0003_users: local users with roles, their scrypt password hashes and the SHA-256 of their personal
token."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0003_users"


def apply(db: Database) -> None:
    """Local users with roles, their scrypt password hashes and the SHA-256 of their personal token."""
    db.execute(
        """
        CREATE TABLE users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('officer', 'approver', 'admin')),
            password TEXT NOT NULL,         -- scrypt$N$r$p$<salt b64>$<hash b64>, never the plaintext
            token_hash TEXT,                -- SHA-256 (hex) of the personal token, if one was issued
            created TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0
        )
        """
    )
