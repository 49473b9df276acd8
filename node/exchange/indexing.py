"""Indexing received records for search after they were stored: the serving node's loop that drains the queue
(node.migrations.index_pending) in small batches, so that no batch holds the event loop long."""

from __future__ import annotations

import asyncio
import logging

from node.home import Node
from node.migrations import index_pending
from node.store import write

log = logging.getLogger("praevnet.indexing")

INDEX_BATCH = 100
"""Received records indexed per transaction (about 0.4 ms each): short enough to keep requests flowing."""
INDEX_INTERVAL = 1.0
"""Seconds between looks at the queue once it is empty."""


def index_some(node: Node, limit: int = INDEX_BATCH) -> int:
    """Index up to `limit` received records that wait; return how many were indexed (0: none waited)."""
    if node.db.execute("SELECT 1 FROM search_pending LIMIT 1").fetchone() is None:
        return 0
    with write(node.db, durable=False) as conn:  # the queue and the index commit or are lost together
        return index_pending(conn, limit)


async def index_loop(node: Node) -> None:
    """Index what waits, a batch at a time with the event loop free in between, until cancelled."""
    while True:
        try:
            indexed = index_some(node)
        except Exception:
            log.exception("search indexing loop")
            indexed = 0
        await asyncio.sleep(0 if indexed else INDEX_INTERVAL)
