"""node.wal: while the server runs, its commits leave checkpointing the write-ahead log to a thread of its own."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from aiohttp import web

from node.exchange.server import create_app
from node.home import Node
from node.store import flush_erased, write
from node.wal import Checkpointer
from tests.node.conftest import NodeFactory

DEFAULT_AUTOCHECKPOINT = 1000  # pages: SQLite's own default, which the node keeps for its CLI commands
PAGES_OVER_IT = 6 * 1024 * 1024  # bytes written in one commit: more WAL pages than the default lets pile up


@pytest.fixture
def node(make_node: NodeFactory) -> Node:
    return make_node("Stadt A")


@pytest.fixture
def checkpointer(node: Node) -> Iterator[Checkpointer]:
    """A checkpointer of the node's connection that checkpoints only when a commit asks (no fallback rounds)."""
    running = Checkpointer(node.db.conn, interval=0, fallback=3600)
    assert running.start()
    yield running
    running.stop()


def marker(tag: str) -> bytes:
    return f"wal-test-{tag}".encode() * 4


def store_blob(conn: sqlite3.Connection, tag: str, size: int = 64) -> None:
    """A row whose bytes can be found in the files: the marker, padded to `size` bytes."""
    conn.execute("CREATE TABLE IF NOT EXISTS blobs (data BLOB)")
    conn.execute("INSERT INTO blobs VALUES (?)", (marker(tag).ljust(size, b"."),))


def in_database_file(node: Node, tag: str) -> bool:
    """Whether the row is in the database file itself, not only in the write-ahead log (checkpointed)."""
    return marker(tag) in Path(node.home, "praevnet.db").read_bytes()


def autocheckpoint(node: Node) -> int:
    return int(node.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


def test_a_commit_through_write_is_checkpointed_by_the_thread(node: Node, checkpointer: Checkpointer) -> None:
    rounds = checkpointer.rounds
    with write(node.db) as conn:
        store_blob(conn, "written")
    assert checkpointer.wait_rounds(rounds + 1, timeout=30)  # asked by the commit itself: nobody else asks here
    assert in_database_file(node, "written")


def test_the_serving_connection_no_longer_checkpoints_in_its_commits(node: Node, checkpointer: Checkpointer) -> None:
    """Even a commit far over SQLite's autocheckpoint threshold leaves the copying to the checkpointer."""
    assert autocheckpoint(node) == 0
    with checkpointer.lock:  # the thread cannot checkpoint meanwhile
        with write(node.db) as conn:
            store_blob(conn, "big", size=PAGES_OVER_IT)
        assert not in_database_file(node, "big")  # only in the WAL: the commit did not checkpoint
    assert checkpointer.settle(timeout=30)
    assert in_database_file(node, "big")


def test_commits_made_without_write_are_checkpointed_by_the_fallback_rounds(node: Node) -> None:
    running = Checkpointer(node.db.conn, interval=0, fallback=0.01)
    assert running.start()
    try:
        store_blob(node.db.conn, "autocommit")  # a statement outside write(): committed on its own, asks nobody
        assert running.wait_rounds(running.rounds + 2, timeout=30)  # a whole round began after the commit
        assert in_database_file(node, "autocommit")
    finally:
        running.stop()


def test_stopping_runs_a_last_checkpoint_and_gives_checkpointing_back(node: Node) -> None:
    running = Checkpointer(node.db.conn, interval=3600, fallback=3600)
    assert running.start()
    assert running.settle(timeout=30)  # the first round is done; the next would wait an hour
    with write(node.db) as conn:
        store_blob(conn, "last")
    running.stop()
    assert in_database_file(node, "last")
    assert autocheckpoint(node) == DEFAULT_AUTOCHECKPOINT
    assert "praevnet-wal-checkpoint" not in {thread.name for thread in threading.enumerate()}
    with write(node.db) as conn:  # and the connection checkpoints in its own commits again
        store_blob(conn, "own", size=PAGES_OVER_IT)
    assert in_database_file(node, "own")


def test_a_connection_takes_one_checkpointer_only(node: Node, checkpointer: Checkpointer) -> None:
    second = Checkpointer(node.db.conn)
    assert not second.start()
    second.stop()  # harmless: it never ran
    assert autocheckpoint(node) == 0  # still the first one's


def test_a_database_without_a_wal_file_is_left_alone(tmp_path: Path) -> None:
    with closing(sqlite3.connect(":memory:", isolation_level=None)) as memory:
        assert not Checkpointer(memory).start()
        assert int(memory.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == DEFAULT_AUTOCHECKPOINT
    with closing(sqlite3.connect(tmp_path / "journal.db", isolation_level=None)) as journal:
        assert not Checkpointer(journal).start()
        assert int(journal.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == DEFAULT_AUTOCHECKPOINT


def test_an_erasure_waits_for_a_running_checkpoint_and_truncates_the_wal(
    node: Node, checkpointer: Checkpointer
) -> None:
    """Erased content must not stay in the WAL: its TRUNCATE waits for the checkpointer instead of finding it busy."""
    with write(node.db) as conn:
        store_blob(conn, "erased")
    flushed: list[bool] = []
    with checkpointer.lock:  # as while a checkpoint runs
        flushing = threading.Thread(target=lambda: flushed.append(flush_erased(node.db)))
        flushing.start()
        flushing.join(timeout=0.2)
        assert flushed == []  # waiting for the checkpoint to end
    flushing.join(timeout=30)
    assert flushed == [True]
    assert Path(node.home, "praevnet.db-wal").stat().st_size == 0


async def test_the_server_checkpoints_while_it_runs_and_hands_back_when_it_stops(node: Node) -> None:
    runner = web.AppRunner(create_app(node, background=False), access_log=None)
    await runner.setup()
    try:
        assert autocheckpoint(node) == 0
        assert "praevnet-wal-checkpoint" in {thread.name for thread in threading.enumerate()}
    finally:
        await runner.cleanup()
    assert autocheckpoint(node) == DEFAULT_AUTOCHECKPOINT
    assert "praevnet-wal-checkpoint" not in {thread.name for thread in threading.enumerate()}


def test_stopping_after_the_connection_closed_only_ends_the_thread(make_node: NodeFactory) -> None:
    closing_node = make_node("Stadt B")
    running = Checkpointer(closing_node.db.conn)
    assert running.start()
    closing_node.close()  # as a test or a crash may do before the server's cleanup
    running.stop()
    assert "praevnet-wal-checkpoint" not in {thread.name for thread in threading.enumerate()}
