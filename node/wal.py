"""Checkpointing the write-ahead log beside the serving process's requests instead of inside their commits.

SQLite copies the WAL back into the database file (a checkpoint) in whichever commit takes the WAL past
`wal_autocheckpoint` pages: under a steady stream of pushed batches, every few dozenth commit of the
serving process paid for copying and syncing the others' pages before it could answer its peer. While a
`Checkpointer` runs, the serving connection does not checkpoint itself: a thread with a connection of its
own runs a passive checkpoint soon after each commit through node.store.write (at most one per
`interval`, so a burst of commits shares one), and every `fallback` seconds for commits made otherwise.
A passive checkpoint never blocks a writer or a reader; SQLite starts the WAL over at the next write
once everything in it was copied. Other processes (the CLI) keep checkpointing in their own commits.
Stopping runs a last checkpoint and gives the serving connection its own checkpoints back.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from node.wake import database_of

log = logging.getLogger("praevnet.store")
_RUNNING: dict[sqlite3.Connection, Checkpointer] = {}


def committed(conn: sqlite3.Connection) -> None:
    """After a commit on `conn`: ask its checkpointer, if one runs, for a checkpoint soon."""
    checkpointer = _RUNNING.get(conn)
    if checkpointer is not None:
        checkpointer.request()


@contextmanager
def held_off(conn: sqlite3.Connection) -> Iterator[None]:
    """Keep the checkpointer of `conn` (if one runs) from checkpointing meanwhile, for a checkpoint of the
    caller's own on `conn` (a TRUNCATE, say) that would otherwise find it busy."""
    checkpointer = _RUNNING.get(conn)
    if checkpointer is None:
        yield
        return
    with checkpointer.lock:
        yield


class Checkpointer:
    """Passive WAL checkpoints of one connection's database, run in a thread of their own."""

    def __init__(self, conn: sqlite3.Connection, interval: float = 0.2, fallback: float = 10.0) -> None:
        self.conn = conn
        self.interval = interval  # seconds at least between two checkpoints
        self.fallback = fallback  # seconds at most between two checkpoints while commits come
        self.lock = threading.Lock()  # held while checkpointing (see `held_off`)
        self.rounds = 0  # checkpoints run so far
        self._changed = threading.Condition()
        self._requested = 0
        self._done = 0
        self._stopping = False
        self._previous = 0
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Take checkpointing over from `conn`; False (and nothing changed) for a database without a WAL file."""
        path = database_of(self.conn)
        (mode,) = self.conn.execute("PRAGMA journal_mode").fetchone()
        if not path or str(mode).lower() != "wal" or self.conn in _RUNNING:
            return False
        own = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        own.execute("PRAGMA synchronous=FULL")  # a checkpoint syncs the database file before the WAL restarts
        (self._previous,) = self.conn.execute("PRAGMA wal_autocheckpoint").fetchone()
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        _RUNNING[self.conn] = self
        self._thread = threading.Thread(target=self._run, args=(own,), name="praevnet-wal-checkpoint", daemon=True)
        self._thread.start()
        return True

    def request(self) -> None:
        """Ask for a checkpoint soon (after the commits so far)."""
        with self._changed:
            self._requested += 1
            self._changed.notify_all()

    def settle(self, timeout: float | None = None) -> bool:
        """Ask for a checkpoint and wait until it ran; False if it did not within `timeout` seconds."""
        self.request()
        with self._changed:
            wanted = self._requested
            return self._changed.wait_for(lambda: self._done >= wanted or self._thread is None, timeout)

    def wait_rounds(self, rounds: int, timeout: float | None = None) -> bool:
        """Wait until `rounds` checkpoints ran in all; False if they did not within `timeout` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self.rounds >= rounds, timeout)

    def stop(self) -> None:
        """Run a last checkpoint, end the thread and let `conn` checkpoint in its own commits again."""
        if self._thread is None:
            return
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join()
        self._thread = None
        del _RUNNING[self.conn]
        with suppress(sqlite3.ProgrammingError):  # closed before the server stopped: nothing to give back
            self.conn.execute(f"PRAGMA wal_autocheckpoint={int(self._previous)}")
        with self._changed:
            self._changed.notify_all()

    def _run(self, own: sqlite3.Connection) -> None:
        try:
            while True:
                with self._changed:
                    self._changed.wait_for(lambda: self._requested > self._done or self._stopping, self.fallback)
                    stopping, wanted = self._stopping, self._requested
                self._checkpoint(own)
                with self._changed:
                    self._done = wanted
                    self.rounds += 1
                    self._changed.notify_all()
                    if stopping:
                        return
                    self._changed.wait_for(lambda: self._stopping, self.interval)  # commits meanwhile share one
        finally:
            own.close()

    def _checkpoint(self, own: sqlite3.Connection) -> None:
        with self.lock:
            try:
                own.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:  # the next round tries again; the node keeps serving
                log.warning("checkpoint of the write-ahead log failed: %s", exc, extra={"event": "store.checkpoint"})
