"""Waking the running `serve` process when something was queued for delivery, instead of waiting for its poll.

The server listens on a datagram socket in Linux's abstract namespace, named after its database
file, so nothing lands on disk and no stale socket file is left after kill -9. A commit that
queues envelopes (from the CLI, the web UI or the server itself) sends one empty datagram there
once it is committed; the delivery loop then looks at the queue at once. Where the namespace does
not exist (not Linux) or nobody listens, nothing happens and the loop's `poll_interval` applies:
a wake-up only ever comes early, it never decides what is sent. Any local process can send such
a datagram, so the loop limits how often it reacts (node.exchange.worker).
"""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

_PENDING: set[sqlite3.Connection] = set()


def address(database: Path | str) -> str:
    """The abstract socket name for the node whose database file is `database`."""
    digest = hashlib.sha256(str(Path(database).resolve()).encode()).hexdigest()[:32]
    return f"\0praevnet-wake-{digest}"


def database_of(conn: sqlite3.Connection) -> str:
    """The file of the main database behind a connection ('' for an in-memory one)."""
    for _, name, path in conn.execute("PRAGMA database_list"):
        if name == "main":
            return str(path or "")
    return ""


def after_commit(conn: sqlite3.Connection) -> None:
    """Inside a write transaction: wake the server once this transaction commits (node.store.write calls `fire`)."""
    _PENDING.add(conn)


def discard(conn: sqlite3.Connection) -> None:
    """The transaction rolled back: no wake-up."""
    _PENDING.discard(conn)


def fire(conn: sqlite3.Connection) -> None:
    """After a commit: send the wake-up if the transaction asked for one."""
    if conn in _PENDING:
        _PENDING.discard(conn)
        database = database_of(conn)
        if database:
            notify(database)


def notify(database: Path | str) -> bool:
    """Send one wake-up datagram to the server of `database`, never blocking; return whether anyone listens."""
    if not sys.platform.startswith("linux"):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)  # a full queue (a server that is busy or hung) must never hold up a commit
        try:
            sock.sendto(b"", address(database))
        except BlockingIOError:  # its queue is full: wake-ups are already waiting for it
            return True
        except OSError:  # nobody listens: no server, or it stopped
            return False
    return True


class Listener:
    """The server's end: a non-blocking datagram socket; `drain` empties it when readable."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    def open(cls, database: Path | str) -> Listener | None:
        """Bind the socket for `database`; None where that is not possible (the loop polls then)."""
        if not sys.platform.startswith("linux"):
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(address(database))
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        return cls(sock)

    def fileno(self) -> int:
        """The socket's file descriptor, for loop.add_reader."""
        return self.sock.fileno()

    def drain(self, then: Callable[[], None]) -> None:
        """Read every waiting datagram, then call `then` once."""
        while True:
            try:
                self.sock.recv(64)
            except OSError:  # BlockingIOError: nothing left to read
                break
        then()

    def close(self) -> None:
        """Stop listening; the abstract name is free again at once."""
        self.sock.close()
