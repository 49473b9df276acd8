"""Migration 0004_delivery: per-peer delivery state: pull-only peers, a catch-up request after a gap, cursors and
forks."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0004_delivery"


def apply(db: Database) -> None:
    """Per-peer delivery state: pull-only peers, a catch-up request after a gap, cursors and forks."""
    for statement in (
        "ALTER TABLE peers ADD COLUMN pull_only INTEGER NOT NULL DEFAULT 0",  # never push; it pulls
        "ALTER TABLE peers ADD COLUMN catch_up INTEGER NOT NULL DEFAULT 0",  # a gap was seen: pull soon
        "ALTER TABLE peers ADD COLUMN served_cursor INTEGER NOT NULL DEFAULT 0",  # how far it pulled from us
        "ALTER TABLE peers ADD COLUMN forks INTEGER NOT NULL DEFAULT 0",  # forked envelopes it sent, refused
        "CREATE INDEX inbox_ref ON inbox (origin, ref)",
    ):
        db.execute(statement)
