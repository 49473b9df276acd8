"""The doctor's checks of a home without opening the node: modes, configuration, database, schema, disk.

Nothing here changes the home: the database is read through a connection of its own that may not
write (no migration runs), the configuration is read as `serve` reads it (file and environment).
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlite_utils import Database

from node.config import ConfigError, read_loaded
from node.home import CONFIG_FILE, DB_FILE, KEY_FILE, exposed
from node.migrations import SCHEMA_VERSION, STEPS, applied_steps, pending_steps, schema_version
from node.ops.findings import FAIL, OK, WARN, Finding, Limits

RESTORE = "stop the node, keep a copy of the damaged file, and restore the last backup (`praevnet restore`)"
SHOWN = 3  # paths or problems named in one line before "and N more"


def examine_home(home: Path, limits: Limits) -> list[Finding]:
    """The checks that need no opened node, in order; a home without a node is one FAIL."""
    if not (home / CONFIG_FILE).exists():
        advice = f"run `praevnet init --home {home} ...`, or name the node's home with --home"
        return [Finding("home", FAIL, f"no praevnet node in {home}", advice)]
    return [modes(home), node_key(home), *configuration(home), *database(home), disk(home, limits)]


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return "; ".join(items[:SHOWN]) + more


def modes(home: Path) -> Finding:
    """The home, the key files, the config and the database are private to the account (nothing for group or others)."""
    found = exposed(home)
    if not found:
        return Finding("modes", OK, f"{home}, its keys, config and database are private to this account")
    named = [f"{item.path} is {item.how} by others (mode {item.mode:o}, needs {item.fix})" for item in found]
    return Finding(
        "modes",
        FAIL,
        _listed(named),
        f"run `chmod -R go= {home}` as the account that runs the node; until then the node refuses to start",
    )


def configuration(home: Path) -> list[Finding]:
    """praevnet.toml with the PRAEVNET_SECTION__KEY variables, as `serve` reads it: one FAIL per problem."""
    try:
        loaded = read_loaded(home / CONFIG_FILE)
    except ConfigError as exc:
        advice = "correct praevnet.toml or the PRAEVNET_ variable; `praevnet config check` names every problem"
        return [Finding("config", FAIL, problem, advice) for problem in exc.problems]
    except OSError as exc:
        return [Finding("config", FAIL, f"{home / CONFIG_FILE} cannot be read: {exc.strerror}", "check its owner")]
    sources = list(loaded.sources.values())
    from_env = sum(1 for source in sources if source.startswith("env "))
    return [
        Finding(
            "config", OK, f"valid ({len(sources) - from_env} settings from the file, {from_env} from the environment)"
        )
    ]


def database(home: Path) -> list[Finding]:
    """`PRAGMA integrity_check` and the schema version, on a connection that may not write."""
    path = home / DB_FILE
    if not path.exists():
        return [Finding("integrity", FAIL, f"no database at {path}", RESTORE)]
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30.0)) as conn:
            conn.execute("PRAGMA query_only = ON")
            return [integrity(conn), schema(conn)]
    except sqlite3.Error as exc:
        return [Finding("integrity", FAIL, f"{path} cannot be read as a database: {exc}", RESTORE)]


def node_key(home: Path) -> Finding:
    """The node's first key, which its node id derives from: present and a key (the others are checked on opening)."""
    path = home / KEY_FILE
    if not path.is_file():
        return Finding(
            "keys", FAIL, f"the node key {path} is missing", "restore it from the backup (`praevnet restore`)"
        )
    if path.stat().st_size != 32:
        return Finding("keys", FAIL, f"{path} is not a praevnet node key", "restore it from the backup")
    return Finding("keys", OK, f"{path} is present")


def integrity(conn: sqlite3.Connection) -> Finding:
    """SQLite's own check of every page, index and constraint of the database."""
    try:
        problems = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        return Finding("integrity", FAIL, f"the database is damaged: {exc}", RESTORE)
    if problems == ["ok"]:
        return Finding("integrity", OK, "PRAGMA integrity_check: ok")
    return Finding("integrity", FAIL, f"the database is damaged: {_listed(problems)}", RESTORE)


def schema(conn: sqlite3.Connection) -> Finding:
    """The database's schema version against this praevnet's: current, older (migrations pending) or newer."""
    db = Database(conn)
    try:
        version, pending = schema_version(db), pending_steps(db)
        unknown = [name for name in applied_steps(db) if name not in {step.name for step in STEPS}]
    except sqlite3.DatabaseError as exc:
        return Finding("schema", FAIL, f"the schema version cannot be read: {exc}", RESTORE)
    if unknown:
        return Finding(
            "schema",
            FAIL,
            f"the database has schema version {version} (steps {', '.join(unknown)}), newer than this praevnet's "
            f"{SCHEMA_VERSION}: a newer praevnet ran this node, and this one refuses to start on it",
            "install that newer praevnet again (or a later one)",
        )
    if pending:
        return Finding(
            "schema",
            WARN,
            f"schema version {version}, this praevnet's is {SCHEMA_VERSION}: {len(pending)} migration(s) pending",
            "back up the node (`praevnet backup`); the migrations run when `praevnet serve` starts",
        )
    return Finding("schema", OK, f"schema version {version}, as this praevnet's")


def disk(home: Path, limits: Limits) -> Finding:
    """Free space on the home's file system: for the database to grow, its write-ahead log and a backup."""
    free = shutil.disk_usage(home).free
    size = sum(path.stat().st_size for path in home.glob(f"{DB_FILE}*") if path.is_file())
    said = f"{_size(free)} free on the file system of {home} (the database takes {_size(size)})"
    advice = f"free space or move the home to a larger file system; a backup needs about {_size(size)}"
    if free < limits.disk_fail or free < size:
        return Finding("disk", FAIL, said, advice)
    if free < limits.disk_warn or free < 2 * size:
        return Finding("disk", WARN, said, advice)
    return Finding("disk", OK, said)


def _size(count: int) -> str:
    value, unit = float(count), "bytes"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{count} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
