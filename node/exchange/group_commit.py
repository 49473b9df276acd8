"""Group commit: the outcomes of many peers' answers recorded in one durable write transaction.

A fan-out (an alert to every peer, a hub relaying to a thousand members) gets its answers at about
the same moment; recording each in a transaction of its own costs a disk flush per peer, during which
the event loop sends and reads nothing. A `GroupCommit` collects the work of every answer that came in
meanwhile and commits it at once. Each piece runs in a savepoint of its own, so one that fails is
rolled back alone and raises in its caller; the others are committed. A caller's `record` returns
once its work is on disk, exactly as a `write` transaction of its own would.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable

from node.home import Node
from node.store import write

Work = Callable[[sqlite3.Connection], None]


class GroupCommit:
    """Commits the work handed to `record` by concurrent tasks in shared write transactions."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.pending: list[tuple[Work, asyncio.Future[None]]] = []
        self.flushing: asyncio.Task[None] | None = None
        self.commits = 0  # write transactions made, for the curious (benchmarks)

    async def record(self, work: Work) -> None:
        """Run `work(conn)` inside a write transaction shared with whatever else is waiting; return once committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((work, done))
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.create_task(self._flush())
        await done  # a caller cancelled meanwhile leaves its work to be committed with the others

    async def drain(self) -> None:
        """Wait until everything handed over so far is committed (or has failed)."""
        while self.flushing is not None and not self.flushing.done():
            await asyncio.wait([self.flushing])  # which never cancels the flush

    async def _flush(self) -> None:
        while self.pending:
            await asyncio.sleep(0)  # answers already read join this commit
            batch, self.pending = self.pending, []
            failures: dict[int, BaseException] = {}
            try:
                with write(self.node.db) as conn:
                    for index, (work, _) in enumerate(batch):
                        conn.execute("SAVEPOINT piece")
                        try:
                            work(conn)
                        except Exception as exc:
                            conn.execute("ROLLBACK TO piece")
                            failures[index] = exc
                        conn.execute("RELEASE piece")
                self.commits += 1
            except Exception as exc:  # the commit itself failed: nothing of this batch is stored
                failures = dict.fromkeys(range(len(batch)), exc)
            for index, (_, done) in enumerate(batch):
                if done.done():
                    continue
                if index in failures:
                    done.set_exception(failures[index])
                else:
                    done.set_result(None)
