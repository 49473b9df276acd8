"""bench.ingest's preload writes what the node itself would hold: inbox rows and search documents that equal
those the node's own indexing (node.migrations.index_pending) makes of the same rows, across shards."""

from __future__ import annotations

from pathlib import Path

from bench.ingest import make_envelopes, preload
from bench.ingest_steps import STEPS, step_budget
from node.home import Node
from node.migrations import SEARCH_SHARD_SIZE, index_pending
from node.search.query import search
from node.store import write
from protocol.wire import MAX_ENVELOPES
from tests.node.conftest import NodeFactory

DOCS = "SELECT origin, record_id, version, seq, kind, tlp, created, received, expires, evidence, topics, folded"


def test_preloaded_records_are_indexed_as_the_node_indexes_them(make_node: NodeFactory) -> None:
    node: Node = make_node("Stadt Augsburg")
    total = SEARCH_SHARD_SIZE + 5
    preload(node, total)
    assert node.db.execute("SELECT count(*) FROM inbox").fetchone() == (total,)
    assert node.db.execute("SELECT count(*) FROM search_pending").fetchone() == (0,)
    shards = node.db.execute("SELECT docs FROM search_shards WHERE docs > 0 ORDER BY shard").fetchall()
    assert shards == [(SEARCH_SHARD_SIZE,), (5,)]
    assert search(node, "Präventionsarbeit", limit=1)["total"] == total

    preloaded = node.db.execute(f"{DOCS} FROM search_docs ORDER BY seq").fetchall()
    with write(node.db) as conn:  # the reference: the node indexes the same rows itself
        conn.execute("DELETE FROM search_docs")
        conn.execute("INSERT INTO search_pending (origin, record_id) SELECT origin, id FROM inbox ORDER BY seq")
        index_pending(conn)
    assert node.db.execute(f"{DOCS} FROM search_docs ORDER BY seq").fetchall() == preloaded
    assert node.db.execute("SELECT name FROM sqlite_master WHERE name = 'search_inbox_insert_queued'").fetchone()


def test_the_step_budget_times_every_step_on_batches_the_node_accepts(tmp_path: Path) -> None:
    budget = step_budget(tmp_path / "steps", make_envelopes, rounds=3)
    assert list(budget) == [name for name, _ in STEPS]
    assert all(milliseconds > 0 for milliseconds in budget.values())
    node = Node.open(tmp_path / "steps")
    try:  # the three stored batches are in the inbox: the store step measured storing, not refusing
        assert node.db.execute("SELECT count(*) FROM inbox").fetchone() == (3 * MAX_ENVELOPES,)
    finally:
        node.close()
