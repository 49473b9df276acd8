"""Searching everything of one's own and everything received: one operation for the web interface and the CLI.

A query is split at white space into terms; each is folded (node.search.fold) and must occur in a
record, in its title or its text, as part of a word or a whole one ("Einbruch" finds
"Wohnungseinbruchdiebstahl"): every term must match. Terms are always quoted for FTS5, so nothing an
officer types is read as query syntax. Terms of three or more characters are found through the
trigram index; shorter ones only narrow what those find (a query of short terms alone is refused).
Hits are ranked by bm25 with the title weighing more than the text; an empty query lists what the
filters let through, newest first.

The index holds this node's own records with their local fields (internal notes): search is local,
only the officers of this node see it, and they see those fields in their own records anyway.
Received records are indexed in their newest version that is not erased.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from node.errors import NodeError
from node.home import Node
from node.migrations import index_pending
from node.search.fold import fold
from node.search.snippets import mark, snippet
from node.store import now_text, rows, write
from node.trust.peers import peer_id_of
from protocol.errors import SchemaError
from protocol.records import EXPERIENCE_SCHEMA, RECORD_KINDS
from protocol.tlp import parse_label

MAX_QUERY = 500
"""Characters a query may have."""
MAX_TERMS = 20
MIN_TERM = 3
"""Characters (folded) a term needs to be looked up in the index: the trigram tokenizer indexes three at a time."""
MAX_LIMIT = 200
TITLE_WEIGHT = 10.0
"""How much more a match in the title counts than one in the text (bm25 column weights)."""

EVIDENCE_LEVELS: tuple[str, ...] = tuple(EXPERIENCE_SCHEMA["properties"]["evidence_level"]["enum"])
OWN = "own"
"""What `Filters.origin` says for this node's own records (its node id and name say the same)."""

DateOf = Literal["created", "received"]


class QueryError(NodeError):
    """A search that cannot run as asked; the message says why, `code` names the problem for translations."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Filters:
    """What a search is narrowed to; None lets everything through.

    `origin` is "own", this node's id or name, or a peer's node id or name (node.trust.peers.peer_id_of).
    `since` and `until` are days (YYYY-MM-DD, both included) of the date `date_of` names: when the
    version was made, or when it arrived (own records: when they were made). Lapsed alerts are
    left out unless `include_lapsed`.
    """

    kind: str | None = None
    topic: str | None = None
    origin: str | None = None
    evidence: str | None = None
    tlp: str | None = None
    since: str | None = None
    until: str | None = None
    date_of: DateOf = "created"
    include_lapsed: bool = False


@dataclass(frozen=True)
class Terms:
    """A parsed query: the folded terms the index looks up, and the short ones that only narrow."""

    indexed: tuple[str, ...]
    short: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        """Every term, as matches are marked."""
        return (*self.indexed, *self.short)

    def match(self) -> str:
        """The FTS5 query: each term a quoted string (its quotes doubled), all of them required."""
        return " AND ".join('"' + term.replace('"', '""') + '"' for term in self.indexed)


def parse_query(text: str) -> Terms:
    """Split and fold a query; QueryError if it is too long, has too many terms, or only short ones."""
    if len(text) > MAX_QUERY:
        raise QueryError("too_long", f"the search text is longer than {MAX_QUERY} characters")
    cleaned = "".join(" " if unicodedata.category(c) in ("Cc", "Cs", "Cf", "Zl", "Zp") else c for c in text)
    terms = list(dict.fromkeys(term for term in map(fold, cleaned.split()) if term))
    if len(terms) > MAX_TERMS:
        raise QueryError("too_many_terms", f"more than {MAX_TERMS} search words")
    indexed = tuple(term for term in terms if len(term) >= MIN_TERM)
    short = tuple(term for term in terms if len(term) < MIN_TERM)
    if short and not indexed:
        raise QueryError(
            "too_short", f"search words need at least {MIN_TERM} characters (shorter ones only narrow longer ones)"
        )
    return Terms(indexed, short)


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day(text: str, name: str) -> date:
    try:
        if _DAY.fullmatch(text.strip()):
            return date.fromisoformat(text.strip())
    except ValueError:
        pass
    raise QueryError("date", f"{name} must be a day written YYYY-MM-DD, e.g. 2026-03-31, not {text!r}")


def _origin(node: Node, text: str) -> str:
    """'' for this node's own records, else the node id of the origin the officer named."""
    wanted = text.strip()
    if wanted.casefold() in (OWN, node.config.name.casefold()) or wanted == node.node_id:
        return ""
    return peer_id_of(node, wanted)


def _where(node: Node, filters: Filters) -> tuple[list[str], dict[str, Any]]:
    """The SQL conditions on search_docs `d` that `filters` ask for, and their parameters."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if filters.kind is not None:
        if filters.kind not in RECORD_KINDS:
            raise QueryError("kind", f"kind must be one of {', '.join(RECORD_KINDS)}, not {filters.kind!r}")
        where.append("d.kind = :kind")
        params["kind"] = filters.kind
    if filters.evidence is not None:
        if filters.evidence not in EVIDENCE_LEVELS:
            raise QueryError(
                "evidence", f"evidence must be one of {', '.join(EVIDENCE_LEVELS)}, not {filters.evidence!r}"
            )
        where.append("d.evidence = :evidence")
        params["evidence"] = filters.evidence
    if filters.tlp is not None:
        try:
            params["tlp"] = parse_label(filters.tlp)
        except SchemaError as exc:
            raise QueryError("tlp", f"label {exc.reason}") from None
        where.append("d.tlp = :tlp")
    if filters.topic is not None and filters.topic.strip():
        where.append("EXISTS (SELECT 1 FROM json_each(d.folded, '$[2]') WHERE value = :topic)")
        params["topic"] = fold(" ".join(filters.topic.split()))
    if filters.origin is not None and filters.origin.strip():
        where.append("d.origin = :origin")
        params["origin"] = _origin(node, filters.origin)
    if filters.date_of not in ("created", "received"):
        raise QueryError("date_of", f"dates are those of 'created' or 'received', not {filters.date_of!r}")
    moment = _moment(filters)
    since = _day(filters.since, "since") if filters.since else None
    until = _day(filters.until, "until") if filters.until else None
    if since is not None and until is not None and since > until:
        raise QueryError("dates", f"since ({since}) is after until ({until})")
    if since is not None:
        where.append(f"{moment} >= :since")
        params["since"] = since.isoformat()
    if until is not None:
        where.append(f"{moment} < :until")
        params["until"] = (until + timedelta(days=1)).isoformat()
    if not filters.include_lapsed:
        where.append("(d.expires IS NULL OR d.expires > :now)")
        params["now"] = now_text()
    return where, params


def _content(node: Node, row: dict[str, Any]) -> dict[str, Any]:
    """The original content of an indexed record: the own version, or the received envelope's."""
    if row["origin"] == "":
        found = rows(
            node.db,
            "SELECT content FROM versions WHERE record_id = ? AND version = ?",
            (row["record_id"], row["version"]),
        )
        return dict(json.loads(found[0]["content"])) if found else {}
    found = rows(node.db, "SELECT envelope FROM inbox WHERE origin = ? AND seq = ?", (row["origin"], row["seq"]))
    return dict(json.loads(found[0]["envelope"]).get("content") or {}) if found else {}


def _hit(node: Node, row: dict[str, Any], terms: Terms, names: dict[str, str]) -> dict[str, Any]:
    content = _content(node, row)
    title = str(content.get("title") or content.get("headline") or "")
    own = row["origin"] == ""
    return {
        "own": own,
        "origin": node.node_id if own else row["origin"],
        "origin_name": node.config.name if own else names.get(row["origin"]),
        "id": row["record_id"],
        "version": row["version"],
        "kind": row["kind"],
        "tlp": row["tlp"],
        "evidence": row["evidence"],
        "topics": json.loads(row["topics"]),
        "created": row["created"],
        "received": row["received"],
        "expires": row["expires"],
        "lapsed": row["expires"] is not None and row["expires"] <= now_text(),
        "title": title,
        "title_segments": mark(title, terms.all),
        "snippet": snippet(content, terms.all),
        "score": row["score"],
    }


_FOLDED_TEXT = "json_extract(d.folded, '$[0]') || char(10) || json_extract(d.folded, '$[1]')"
"""The folded title and text of search_docs `d` (its `folded` holds [title, text, topics])."""


def _fold(text: str | None) -> str | None:
    return None if text is None else fold(text)


def _moment(filters: Filters) -> str:
    """The date `since` and `until` compare, as SQL on search_docs `d`."""
    return "d.created" if filters.date_of == "created" else "coalesce(d.received, d.created)"


def _select(node: Node, terms: Terms, filters: Filters, condition: str) -> str | None:
    """The SQL of every hit in order (bm25 over the shards that hold records, or newest first without
    terms), or None when no shard holds anything."""
    if not terms.indexed:
        return f"""SELECT d.*, NULL AS score, count(*) OVER () AS total FROM search_docs d WHERE {condition}
                   ORDER BY {_moment(filters)} DESC, d.doc DESC"""  # noqa: S608 - constants
    shards = [shard for (shard,) in node.db.execute("SELECT shard FROM search_shards WHERE docs > 0 ORDER BY shard")]
    if not shards:
        return None
    matches = " UNION ALL ".join(
        f"SELECT rowid AS doc, bm25(search_text_{k}, {TITLE_WEIGHT}, 1.0) AS score "  # noqa: S608 - constants
        f"FROM search_text_{k} WHERE search_text_{k} MATCH :match"
        for k in shards
    )
    return f"""SELECT d.*, m.score AS score, count(*) OVER () AS total FROM ({matches}) m
               JOIN search_docs d ON d.doc = m.doc WHERE {condition} ORDER BY m.score, d.doc"""  # noqa: S608 - constants


def index_waiting(node: Node) -> int:
    """Index every received record still waiting to be (node.migrations.index_pending), so that what a search
    or the facets read holds everything received; return how many were indexed."""
    if node.db.execute("SELECT 1 FROM search_pending LIMIT 1").fetchone() is None:
        return 0
    with write(node.db, durable=False) as conn:
        return index_pending(conn)


def search(
    node: Node, query: str = "", filters: Filters | None = None, *, limit: int = 20, offset: int = 0
) -> dict[str, Any]:
    """Search own and received records: the hits of one page, best first, with the total number of hits.

    Returns {"terms": folded terms, "total": n, "hits": [...]}; each hit says whether it is own or
    from which origin, its id, version, kind, label, dates, title, and where it matched: the title
    as segments and a snippet of one field (node.search.snippets; plain text, never HTML). An empty
    query lists what the filters let through, newest first. QueryError for a query or filter that
    cannot run, naming the problem.
    """
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise QueryError("page", f"limit must be 1 to {MAX_LIMIT} and offset at least 0")
    terms = parse_query(query)
    filters = filters or Filters()
    where, params = _where(node, filters)
    if terms.short:  # the SQL fold lowers ASCII and the letters it folds; Python's fold lowers the rest too
        node.db.conn.create_function("search_fold", 1, _fold, deterministic=True)
    for index, term in enumerate(terms.short):
        where.append(f"instr(search_fold({_FOLDED_TEXT}), :short{index}) > 0")
        params[f"short{index}"] = term
    params["match"] = terms.match()
    index_waiting(node)  # only once the query and filters are known to be good: bad input changes nothing
    sql = _select(node, terms, filters, " AND ".join(where) or "1")
    if sql is None:
        return {"terms": list(terms.all), "total": 0, "hits": []}
    found = rows(node.db, f"{sql} LIMIT :limit OFFSET :offset", {**params, "limit": limit, "offset": offset})
    total = int(found[0]["total"]) if found else 0
    if not found and offset:  # a page past the last hit: count them all
        total = int(node.db.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0])  # noqa: S608 - constants
    names = {peer: name for peer, name in node.db.execute("SELECT node_id, name FROM peers")}
    return {"terms": list(terms.all), "total": total, "hits": [_hit(node, row, terms, names) for row in found]}


def facets(node: Node) -> dict[str, Any]:
    """What the filters can choose from in the index now: the origins (this node first) and the topics.

    Returns {"origins": [{"origin": "own" or a node id, "name": ..., "records": n}], "topics": [each
    topic once, in its most frequent spelling, sorted by its folded form]}.
    """
    index_waiting(node)
    names = {peer: name for peer, name in node.db.execute("SELECT node_id, name FROM peers")}
    origins = [
        {
            "origin": OWN if origin == "" else origin,
            "name": node.config.name if origin == "" else names.get(origin),
            "records": count,
        }
        for origin, count in node.db.execute(
            "SELECT origin, count(*) FROM search_docs GROUP BY origin ORDER BY origin != '', origin"
        )
    ]
    spellings: dict[str, dict[str, int]] = {}
    for (topic,) in node.db.execute("SELECT j.value FROM search_docs d, json_each(d.topics) j WHERE j.type = 'text'"):
        spelling = " ".join(topic.split())
        seen = spellings.setdefault(fold(spelling), {})
        seen[spelling] = seen.get(spelling, 0) + 1
    topics = [max(sorted(seen), key=lambda spelling: seen[spelling]) for _, seen in sorted(spellings.items())]
    return {"origins": origins, "topics": topics}
