"""Migrations 0016 (search), 0017 (users.language) and 0020 (search_pending) on a database that was in use before
them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from node.exchange.inbox import ingest
from node.home import DB_FILE, Node
from node.migrations import SEARCH_SHARDS
from node.search.query import index_waiting
from node.sharing.records import add_record, edit_record
from node.sharing.shares import retract
from node.users import ADMIN, add_user
from tests.conftest import FakePeer
from tests.node.conftest import NodeFactory
from tests.node.search.conftest import found, receive

INDEXED = "SELECT origin, record_id, version, seq, kind, tlp, evidence, topics, folded FROM search_docs ORDER BY 1, 2"


def as_before_the_migrations(path: Path) -> None:
    """Take the database back to where it was before 0016, 0017 and 0020: their tables, views and triggers gone."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for kind in ("trigger", "view"):
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = ? AND name LIKE 'search%'", (kind,)
            ):
                conn.execute(f"DROP {kind} {name}")
        for shard in range(SEARCH_SHARDS):
            conn.execute(f"DROP TABLE search_text_{shard}")
        conn.execute("DROP TABLE search_docs")
        conn.execute("DROP TABLE search_shards")
        conn.execute("DROP TABLE search_pending")
        conn.execute("ALTER TABLE users DROP COLUMN language")
        steps = ("0016_search", "0017_user_language", "0020_search_pending")
        conn.execute(f"DELETE FROM _sqlite_migrations WHERE name IN {steps}")
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'search%'").fetchone()[0] == 0
    finally:
        conn.close()


def test_the_search_migration_indexes_what_the_database_already_held(make_node: NodeFactory) -> None:
    node = make_node("Stadt Augsburg")
    bonn = FakePeer("Stadt Bonn", "http://127.0.0.1:9").trusted_by(node)
    kept = add_record(node, "experience", {"title": "Straßensozialarbeit", "summary": "Erste Fassung"}, by=ADMIN)
    edit_record(node, kept, {"title": "Straßensozialarbeit", "summary": "Zweite Fassung"}, by=ADMIN)
    gone = add_record(node, "experience", {"title": "Zurückgezogen", "summary": "Fassung"}, by=ADMIN)
    retract(node, gone, by=ADMIN)
    newest = receive(node, bonn, {"title": "Fahrradcodierung", "summary": "alt"}, record_id="bonn-record-1")
    receive(node, bonn, {"title": "Fahrradcodierung", "summary": "neu"}, record_id=newest, version=2)
    erased = receive(node, bonn, {"title": "Widerrufen", "summary": "Fassung"})
    ingest(node, bonn.node_id, [bonn.envelope(kind="retraction", record_id=erased)])
    add_user(node, "olga", "officer", "correct horse battery", by=ADMIN)
    index_waiting(node)  # what a search reads: the received records indexed
    as_maintained = node.db.execute(INDEXED).fetchall()
    home = Path(node.home)
    node.close()

    as_before_the_migrations(home / DB_FILE)
    again = Node.open(home)
    try:
        assert again.db.execute(INDEXED).fetchall() == as_maintained
        assert found(again, "Strasse") == [kept]
        assert found(again, "zweite") == [kept]
        assert found(again, "erste") == []
        assert found(again, "Fassung") == [kept]  # not the retracted ones
        assert found(again, "fahrradcodierung") == [newest]
        assert found(again, "alt") == []
        [hit] = again.db.execute("SELECT version FROM search_docs WHERE record_id = ?", (newest,)).fetchall()
        assert hit == (2,)
        assert again.db.execute("SELECT name, language FROM users").fetchall() == [("olga", None)]
    finally:
        again.close()
