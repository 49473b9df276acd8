"""Received records are indexed after the transaction that stores them (migration 0020): a search still finds
everything received, the serving node's worker empties the queue in batches, and a record erased while it
waited never reaches the index."""

from __future__ import annotations

import pytest

from node.errors import NodeError
from node.exchange.inbox import ingest
from node.exchange.indexing import index_some
from node.home import Node
from node.migrations import refresh_received_sql
from node.search.query import Filters, facets, search
from node.store import write
from tests.conftest import FakePeer
from tests.node.search.conftest import database_bytes, found, receive

INDEXED = "SELECT origin, record_id, version, seq, kind, tlp, evidence, topics, folded FROM search_docs ORDER BY 1, 2"


def waiting(node: Node) -> int:
    return int(node.db.execute("SELECT count(*) FROM search_pending").fetchone()[0])


def test_a_search_indexes_what_waits_first(node: Node, bonn: FakePeer) -> None:
    record_id = receive(node, bonn, {"title": "Fahrradcodierung", "summary": "Aktion am Markt"})
    assert waiting(node) == 1
    assert found(node, "fahrradcodierung") == [record_id]
    assert waiting(node) == 0


def test_the_facets_count_what_waited(node: Node, bonn: FakePeer) -> None:
    receive(node, bonn, {"title": "Bericht", "summary": "Text", "topics": ["Nachbarschaft"]})
    assert facets(node)["topics"] == ["Nachbarschaft"]


def test_the_worker_indexes_in_batches_what_the_trigger_of_0016_indexed_at_once(node: Node, bonn: FakePeer) -> None:
    ids = [receive(node, bonn, {"title": f"Bericht {n}", "summary": f"Straße {n}"}) for n in range(5)]
    receive(node, bonn, {"title": "Bericht 0", "summary": "Neue Fassung"}, record_id=ids[0], version=2)
    assert waiting(node) == 5
    assert index_some(node, limit=2) == 2
    assert waiting(node) == 3
    while index_some(node, limit=2):
        pass
    assert waiting(node) == 0
    drained = node.db.execute(INDEXED).fetchall()
    with write(node.db) as conn:  # the reference: each record refreshed as the 0016 trigger did on insert
        conn.execute("DELETE FROM search_docs")
        for (record_id,) in conn.execute("SELECT DISTINCT id FROM inbox ORDER BY rowid").fetchall():
            for statement in refresh_received_sql(":origin", ":id"):
                conn.execute(statement, {"origin": bonn.node_id, "id": record_id})
    assert node.db.execute(INDEXED).fetchall() == drained
    assert len(drained) == 5


def test_a_record_retracted_while_it_waited_never_reaches_the_index(node: Node, bonn: FakePeer) -> None:
    word = "Zyxwquartier"
    receive(node, bonn, {"title": "Nachbarschaft", "summary": "Begehungen"})
    record_id = receive(node, bonn, {"title": "Geheim", "summary": f"Die {word} der Anlage"})
    ingest(node, bonn.node_id, [bonn.envelope(kind="retraction", record_id=record_id)])
    assert found(node, word) == []
    assert found(node, "Nachbarschaft") != []
    assert word.lower().encode() not in database_bytes(node)
    assert node.db.execute("SELECT count(*) FROM search_docs WHERE record_id = ?", (record_id,)).fetchone() == (0,)


@pytest.mark.parametrize(
    ("query", "filters"),
    [("ab", Filters()), ("strasse", Filters(since="1.4.2026")), ("strasse", Filters(origin="Dresden"))],
)
def test_a_search_refused_for_bad_input_indexes_nothing(
    node: Node, bonn: FakePeer, query: str, filters: Filters
) -> None:
    receive(node, bonn, {"title": "Straße", "summary": "Text"})
    with pytest.raises(NodeError):  # QueryError, or NotFound for an origin that is no peer
        search(node, query, filters)
    assert waiting(node) == 1
