"""Eingang und Suche: everything received and everything of one's own, searched and filtered; and Bericht, one
received record with its origin, signature check, label, versions and retraction state.

The search is node.search.query (the CLI's `praevnet search`), a record is node.exchange.received.show_received
(the CLI's `inbox show`); this module only reads the form and shows what they return.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiMapping

from node.errors import NodeError, NotFound
from node.exchange.received import show_received
from node.search.query import EVIDENCE_LEVELS, MAX_QUERY, Filters, QueryError, facets, search
from protocol.records import Kind
from protocol.tlp import LABELS
from web import i18n
from web.context import node_of
from web.fields import KIND_NAMES, field_of, tlp_meaning
from web.forms import refusal
from web.i18n import N_
from web.readable import readable

routes = web.RouteTableDef()
_ = i18n.gettext
PAGE_SIZE = 20
MAX_PAGE = 10_000
MAX_FILTER = 200  # characters of a filter value: longer ones name no topic, origin or label
_DAY = re.compile(r"\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s*|\s*(\d{4})-(\d{2})-(\d{2})\s*")
FILTERS = ("kind", "topic", "origin", "evidence", "tlp", "since", "until", "date_of")
QUERY_FIELDS = {
    "too_long": "q",
    "too_many_terms": "q",
    "too_short": "q",
    "kind": "kind",
    "evidence": "evidence",
    "tlp": "tlp",
    "date": "since",
    "dates": "until",
    "date_of": "date_of",
    "page": "page",
}
QUERY_MESSAGES = {
    "too_long": N_("At most %(num)d characters, please."),
    "too_many_terms": N_("Please use at most 20 search words."),
    "too_short": N_("Search words need at least 3 letters; shorter ones only narrow longer ones."),
    "kind": N_("Please choose a kind from the list."),
    "evidence": N_("Please choose an evidence level from the list."),
    "tlp": N_("Please choose a label from the list."),
    "date": N_("Please type a date like 31.12.2026."),
    "dates": N_("The end must come after the start."),
    "date_of": N_("Please choose which date the period refers to."),
    "page": N_("There is no such page."),
}
STATES = {
    "current": N_("current"),
    "expired": N_("expired"),
    "retracted": N_("retracted by its origin"),
    "erased": N_("content deleted after expiry"),
}


@dataclass
class Query:
    """The search as typed, what it means for node.search.query, and what is wrong with it (by field)."""

    typed: dict[str, str] = field(default_factory=dict)
    text: str = ""
    filters: Filters = field(default_factory=Filters)
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)

    def link(self, **changes: str | int | None) -> str:
        """The query string of this search with `changes` (None drops a parameter), for links to other pages."""
        values: dict[str, Any] = {**self.typed, **changes}
        return urlencode({key: value for key, value in values.items() if value not in (None, "")})


def _day(text: str) -> str:
    """A typed day (31.12.2026 or 2026-12-31) as YYYY-MM-DD; ValueError if it is none."""
    found = _DAY.fullmatch(text)
    if not found:
        raise ValueError(text)
    day, month, year = found.group(1, 2, 3) if found.group(1) else reversed(found.group(4, 5, 6))
    return date(int(year), int(month), int(day)).isoformat()


def read_query(query: MultiMapping[str]) -> Query:
    """The search text, filters and page from the query string; each problem named next to its field."""
    result = Query()
    typed = {name: query.get(name, "") for name in ("q", *FILTERS, "lapsed", "page")}
    result.typed = {name: value[:MAX_QUERY] for name, value in typed.items()}
    errors = result.errors
    if len(typed["q"]) > MAX_QUERY:
        errors["q"] = _(QUERY_MESSAGES["too_long"]) % {"num": MAX_QUERY}
    chosen = {name: typed[name].strip() or None for name in ("kind", "topic", "origin", "evidence", "tlp")}
    for name, value in chosen.items():
        if value is not None and len(value) > MAX_FILTER:
            errors[name] = _("At most %(num)d characters, please.") % {"num": MAX_FILTER}
    days: dict[str, str | None] = {}
    for name in ("since", "until"):
        days[name] = None
        if typed[name].strip():
            try:
                days[name] = _day(typed[name][:32])
            except ValueError:
                errors[name] = _(QUERY_MESSAGES["date"])
    page = typed["page"].strip()
    if page and (not page.isdigit() or not 1 <= int(page[:6]) <= MAX_PAGE):
        errors["page"] = _(QUERY_MESSAGES["page"])
    date_of = typed["date_of"].strip() or "created"
    if date_of not in ("created", "received"):
        errors["date_of"] = _(QUERY_MESSAGES["date_of"])
    if not errors:
        result.text = typed["q"]
        result.page = int(page) if page else 1
        result.filters = Filters(
            **chosen,
            since=days["since"],
            until=days["until"],
            date_of="received" if date_of == "received" else "created",
            include_lapsed=typed["lapsed"] == "1",
        )
    return result


def _filter_options(request: web.Request) -> dict[str, list[tuple[str, str]]]:
    """What each filter's list offers: everything first, then the choices the index holds now."""
    found = facets(node_of(request))
    evidence = field_of("experience", "evidence_level")
    levels = dict(evidence.options) if evidence else {}
    everything = [("", _("all"))]
    origins = [(str(o["origin"]), str(o["name"] or o["origin"])) for o in found["origins"]]
    return {
        "kind": [*everything, *((kind, _(name)) for kind, name in KIND_NAMES.items())],
        "topic": [*everything, *((topic, topic) for topic in found["topics"])],
        "origin": [*everything, *origins],
        "evidence": [*everything, *((level, _(levels.get(level, level))) for level in EVIDENCE_LEVELS)],
        "tlp": [*everything, *((label, label) for label in LABELS)],
        "date_of": [("created", _("written")), ("received", _("received"))],
    }


def _shown(request: web.Request, hit: dict[str, Any]) -> dict[str, Any]:
    """A hit with the link to its page and the label of the field its snippet comes from."""
    router = request.app.router
    if hit["own"]:
        link = router["record_show"].url_for(record_id=hit["id"])
    else:
        link = router["received_show"].url_for(origin=hit["origin"], record_id=hit["id"])
    snippet = hit["snippet"]
    spec = field_of(hit["kind"], snippet["field"]) if snippet else None
    return {**hit, "link": str(link), "snippet_label": _(spec.label) if spec else snippet and snippet["field"]}


@routes.get("/inbox", name="inbox")
async def inbox(request: web.Request) -> web.Response:
    """The search form and its hits, best first (newest first without search words), a page at a time."""
    query = read_query(request.query)
    result: dict[str, Any] = {"terms": [], "total": 0, "hits": []}
    if not query.errors:
        try:
            offset = (query.page - 1) * PAGE_SIZE
            result = search(node_of(request), query.text, query.filters, limit=PAGE_SIZE, offset=offset)
        except QueryError as exc:
            name = QUERY_FIELDS.get(exc.code, "q")
            message = QUERY_MESSAGES.get(exc.code)
            query.errors[name] = _(message) % {"num": MAX_QUERY} if message else str(exc)
        except NodeError as exc:  # an origin that names no peer, or more than one
            query.errors["origin"] = refusal(exc)
    pages = max(1, -(-result["total"] // PAGE_SIZE))
    context = {
        "query": query,
        "filtered": bool(query.errors) or any(query.typed.get(name) for name in (*FILTERS[:-1], "lapsed")),
        "errors": query.errors,
        "options": _filter_options(request),
        "hits": [_shown(request, hit) for hit in result["hits"]],
        "total": result["total"],
        "searched": bool(result["terms"]),
        "page": query.page,
        "pages": pages,
        "kinds": KIND_NAMES,
    }
    status = 400 if query.errors else 200
    return aiohttp_jinja2.render_template("inbox.html", request, context, status=status)


@routes.get("/inbox/{origin}/{record_id}", name="received_show")
async def received_show(request: web.Request) -> web.Response:
    """One received record or alert (or, for this node's own id, the page of the own record)."""
    node = node_of(request)
    origin, record_id = request.match_info["origin"], request.match_info["record_id"]
    if origin == node.node_id:
        raise web.HTTPSeeOther(str(request.app.router["record_show"].url_for(record_id=record_id)))
    try:
        record = show_received(node, record_id, origin)
    except (NotFound, NodeError):
        raise web.HTTPNotFound(text=_("No partner sent a report or alert with this id.")) from None
    kind: Kind = record["kind"]
    content = record["content"] or {}
    title = content.get("title") or content.get("headline") or _("(content deleted after expiry)")
    context = {
        "record": record,
        "title": title,
        "kind_name": KIND_NAMES.get(kind, kind),
        "states": STATES,
        "rows": readable(kind, content) if record["state"] in ("current", "expired") else [],
        "tlp_meaning": tlp_meaning(record["tlp"]),
    }
    return aiohttp_jinja2.render_template("received_show.html", request, context)
