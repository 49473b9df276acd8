"""node.migrations.migrate: a run that fails changes nothing, and a database a newer praevnet migrated is refused."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from cli.main import main
from node.errors import NodeError
from node.home import DB_FILE, Node
from node.migrations import SCHEMA_VERSION, STEPS, SchemaTooNew, Step, applied_steps, migrate, schema_version
from tests.node.migrations.conftest import Source
from tests.node.migrations.levels import connect, home_at

NEXT = f"{SCHEMA_VERSION + 1:04d}_next"


def changes_then_fails(db: Database) -> None:
    """A step that changes the schema and rows, then fails."""
    db.execute("CREATE TABLE half_done (id INTEGER PRIMARY KEY)")
    db.execute("INSERT INTO half_done (id) VALUES (1)")
    db.execute("ALTER TABLE records ADD COLUMN half_done TEXT")
    db.execute("UPDATE records SET author = 'changed'")
    raise RuntimeError("injected failure")


def fails_at_once(db: Database) -> None:
    """A step that fails on its first statement."""
    db.execute("INSERT INTO no_such_table VALUES (1)")


def next_step(db: Database) -> None:
    """What a newer praevnet's next step might do."""
    db.execute("CREATE TABLE next_feature (id INTEGER PRIMARY KEY)")
    db.execute("INSERT INTO next_feature (id) VALUES (1)")


def files(home: Path) -> dict[str, bytes]:
    """The database's files, byte for byte (its -wal and -shm are gone once every connection closed)."""
    return {path.name: path.read_bytes() for path in sorted(home.glob(f"{DB_FILE}*"))}


def dump(path: Path) -> list[str]:
    """Schema and rows, as SQL."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.mark.parametrize("failing", [changes_then_fails, fails_at_once])
@pytest.mark.parametrize("level", [0, len(STEPS) - 3, len(STEPS)])
def test_a_run_in_which_a_step_fails_leaves_the_database_exactly_as_it_was(
    source: Source, tmp_path: Path, level: int, failing: Callable[[Database], None]
) -> None:
    path = home_at(source.home, tmp_path / "home", level)
    before, text = files(path.parent), dump(path)
    steps = [*STEPS, Step(NEXT, failing)]  # the steps after `level` run first and succeed

    db = connect(path)
    with pytest.raises((RuntimeError, sqlite3.OperationalError)):
        migrate(db, steps)
    assert not db.conn.in_transaction
    assert schema_version(db) == level
    db.close()
    assert files(path.parent) == before
    assert dump(path) == text


def test_the_steps_that_ran_before_a_failure_run_again_with_the_next_start(source: Source, tmp_path: Path) -> None:
    path = home_at(source.home, tmp_path / "home", len(STEPS) - 2)
    db = connect(path)
    with pytest.raises(RuntimeError):
        migrate(db, [*STEPS, Step(NEXT, changes_then_fails)])
    assert migrate(db, STEPS) == [step.name for step in STEPS[-2:]]
    assert applied_steps(db) == [step.name for step in STEPS]
    db.close()


def newer(source: Source, home: Path) -> Path:
    """The source's home after a newer praevnet ran its next step on it; returns the database file."""
    shutil.copytree(source.home, home)
    db = connect(home / DB_FILE)
    migrate(db, [*STEPS, Step(NEXT, next_step)])
    db.close()
    return home / DB_FILE


def test_the_node_refuses_a_database_a_newer_praevnet_migrated_and_changes_nothing(
    source: Source, tmp_path: Path
) -> None:
    path = newer(source, tmp_path / "home")
    before = files(path.parent)
    with pytest.raises(NodeError) as refused:
        Node.open(path.parent)
    message = str(refused.value)
    assert str(path) in message
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert f"up to {SCHEMA_VERSION}" in message
    assert NEXT in message
    assert "Install that newer praevnet" in message
    assert files(path.parent) == before


def test_migrate_refuses_a_newer_database_before_it_runs_a_pending_step(tmp_path: Path) -> None:
    db = connect(tmp_path / "db")
    migrate(db, [*STEPS[:3], Step("0099_elsewhere", next_step)])  # a newer praevnet that skipped ahead
    text = dump(tmp_path / "db")
    with pytest.raises(SchemaTooNew) as refused:
        migrate(db, STEPS)
    assert (refused.value.database_version, refused.value.newest, refused.value.unknown) == (
        99,
        SCHEMA_VERSION,
        ("0099_elsewhere",),
    )
    db.close()
    assert dump(tmp_path / "db") == text


def test_serve_refuses_to_start_on_a_newer_database(source: Source, tmp_path: Path) -> None:
    path = newer(source, tmp_path / "home")
    before = files(path.parent)
    result = CliRunner().invoke(main, ["serve", "--home", str(path.parent)])
    assert result.exit_code == 1
    assert f"schema version {SCHEMA_VERSION + 1}" in result.output
    assert "install that newer praevnet" in result.output.lower()
    assert "serving" not in result.output
    assert files(path.parent) == before


def test_migrate_runs_in_a_transaction_of_its_own(tmp_path: Path) -> None:
    db = connect(tmp_path / "db")
    db.execute("BEGIN")
    with pytest.raises(RuntimeError, match="transaction of its own"):
        migrate(db, STEPS)
    db.execute("ROLLBACK")
    assert applied_steps(db) == []
    db.close()


def test_an_up_to_date_database_is_not_locked_to_look_at_it(tmp_path: Path) -> None:
    db = connect(tmp_path / "db")
    migrate(db, STEPS)
    writer = sqlite3.connect(tmp_path / "db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process writes (serve, say)
    impatient = Database(sqlite3.connect(tmp_path / "db", isolation_level=None, timeout=0))
    try:
        assert migrate(impatient, STEPS) == []
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        impatient.close()
        db.close()
