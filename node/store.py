"""The node's SQLite database: opening it durably, migrating it, and explicit write transactions.

WAL mode with synchronous=FULL, so that a commit has reached the disk before we answer a peer with
200, and secure_delete, so that erased content does not linger in free pages. Writes that must not
interleave with another process (the CLI and `serve` share the file) run in `BEGIN IMMEDIATE`
transactions through `write()`.

The database is private to the node's account: `open_db` creates a new database file with mode 0600
whatever the umask, and SQLite gives the -wal and -shm files it creates beside it the database
file's mode. `write_private` creates the node's other files (config, keys) the same way.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from node import wake
from node.clock import clock
from node.errors import NodeError
from node.migrations import SchemaTooNew, migrate

PRIVATE_FILE_MODE = 0o600


def write_private(path: Path, data: bytes) -> None:
    """Create the file `path` with mode 0600 whatever the umask and write `data` durably.

    Never over an existing file: FileExistsError if there is one.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # the umask may have taken the owner's bits too
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def open_db(path: Path | str) -> Database:
    """Open (and create or migrate) the database at `path`; a new database file gets mode 0600, as its -wal and -shm.

    Pending schema steps run in one transaction (node.migrations.migrate): one that fails changes nothing.
    A database a newer praevnet migrated is refused with a NodeError that names both schema versions.
    """
    with suppress(FileExistsError):
        write_private(Path(path), b"")  # an empty file is an empty database to SQLite
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=30.0, check_same_thread=False)
    db = Database(conn)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA secure_delete=ON")
    try:
        migrate(db)
    except BaseException as exc:
        db.close()
        if isinstance(exc, SchemaTooNew):
            raise NodeError(f"{path}: {exc}") from None
        raise
    return db


def flush_erased(db: Database) -> bool:
    """After erasing content: checkpoint and truncate the WAL so no old copy stays in it.

    With secure_delete on, SQLite zeroes freed space in the database file itself; the write-ahead
    log still holds the pages as they were until it is checkpointed and truncated. Returns False
    if another connection kept the checkpoint from completing (the next erasure tries again).
    """
    busy, _, _ = db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return not busy


@contextmanager
def write(db: Database, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
    """A `BEGIN IMMEDIATE` transaction: committed on success, rolled back on any exception.

    After the commit, the serving process is woken if the transaction queued deliveries (node.wake).
    `durable=False` commits without waiting for the disk (synchronous=NORMAL for this transaction):
    the commit survives the process being killed, and reaches the disk with the next durable one,
    but a power cut before that may lose it. Only for bookkeeping whose loss is harmless.
    """
    conn = db.conn
    if not durable:
        conn.execute("PRAGMA synchronous=NORMAL")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            wake.discard(conn)
            raise
        conn.execute("COMMIT")
    finally:
        if not durable:
            conn.execute("PRAGMA synchronous=FULL")
    wake.fire(conn)  # if the transaction queued something for delivery


def rows(db: Database, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[dict[str, Any]]:
    """Run a query and return its rows as dicts."""
    return list(db.query(sql, params))


def first_row(
    conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()
) -> dict[str, Any] | None:
    """Run a query on `conn` (inside a transaction, say) and return its first row as a dict, or None."""
    cursor = conn.execute(sql, params)
    found = cursor.fetchone()
    return None if found is None else dict(zip([c[0] for c in cursor.description], found, strict=True))


def now() -> datetime:
    """The current time, timezone-aware, in UTC (read from node.clock, which tests may set)."""
    return clock.now()


def now_text() -> str:
    """The current time as stored in the database (ISO 8601, UTC; from node.clock)."""
    return clock.now_text()


def dumps(value: Any) -> str:
    """JSON text for a database column (not canonical; use protocol.canonical for signed bytes)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
