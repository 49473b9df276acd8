"""Outbox cursors shared by a hub's grants and relays (migration 0012 and node.networks.relays)."""

from __future__ import annotations

from typing import Any


def allocate_cursors(conn: Any, count: int) -> list[int]:
    """`count` fresh outbox cursors from the sequence of `grants.cursor`, so that a hub's relays and its
    own grants share one ascending order (SQLite's AUTOINCREMENT never hands out a cursor taken here)."""
    if count <= 0:
        return []
    conn.execute(
        """INSERT INTO sqlite_sequence (name, seq)
           SELECT 'grants', coalesce((SELECT max(cursor) FROM grants), 0)
           WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'grants')"""
    )
    (last,) = conn.execute(
        "UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'grants' RETURNING seq", (count,)
    ).fetchone()
    return list(range(int(last) - count + 1, int(last) + 1))
