"""Migration 0017_user_language: the interface language each user chose (NULL: German, the default)."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0017_user_language"


def apply(db: Database) -> None:
    """The interface language each user chose (NULL: German, the default)."""
    db.execute("ALTER TABLE users ADD COLUMN language TEXT")
