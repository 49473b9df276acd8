"""What the FTS5 shards of the search index keep on disk: the terms in every leaf page of every segment.

FTS5 deletes a document by adding a delete marker in a new segment; the older segments keep its terms
until they are merged. This reads the leaf pages themselves (the %_data table; the format is described
in SQLite's ext/fts5/fts5_index.c), so a test sees what a deleted document left behind, which no query shows.
"""

from __future__ import annotations

import sqlite3

from node.migrations import SEARCH_SHARDS

_PAGE_BITS = 31  # FTS5_DATA_PAGE_B; then 5 bits of height and 1 of the doclist-index flag, above them the segment id


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """An SQLite varint at `at`: its value and the offset after it."""
    value = 0
    for index in range(8):
        byte = data[at + index]
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, at + index + 1
    return (value << 8) | data[at + 8], at + 9


def _leaf_terms(page: bytes) -> list[bytes]:
    """The terms that start on one leaf page, from its page index (footer)."""
    footer = int.from_bytes(page[2:4], "big")
    offsets, at, previous = [], footer, 0
    while at < len(page):
        delta, at = _varint(page, at)
        previous += delta
        offsets.append(previous)
    terms: list[bytes] = []
    for number, offset in enumerate(offsets):
        if number == 0:
            size, at = _varint(page, offset)
            term = page[at : at + size]
        else:
            shared, at = _varint(page, offset)
            size, at = _varint(page, at)
            term = terms[-1][:shared] + page[at : at + size]
        terms.append(term)
    return terms


def stored_terms(conn: sqlite3.Connection) -> set[str]:
    """Every term held in a leaf page of any shard's segments, deleted documents' terms included."""
    found: set[str] = set()
    for shard in range(SEARCH_SHARDS):
        for rowid, block in conn.execute(f"SELECT id, block FROM search_text_{shard}_data"):
            if rowid >> _PAGE_BITS == 0:  # the averages and structure records, not pages
                continue
            if (rowid >> (_PAGE_BITS + 5)) & 1 or (rowid >> _PAGE_BITS) & 0x1F:  # a doclist index, not a leaf
                continue
            for term in _leaf_terms(bytes(block)):
                found.add(term[1:].decode("utf-8", "replace"))  # each term starts with the index's byte '0'
    return found
