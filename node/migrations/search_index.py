"""The full-text search index in SQL (node.search reads it): folding, the statements of migration 0016, and
the cleanup every erasure runs."""

from __future__ import annotations

import unicodedata
from typing import Any

# The text of each indexable record is folded in SQL, by triggers, so that any connection that writes
# the tables keeps the index right. Folding (the same as node.search.fold in Python): the letters in
# SEARCH_FOLDS become their replacement (umlauts and ß as in German, other diacritics dropped, capitals
# lowered), then ASCII is lowered; FTS5's trigram tokenizer folds the case of everything else.
# Changing SEARCH_FOLDS, SEARCH_SKIPPED or the shards needs a new migration that rebuilds the search tables.

_GERMAN = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}
_NO_DECOMPOSITION = {
    "æ": "ae",
    "œ": "oe",
    "ø": "o",
    "ł": "l",
    "đ": "d",
    "ð": "d",
    "ħ": "h",
    "\u0131": "i",
    "þ": "th",
}  # \u0131: dotless i


def _fold_letter(letter: str) -> str:
    lower = "i" if letter == "İ" else letter.lower()
    if lower in _GERMAN or lower in _NO_DECOMPOSITION:
        return _GERMAN.get(lower) or _NO_DECOMPOSITION[lower]
    return "".join(part for part in unicodedata.normalize("NFD", lower) if not unicodedata.combining(part))


SEARCH_FOLDS: dict[str, str] = {
    letter: _fold_letter(letter)
    for letter in map(chr, [*range(0xC0, 0x180), *range(0x218, 0x21C), 0x1E9E])  # Latin-1, Extended-A, ș ț, ẞ
    if letter not in "\u00d7\u00f7"  # not the signs for times and division
    and _fold_letter(letter) != letter
}
"""Letters that fold to something else: German umlauts and ß, the other diacritics of the Latin letters
European names use, and the capitals of these. Every other character is only lowered."""

SEARCH_SKIPPED = (
    "title",  # indexed as the title
    "headline",
    "evidence_level",  # codes, not text: filters and labels
    "evaluation.kind",
    "urgency",
    "severity",
    "certainty",
    "trend",
    "case_band",
    "expires",
    "effective",
    "area.ars",
)
"""The fields (dotted paths) of a record's content whose text its searchable body leaves out."""

SEARCH_SHARDS = 64
SEARCH_SHARD_SIZE = 2000
"""The index is split into shards (FTS5 tables search_text_N) of at most this many records each, so that
removing the traces of an erased record rewrites one shard, not the whole index (search_erase_traces).
Shards fill in order; the last takes what the others cannot."""

_FOLD_STEP = 12  # replace() calls nested in one expression: in a view, SQLite's parser stack allows about 16


def fold_sql(expression: str) -> str:
    """An SQL expression for the folded text of `expression` (see SEARCH_FOLDS), in steps of nested replace().

    The letters are grouped by the first byte of their UTF-8 form: the second step notes which of these
    bytes the text holds (a lead byte is never part of another character), and the letters of a group
    the text does not hold are replaced as '', which replace() passes at once. German text needs the
    Latin-1 group only.
    """
    groups: dict[bytes, list[tuple[str, str]]] = {}
    for letter, replacement in SEARCH_FOLDS.items():
        groups.setdefault(letter.encode()[:1], []).append((letter, replacement))
    flags = ", ".join(f"h{number}" for number in range(len(groups)))
    holds = ", ".join(f"instr(CAST(x AS BLOB), X'{lead.hex()}')" for lead in groups)
    pairs = [
        (letter, replacement, f"h{number}")
        for number, group in enumerate(groups.values())
        for letter, replacement in group
    ]
    steps = [
        f"s0(x) AS (SELECT {expression})",
        f"s1(x, {flags}) AS MATERIALIZED (SELECT x, {holds} FROM s0)",  # noqa: S608 - constants
    ]
    for index in range(0, len(pairs), _FOLD_STEP):
        text = "x"
        for letter, replacement, flag in pairs[index : index + _FOLD_STEP]:
            text = f"replace({text}, iif({flag}, '{letter}', ''), '{replacement}')"
        steps.append(f"s{len(steps)}(x, {flags}) AS (SELECT {text}, {flags} FROM s{len(steps) - 1})")  # noqa: S608
    return f"(WITH {', '.join(steps)} SELECT lower(x) FROM s{len(steps) - 1})"  # noqa: S608 - constants


def _skipped(field: str) -> str:
    """A field of SEARCH_SKIPPED as json_tree names it by `path || '/' || key` (its `fullkey` quotes some keys)."""
    *parents, key = field.split(".")
    return "'$" + "".join(f".{parent}" for parent in parents) + f"/{key}'"


def _body_sql(content: str) -> str:
    skipped = ", ".join(map(_skipped, SEARCH_SKIPPED))
    return (
        f"coalesce((SELECT group_concat(value, char(10)) FROM json_tree({content}) "  # noqa: S608 - constants
        f"WHERE type = 'text' AND path || '/' || key NOT IN ({skipped})), '')"
    )


def _indexed_sql(content: str) -> str:
    """The indexed columns computed from a record's content (JSON text), in the order of search_docs: one fold
    of its title, text and topics together, as a JSON array (folding leaves JSON syntax as it is)."""
    title = f"coalesce(json_extract({content}, '$.title'), json_extract({content}, '$.headline'), '')"
    topics = f"coalesce(json_extract({content}, '$.topics'), '[]')"
    return f"""json_extract({content}, '$.evidence_level') AS evidence, {topics} AS topics,
        {fold_sql(f"json_array({title}, {_body_sql(content)}, json({topics}))")} AS folded"""


_DOC_COLUMNS = "origin, record_id, version, seq, kind, tlp, created, received, expires, evidence, topics, folded"


def _refresh_sql(view: str, origin: str, record_id: str) -> list[str]:
    """Statements that make search_docs hold what `view` says of one record: its row, or none."""
    updated = ", ".join(f"{column} = excluded.{column}" for column in _DOC_COLUMNS.split(", ")[2:])
    changed = " OR ".join(f"search_docs.{column} IS NOT excluded.{column}" for column in _DOC_COLUMNS.split(", ")[2:])
    return [
        f"""DELETE FROM search_docs WHERE origin = {origin} AND record_id = {record_id}
            AND NOT EXISTS (SELECT 1 FROM {view} v WHERE v.origin = {origin} AND v.record_id = {record_id})""",  # noqa: S608 - constants
        f"""INSERT INTO search_docs (shard, {_DOC_COLUMNS})
            SELECT coalesce((SELECT shard FROM search_shards WHERE docs < {SEARCH_SHARD_SIZE} ORDER BY shard LIMIT 1),
                            {SEARCH_SHARDS - 1}), {_DOC_COLUMNS}
            FROM {view} WHERE origin = {origin} AND record_id = {record_id}
            ON CONFLICT (origin, record_id) DO UPDATE SET {updated} WHERE {changed}""",  # noqa: S608 - constants
    ]


def refresh_own_sql(record_id: str) -> list[str]:
    """Statements that index the current version of one own record, or take it out (`record_id`: SQL)."""
    return _refresh_sql("search_own", "''", record_id)


def refresh_received_sql(origin: str, record_id: str) -> list[str]:
    """Statements that index the newest unerased version of one received record, or take it out."""
    return _refresh_sql("search_received", origin, record_id)


def _trigger(name: str, event: str, statements: list[str], when: str = "") -> str:
    condition = f" WHEN {when}" if when else ""
    return f"CREATE TRIGGER {name} {event}{condition} BEGIN {'; '.join(statements)}; END"


def _each_shard(template: str) -> list[str]:
    """`template` for each shard: {k} becomes the shard's number (other braces must be doubled)."""
    return [template.replace("{k}", str(k)) for k in range(SEARCH_SHARDS)]


_ADD = (
    "INSERT INTO search_text_{k} (rowid, title, body)"
    " VALUES (NEW.doc, json_extract(NEW.folded, '$[0]'), json_extract(NEW.folded, '$[1]'))"
)
_REMOVE = (
    "INSERT INTO search_text_{k} (search_text_{k}, rowid, title, body)"
    " VALUES ('delete', OLD.doc, json_extract(OLD.folded, '$[0]'), json_extract(OLD.folded, '$[1]'))"
)
_DIRTY_RECEIVED = """UPDATE search_shards SET dirty = 1
    WHERE shard = (SELECT shard FROM search_docs WHERE origin = OLD.origin AND record_id = OLD.id)"""


def search_schema() -> list[str]:
    """The statements of migration 0016: the search tables, the views of what is indexable, the triggers."""
    fts = "USING fts5(title, body, tokenize = 'trigram', content = '')"
    own_refresh = refresh_own_sql("NEW.record_id")
    return [
        *_each_shard(f"CREATE VIRTUAL TABLE search_text_{{k}} {fts}"),
        """CREATE TABLE search_shards (
            shard INTEGER PRIMARY KEY,
            docs INTEGER NOT NULL DEFAULT 0,    -- records indexed in search_text_<shard>
            dirty INTEGER NOT NULL DEFAULT 0    -- 1: an erased record's traces may remain until search_erase_traces
        )""",
        f"WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < {SEARCH_SHARDS - 1}) "  # noqa: S608 - constants
        "INSERT INTO search_shards (shard) SELECT k FROM n",
        """CREATE TABLE search_docs (           -- one row per searchable record: own, or received (newest version)
            doc INTEGER PRIMARY KEY,            -- its rowid in search_text_<shard>
            shard INTEGER NOT NULL,
            origin TEXT NOT NULL,               -- '' for this node's own records, else the origin's node id
            record_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            seq INTEGER,                        -- received: the inbox row (origin, seq) indexed
            kind TEXT NOT NULL,
            tlp TEXT NOT NULL,
            created TEXT,                       -- when this version was made
            received TEXT,                      -- received: when it arrived
            expires TEXT,
            evidence TEXT,
            topics TEXT NOT NULL,               -- JSON list as written
            folded TEXT NOT NULL,               -- JSON [title, text, [topics]], folded: what search_text_<shard> holds
            UNIQUE (origin, record_id)
        )""",
        f"""CREATE VIEW search_own AS
            SELECT '' AS origin, r.id AS record_id, r.version AS version, NULL AS seq, r.kind AS kind, v.tlp AS tlp,
                   v.created AS created, NULL AS received, r.expires AS expires, {_indexed_sql("v.content")}
            FROM records r JOIN versions v ON v.record_id = r.id AND v.version = r.version
            WHERE r.retracted IS NULL AND r.purged IS NULL""",  # noqa: S608 - constants
        f"""CREATE VIEW search_received AS
            SELECT i.origin AS origin, i.id AS record_id, i.version AS version, i.seq AS seq, i.kind AS kind,
                   i.tlp AS tlp, json_extract(i.envelope, '$.created') AS created, i.received AS received,
                   i.expires AS expires, {_indexed_sql("json_extract(i.envelope, '$.content')")}
            FROM inbox i
            WHERE i.kind != 'retraction' AND i.erased IS NULL AND i.seq = (
                SELECT j.seq FROM inbox j WHERE j.origin = i.origin AND j.id = i.id AND j.kind != 'retraction'
                AND j.erased IS NULL ORDER BY j.version DESC, j.seq LIMIT 1)""",  # noqa: S608 - constants
        *_each_shard(
            _trigger(
                "search_docs_insert_{k}",
                "AFTER INSERT ON search_docs",
                ["UPDATE search_shards SET docs = docs + 1 WHERE shard = NEW.shard", _ADD],
                "NEW.shard = {k}",
            )
        ),
        *_each_shard(
            _trigger(
                "search_docs_update_{k}",
                "AFTER UPDATE OF folded ON search_docs",
                [_REMOVE, _ADD],
                "NEW.shard = {k} AND OLD.folded IS NOT NEW.folded",
            )
        ),
        *_each_shard(
            _trigger(
                "search_docs_delete_{k}",
                "AFTER DELETE ON search_docs",
                ["UPDATE search_shards SET docs = docs - 1, dirty = 1 WHERE shard = OLD.shard", _REMOVE],
                "OLD.shard = {k}",
            )
        ),
        _trigger(
            "search_docs_fixed",
            "BEFORE UPDATE OF doc, shard, origin, record_id ON search_docs",
            ["SELECT RAISE(ABORT, 'a search document keeps its doc, shard, origin and record id')"],
        ),
        _trigger(
            "search_records_update",
            "AFTER UPDATE OF version, kind, expires, retracted, purged ON records",
            refresh_own_sql("NEW.id"),
        ),
        _trigger("search_records_delete", "AFTER DELETE ON records", refresh_own_sql("OLD.id")),
        _trigger("search_versions_insert", "AFTER INSERT ON versions", own_refresh),
        _trigger("search_versions_update", "AFTER UPDATE OF content, tlp, created ON versions", own_refresh),
        _trigger("search_versions_delete", "AFTER DELETE ON versions", refresh_own_sql("OLD.record_id")),
        _trigger(
            "search_inbox_insert",
            "AFTER INSERT ON inbox",
            refresh_received_sql("NEW.origin", "NEW.id"),
            "NEW.kind != 'retraction'",
        ),
        _trigger(
            "search_inbox_update",
            "AFTER UPDATE OF envelope, erased, version, kind ON inbox",
            [_DIRTY_RECEIVED, *refresh_received_sql("OLD.origin", "OLD.id")],
        ),
        _trigger(
            "search_inbox_delete",
            "AFTER DELETE ON inbox",
            [_DIRTY_RECEIVED, *refresh_received_sql("OLD.origin", "OLD.id")],
        ),
    ]


def search_erase_traces(conn: Any) -> list[int]:
    """Inside the transaction of an erasure: rewrite each search shard an erasure touched (FTS5 'optimize'),
    so that no segment keeps the terms of erased text. Returns the shards rewritten.

    An FTS5 delete only marks a document deleted; its terms stay in the older segments until these are
    merged. Triggers mark the shard of every erased document dirty; this merges those shards.
    """
    shards = [int(shard) for (shard,) in conn.execute("SELECT shard FROM search_shards WHERE dirty = 1")]
    for shard in shards:
        conn.execute(f"INSERT INTO search_text_{shard} (search_text_{shard}) VALUES ('optimize')")  # noqa: S608 - constants
    if shards:
        conn.execute("UPDATE search_shards SET dirty = 0 WHERE dirty = 1")
    return shards


def search_pending_schema() -> list[str]:
    """The statements of migration 0020: the queue of received records waiting to be indexed, filled by a
    trigger on the inbox in place of 0016's, which indexed each record in the transaction that stored it."""
    return [
        """CREATE TABLE search_pending (        -- received records whose newest version may not be indexed yet
            queued INTEGER PRIMARY KEY,         -- they are indexed in the order they arrived, as 0016 did
            origin TEXT NOT NULL,
            record_id TEXT NOT NULL,
            UNIQUE (origin, record_id)
        )""",
        "DROP TRIGGER search_inbox_insert",
        _trigger(
            "search_inbox_insert_queued",
            "AFTER INSERT ON inbox",
            ["INSERT INTO search_pending (origin, record_id) VALUES (NEW.origin, NEW.id) ON CONFLICT DO NOTHING"],
            "NEW.kind != 'retraction'",
        ),
    ]


def index_pending(conn: Any, limit: int | None = None) -> int:
    """Inside a write transaction: index the received records that wait in `search_pending` (at most `limit`),
    as 0016's trigger did when they were stored; return how many were indexed.

    Each is brought to what `search_received` says of it now, so a record erased or retracted while it
    waited is not indexed (its erasure already took it out of the index).
    """
    sql = "SELECT origin, record_id FROM search_pending ORDER BY queued LIMIT ?"
    waiting = [{"origin": origin, "id": record_id} for origin, record_id in conn.execute(sql, (limit or -1,))]
    if not waiting:
        return 0
    for statement in refresh_received_sql(":origin", ":id"):
        conn.executemany(statement, waiting)
    conn.executemany("DELETE FROM search_pending WHERE origin = :origin AND record_id = :id", waiting)
    return len(waiting)
