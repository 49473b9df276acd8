"""Migration 0016_search: full-text search over own and received records (node.search): shards, documents, views and
triggers, filled from what the tables hold now."""

from __future__ import annotations

from sqlite_utils import Database

from node.migrations.search_index import refresh_own_sql, refresh_received_sql, search_schema

NAME = "0016_search"


def apply(db: Database) -> None:
    """Full-text search over own and received records (node.search): shards, documents, views and triggers,
    filled from what the tables hold now."""
    for statement in search_schema():
        db.execute(statement)
    for (record_id,) in db.execute("SELECT id FROM records ORDER BY rowid").fetchall():
        for statement in refresh_own_sql(":id"):
            db.execute(statement, {"id": record_id})
    received = db.execute("SELECT DISTINCT origin, id FROM inbox WHERE kind != 'retraction' ORDER BY origin, id")
    for origin, record_id in received.fetchall():
        for statement in refresh_received_sql(":origin", ":id"):
            db.execute(statement, {"origin": origin, "id": record_id})
