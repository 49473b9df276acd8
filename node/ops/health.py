"""Whether a serving node is ready for work (`/readyz` on the admin address): its database is writable,
the keys it signs with are the current ones, and its schema is the one this version of praevnet knows.

The checks open a connection of their own with a short busy timeout, so they run in a thread beside
the serving node and never wait long on its writers, nor share its connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing

from sqlite_utils import Database

from node.home import DB_FILE, Node
from node.migrations import STEPS, applied_steps, pending_steps

BUSY_TIMEOUT = 2.0  # seconds a check waits for another writer before it calls the database not writable
OK = "ok"


def readiness(node: Node, busy_timeout: float = BUSY_TIMEOUT) -> dict[str, str]:
    """Each check by name (database, keys, migrations) and its finding: `ok`, or what is wrong."""
    path = node.home / DB_FILE
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=busy_timeout, isolation_level=None)
    except sqlite3.Error as exc:
        problem = f"cannot open {path} for writing: {exc}"
        return {"database": problem, "keys": "not checked: " + problem, "migrations": "not checked: " + problem}
    checks: dict[str, Callable[[Node, sqlite3.Connection], str]] = {
        "database": _writable,
        "keys": _keys,
        "migrations": _migrations,
    }
    with closing(conn):
        return {name: _run(check, node, conn) for name, check in checks.items()}


def _run(check: Callable[[Node, sqlite3.Connection], str], node: Node, conn: sqlite3.Connection) -> str:
    try:
        return check(node, conn)
    except sqlite3.Error as exc:
        return f"the database cannot be read: {exc}"


def _writable(node: Node, conn: sqlite3.Connection) -> str:
    """A write transaction can begin (the file is writable and no other writer holds it too long)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        return f"no write transaction can begin: {exc}"
    conn.execute("ROLLBACK")
    return OK


def _keys(node: Node, conn: sqlite3.Connection) -> str:
    """The node signs with the newest unrevoked key the database names, and that is the key it loaded."""
    held = {
        version: (public, revoked)
        for version, public, revoked in conn.execute("SELECT version, public, revoked_since FROM own_keys")
    }
    current = max((version for version, (_, revoked) in held.items() if revoked is None), default=None)
    if current is None:
        return "the database names no current key of this node"
    if node.key.version != current:
        return (
            f"the node signs with key version {node.key.version}, but version {current} is current "
            "(a running node loads a new key within seconds)"
        )
    if held[current][0] != node.key.public_b64:
        return f"the loaded key version {current} is not the one the database names for it"
    return OK


def _migrations(node: Node, conn: sqlite3.Connection) -> str:
    """Every schema step this version knows has run, and none it does not know (node.migrations)."""
    db = Database(conn)
    pending = pending_steps(db)
    if pending:
        return f"{len(pending)} schema step(s) not run ({', '.join(pending)}); restart the node to run them"
    known = {step.name for step in STEPS}
    unknown = [name for name in applied_steps(db) if name not in known]
    if unknown:
        return f"the database ran schema steps this version does not know ({', '.join(unknown)}): a newer praevnet"
    return OK
