"""Databases at earlier schema levels, for upgrade tests.

A level is the number of schema steps a database ran (node.migrations.STEPS[:level]). `database_at`
makes one, opened as the node opens its database but migrated only that far; `copy_rows` fills it
with a node's rows, cut down to the columns the level has; `fill_empty` gives a table no operation
wrote a row made from its schema (values of its declared type that its CHECK and FOREIGN KEY
constraints accept), so that every table holds data whatever steps are added later.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from node.home import DB_FILE
from node.migrations import STEPS, migrate
from node.store import write, write_private

Rows = dict[str, list[tuple[Any, ...]]]


def connect(path: Path) -> Database:
    """Open the database at `path` (made 0600 if new) with the pragmas of node.store.open_db, without migrating."""
    with suppress(FileExistsError):
        write_private(path, b"")
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return Database(conn)


def database_at(path: Path, level: int) -> Database:
    """A new database at `path` that ran the first `level` schema steps."""
    db = connect(path)
    migrate(db, STEPS[:level])
    return db


def data_tables(conn: sqlite3.Connection) -> list[str]:
    """The tables that hold the node's data (not SQLite's, the migration record, or full-text shadows),
    each after the tables its foreign keys refer to."""
    names = [
        name
        for schema, name, kind, *_ in conn.execute("PRAGMA table_list")
        if schema == "main" and kind == "table" and not name.startswith(("sqlite_", "_sqlite_"))
    ]
    parents = {
        name: {row[2] for row in conn.execute(f"PRAGMA foreign_key_list({name})")} & set(names) for name in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = sorted(name for name in names if name not in ordered and parents[name] - {name} <= set(ordered))
        assert ready, f"foreign keys run in a circle among {sorted(set(names) - set(ordered))}"
        ordered += ready
    return ordered


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """The stored columns of `table`, in order."""
    return [row[1] for row in conn.execute(f"PRAGMA table_xinfo({table})") if not row[6]]


def maintained(conn: sqlite3.Connection, seeded: set[str]) -> set[str]:
    """The tables the schema writes itself: targets of a trigger, and `seeded` (rows a step inserts)."""
    targets = set(seeded)
    for (sql,) in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger'"):
        body = re.split(r"\bBEGIN\b", sql, maxsplit=1, flags=re.IGNORECASE)[1]
        targets.update(re.findall(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(\w+)", body, flags=re.IGNORECASE))
    return targets


def seeded_at(level: int) -> set[str]:
    """The tables that hold rows in a new database at `level`: the steps insert them."""
    db = Database(memory=True)
    try:
        migrate(db, STEPS[:level])
        return {table for table in data_tables(db.conn) if db.execute(f"SELECT 1 FROM {table}").fetchone()}
    finally:
        db.close()


def _checks(sql: str) -> list[str]:
    """The text inside each CHECK (...) of a CREATE TABLE statement."""
    found = []
    for match in re.finditer(r"\bCHECK\s*\(", sql, flags=re.IGNORECASE):
        depth, start = 1, match.end()
        for index in range(start, len(sql)):
            depth += {"(": 1, ")": -1}.get(sql[index], 0)
            if depth == 0:
                found.append(sql[start:index])
                break
    return found


def _literals(text: str) -> list[Any]:
    return [
        text_value.replace("''", "'") if number == "" else int(number)
        for text_value, number in re.findall(r"'((?:[^']|'')*)'|(-?\d+)", text)
    ]


def allowed(sql: str, column: str) -> list[Any]:
    """The values a CHECK of the table's `sql` allows `column` (`column IN (...)` or `column = x`), if it names any."""
    for check in _checks(sql):
        listed = re.search(rf"\b{column}\s+IN\s*\(([^)]*)\)", check)
        if listed:
            return _literals(listed.group(1))
        equal = re.search(rf"\b{column}\s*=\s*('(?:[^']|'')*'|-?\d+)", check)
        if equal:
            return _literals(equal.group(1))
    return []


def generated_row(conn: sqlite3.Connection, table: str, serial: int = 1) -> dict[str, Any]:
    """A row for `table` made from its schema: a foreign key takes a value its parent holds, a column a CHECK
    restricts the first value it allows, others a value of the declared type that names table and column."""
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    keys = {row[3]: (row[2], row[4]) for row in conn.execute(f"PRAGMA foreign_key_list({table})")}
    row: dict[str, Any] = {}
    for _, name, declared, *_, hidden in conn.execute(f"PRAGMA table_xinfo({table})"):
        if hidden:
            continue
        if name in keys:
            parent, referred = keys[name]
            referred = referred or next(r[1] for r in conn.execute(f"PRAGMA table_info({parent})") if r[5])
            found = conn.execute(f"SELECT {referred} FROM {parent} ORDER BY rowid LIMIT 1").fetchone()
            assert found is not None, f"{table}.{name} refers to {parent}, which holds no row"
            row[name] = found[0]
        elif values := allowed(sql, name):
            row[name] = values[0]
        elif "INT" in declared.upper():
            row[name] = serial
        elif any(word in declared.upper() for word in ("REAL", "FLOA", "DOUB")):
            row[name] = serial + 0.5
        else:
            row[name] = f"{table}.{name}.{serial}"
    return row


def insert(conn: sqlite3.Connection, table: str, row: Mapping[str, Any]) -> None:
    """Insert one row given as column -> value."""
    names = ", ".join(row)
    conn.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))


def fill_empty(conn: sqlite3.Connection) -> list[str]:
    """Give every data table without rows one generated row (parents first); return those tables."""
    filled = []
    for table in data_tables(conn):
        if conn.execute(f"SELECT 1 FROM {table}").fetchone() is None:
            insert(conn, table, generated_row(conn, table))
            filled.append(table)
    return filled


def _moves_audit_head(conn: sqlite3.Connection) -> bool:
    """Whether the schema moves the audit head with each entry (step 0009); before, the code moved it."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_head_follows'")
    return found.fetchone() is not None


def copy_rows(source: sqlite3.Connection, target: sqlite3.Connection, seeded: set[str]) -> None:
    """Copy every row of `source` into the tables `target` has, on the columns `target` has; tables the
    schema maintains (`maintained`) fill themselves. A table `source` lacks gets a generated row."""
    skip = maintained(target, seeded)
    have = set(data_tables(source))
    for table in data_tables(target):
        if table in skip:
            continue
        if table not in have:
            insert(target, table, generated_row(target, table))
            continue
        wanted = columns(target, table)
        lost = sorted(set(wanted) - set(columns(source, table)))
        assert not lost, f"{table}.{lost[0]} is gone from the newest schema: say here what its rows held"
        for values in source.execute(f"SELECT {', '.join(wanted)} FROM {table} ORDER BY rowid").fetchall():
            row = dict(zip(wanted, values, strict=True))
            insert(target, table, row)
            if table == "audit" and not _moves_audit_head(target):
                target.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (row["seq"], row["hash"]))


def snapshot(conn: sqlite3.Connection, tables: Mapping[str, list[str]]) -> Rows:
    """The rows of each table on the given columns, in a fixed order."""
    return {
        table: sorted(
            (tuple(row) for row in conn.execute(f"SELECT {', '.join(names)} FROM {table}")),
            key=repr,
        )
        for table, names in tables.items()
    }


def schema_of(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Each data table and its columns."""
    return {table: columns(conn, table) for table in data_tables(conn)}


def home_at(source: Path, home: Path, level: int) -> Path:
    """A copy of the node home `source` whose database ran only the first `level` steps and holds the source's
    rows (`copy_rows`); returns its database file."""
    shutil.copytree(source, home, ignore=shutil.ignore_patterns(f"{DB_FILE}*"))
    rows = sqlite3.connect(source / DB_FILE)
    db = database_at(home / DB_FILE, level)
    try:
        with write(db) as conn:
            copy_rows(rows, conn, seeded_at(level))
    finally:
        db.close()
        rows.close()
    return home / DB_FILE
