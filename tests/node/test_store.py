"""node.store.write: explicit write transactions, durable by default."""

from __future__ import annotations

import sqlite3
import time

import pytest

from node.home import Node
from node.store import write
from node.transport.auth import remember_nonce
from tests.node.conftest import NodeFactory

FULL = 2  # PRAGMA synchronous values
NORMAL = 1


@pytest.fixture
def node(make_node: NodeFactory) -> Node:
    return make_node("Stadt A")


def synchronous(node: Node) -> int:
    return int(node.db.execute("PRAGMA synchronous").fetchone()[0])


def seen_elsewhere(node: Node, keyid: str) -> int:
    """Rows for `keyid` in the nonce table, as another connection (another process) sees them."""
    other = sqlite3.connect(node.home / "praevnet.db")
    try:
        return int(other.execute("SELECT count(*) FROM nonces WHERE keyid = ?", (keyid,)).fetchone()[0])
    finally:
        other.close()


def test_the_database_syncs_every_commit(node: Node) -> None:
    assert synchronous(node) == FULL
    assert node.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_write_commits_or_rolls_back_whole(node: Node) -> None:
    with write(node.db) as conn:
        conn.execute("INSERT INTO nonces (keyid, nonce, expires) VALUES ('k', 'n1', 0)")
    with pytest.raises(RuntimeError, match="stop"), write(node.db) as conn:  # noqa: PT012 - the failing body is the point
        conn.execute("INSERT INTO nonces (keyid, nonce, expires) VALUES ('k', 'n2', 0)")
        raise RuntimeError("stop")
    assert seen_elsewhere(node, "k") == 1


def test_a_write_that_need_not_wait_for_the_disk_commits_and_restores_full_sync(node: Node) -> None:
    with write(node.db, durable=False) as conn:
        assert synchronous(node) == NORMAL
        conn.execute("INSERT INTO nonces (keyid, nonce, expires) VALUES ('k', 'n1', 0)")
    assert synchronous(node) == FULL
    assert seen_elsewhere(node, "k") == 1
    with pytest.raises(RuntimeError, match="stop"), write(node.db, durable=False) as conn:  # noqa: PT012
        conn.execute("INSERT INTO nonces (keyid, nonce, expires) VALUES ('k', 'n2', 0)")
        raise RuntimeError("stop")
    assert synchronous(node) == FULL
    assert seen_elsewhere(node, "k") == 1


def test_the_replay_cache_does_not_wait_for_the_disk_but_still_refuses_replays(node: Node) -> None:
    statements: list[str] = []
    node.db.conn.set_trace_callback(statements.append)
    assert remember_nonce(node, "pn#ed25519:1", "n" * 20, int(time.time())) is True
    node.db.conn.set_trace_callback(None)
    assert "PRAGMA synchronous=NORMAL" in statements
    assert synchronous(node) == FULL
    assert seen_elsewhere(node, "pn#ed25519:1") == 1
    assert remember_nonce(node, "pn#ed25519:1", "n" * 20, int(time.time())) is False
