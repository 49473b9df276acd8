"""Migration 0020_search_pending: received records are indexed for search after the transaction that stores them.

Indexing a record (folding its text, the trigram index) costs more than the rest of receiving it, so a
trigger on the inbox now only queues the record in `search_pending`; node.migrations.index_pending
indexes what waits in batches (the serving node's worker, and every search before it runs). Taking text
out of the index is unchanged: the triggers that erase, retract or replace a record still do it in the
transaction that changes the tables.
"""

from __future__ import annotations

from sqlite_utils import Database

from node.migrations.search_index import search_pending_schema

NAME = "0020_search_pending"


def apply(db: Database) -> None:
    """The queue of received records to index, and the trigger that fills it instead of indexing at once."""
    for statement in search_pending_schema():
        db.execute(statement)
