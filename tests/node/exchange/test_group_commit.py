"""Group commit (node.exchange.group_commit): concurrent outcomes recorded in shared write transactions.

A real node's database; each piece of work writes rows of a scratch table.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable

import pytest

from node.exchange.group_commit import GroupCommit
from node.home import Node


def scratch(node: Node) -> Node:
    node.db.conn.execute("CREATE TABLE scratch (value TEXT NOT NULL)")
    return node


def stored(node: Node) -> list[str]:
    return sorted(row[0] for row in node.db.conn.execute("SELECT value FROM scratch"))


def insert(value: str) -> Callable[[sqlite3.Connection], None]:
    def work(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO scratch (value) VALUES (?)", (value,))

    return work


def insert_then_fail(value: str) -> Callable[[sqlite3.Connection], None]:
    def work(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO scratch (value) VALUES (?)", (value,))
        raise RuntimeError("this piece fails after writing")

    return work


async def test_work_handed_over_together_is_committed_in_one_transaction(make_node: Callable[..., Node]) -> None:
    node = scratch(make_node())
    commits = GroupCommit(node)
    await asyncio.gather(*(commits.record(insert(f"v{i}")) for i in range(5)))
    assert stored(node) == ["v0", "v1", "v2", "v3", "v4"]
    assert commits.commits == 1
    await commits.record(insert("later"))  # a later piece gets a commit of its own
    assert commits.commits == 2
    assert not node.db.conn.in_transaction


async def test_a_failing_piece_is_rolled_back_alone_and_raises_in_its_caller(make_node: Callable[..., Node]) -> None:
    node = scratch(make_node())
    commits = GroupCommit(node)
    outcomes = await asyncio.gather(
        commits.record(insert("before")),
        commits.record(insert_then_fail("broken")),
        commits.record(insert("after")),
        return_exceptions=True,
    )
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], RuntimeError)
    assert stored(node) == ["after", "before"]  # nothing of the failed piece, all of the others
    assert commits.commits == 1


async def test_a_cancelled_caller_leaves_its_work_to_be_committed(make_node: Callable[..., Node]) -> None:
    node = scratch(make_node())
    commits = GroupCommit(node)
    caller = asyncio.create_task(commits.record(insert("kept")))
    await asyncio.sleep(0)  # the caller has handed its work over and waits for the commit
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await commits.drain()
    assert stored(node) == ["kept"]
