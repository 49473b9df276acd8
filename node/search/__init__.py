"""Search: full-text search over everything of one's own and everything received (the "Wissenspool").

Owns the German folding of text and queries (fold), reading the search index that migration 0016
built and its triggers keep current (query), and the snippets that show where a record matched in
its original text (snippets). The index itself is SQL in node.migrations: triggers fold and index a
record in the same transaction that writes, edits, retracts or erases it, and
node.migrations.search_erase_traces removes the traces of erased text. Reads tables with SQL only.

May use the trust wing (to name peers), node's ground and protocol/; no module of node/ may import
it, only cli/ and the web interface, which both call node.search.query.search.
"""
