"""Migration 0013_drop_inbox_ref: the inbox no longer looks envelopes up by ref: an envelope's prev is compared with
the ref of the origin's envelope seq - 1, found by the primary key. The index on random hashes cost every insert."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0013_drop_inbox_ref"


def apply(db: Database) -> None:
    """The inbox no longer looks envelopes up by ref: an envelope's prev is compared with the ref of the
    origin's envelope seq - 1, found by the primary key. The index on random hashes cost every insert."""
    db.execute("DROP INDEX IF EXISTS inbox_ref")
