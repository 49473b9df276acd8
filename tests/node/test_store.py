"""node.store: the database file shared by `serve` and the CLI, and write transactions through `write`."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing

import pytest

from node.home import Node
from node.store import write
from node.transport.auth import remember_nonce
from tests.node.conftest import NodeFactory

FULL = 2  # the value of PRAGMA synchronous that syncs every commit


@pytest.fixture
def node(make_node: NodeFactory) -> Node:
    return make_node("Stadt A")


def seen_elsewhere(node: Node, keyid: str) -> int:
    """Rows for `keyid` in the nonce table, as another connection (another process) reads them from the file."""
    with closing(sqlite3.connect(node.home / "praevnet.db")) as other:
        return int(other.execute("SELECT count(*) FROM nonces WHERE keyid = ?", (keyid,)).fetchone()[0])


def waits_for_the_disk(node: Node) -> bool:
    """Whether a commit on the node's connection returns only once it is on the disk (synchronous=FULL).

    Only a power cut would tell a commit that waited from one that did not, so this asks SQLite.
    """
    return int(node.db.execute("PRAGMA synchronous").fetchone()[0]) == FULL


def insert(conn: sqlite3.Connection, nonce: str) -> None:
    conn.execute("INSERT INTO nonces (keyid, nonce, expires) VALUES ('k', ?, 0)", (nonce,))


def test_a_reader_never_holds_up_a_commit_from_another_process(node: Node) -> None:
    """While the node reads (a long outbox page, say), the CLI commits at once, and the reader keeps its snapshot."""
    node.db.execute("BEGIN")
    assert node.db.execute("SELECT count(*) FROM nonces").fetchone()[0] == 0
    with closing(sqlite3.connect(node.home / "praevnet.db", timeout=0)) as cli:  # gives up at once if it must wait
        insert(cli, "n1")
        cli.commit()
    assert node.db.execute("SELECT count(*) FROM nonces").fetchone()[0] == 0
    node.db.execute("COMMIT")
    assert node.db.execute("SELECT count(*) FROM nonces").fetchone()[0] == 1


def test_write_commits_or_rolls_back_whole(node: Node) -> None:
    assert waits_for_the_disk(node)
    with write(node.db) as conn:
        insert(conn, "n1")
    assert seen_elsewhere(node, "k") == 1
    with pytest.raises(RuntimeError, match="stop"), write(node.db) as conn:  # noqa: PT012 - the failing body is the point
        insert(conn, "n2")
        raise RuntimeError("stop")
    assert seen_elsewhere(node, "k") == 1
    assert node.db.execute("SELECT nonce FROM nonces").fetchall() == [("n1",)]
    with write(node.db) as conn:  # nothing was left open: the next transaction begins and commits
        insert(conn, "n3")
    assert seen_elsewhere(node, "k") == 2


def test_a_write_that_need_not_wait_for_the_disk_commits_and_leaves_later_writes_durable(node: Node) -> None:
    with write(node.db, durable=False) as conn:
        assert not waits_for_the_disk(node)
        insert(conn, "n1")
    assert seen_elsewhere(node, "k") == 1
    assert waits_for_the_disk(node)
    with pytest.raises(RuntimeError, match="stop"), write(node.db, durable=False) as conn:  # noqa: PT012
        insert(conn, "n2")
        raise RuntimeError("stop")
    assert seen_elsewhere(node, "k") == 1
    assert waits_for_the_disk(node)


def test_the_replay_cache_is_shared_with_other_processes_and_refuses_replays(node: Node) -> None:
    assert remember_nonce(node, "pn#ed25519:1", "n" * 20, int(time.time())) is True
    assert seen_elsewhere(node, "pn#ed25519:1") == 1
    assert remember_nonce(node, "pn#ed25519:1", "n" * 20, int(time.time())) is False
    assert waits_for_the_disk(node)
