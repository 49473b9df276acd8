"""Protokoll: the audit log newest first, whether its chain is intact, filters, and CSV or JSON export.

An entry about a whole received batch (`received.batch`) names no record of its own but lists the records the
batch stored in its `records`; the page shows how many and, on opening, each one's id and version.

The chain is checked as `praevnet audit verify` checks it (node.checkpoints.verify); entries and
exports come from node.audit with the filter typed here (node.audit.EntryFilter), so a filtered
export holds exactly the entries the page lists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiMapping

from node import audit, checkpoints
from node.audit import EntryFilter
from node.clock import clock
from node.trust.peers import list_peers
from web import i18n
from web.context import node_of
from web.formats import parse_local

routes = web.RouteTableDef()
_ = i18n.gettext
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE = 50
MAX_TEXT = 128  # characters of a user, action or record id filter: longer ones name nothing in the log
MAX_DATE = 32  # characters of a typed time: "2026-12-31T18:00:00+01:00" is 25
TEXT_FILTERS = ("user", "action", "record")
DATE_FILTERS = ("since", "until")
_DATE_ONLY = re.compile(r"\s*\d{1,2}\.\d{1,2}\.\d{4}\s*")
_SEQ = re.compile(r"[0-9]{1,15}")
MEDIA = {"csv": "text/csv", "json": "application/json"}


@dataclass
class Query:
    """The filters and the page as typed, what they mean for node.audit, and what is wrong with them."""

    typed: dict[str, str] = field(default_factory=dict)
    only: EntryFilter = field(default_factory=EntryFilter)
    limit: int = DEFAULT_PAGE
    errors: dict[str, str] = field(default_factory=dict)

    def link(self, **changes: str | int | None) -> str:
        """The query string of this filter with `changes` (None drops a parameter), for links to other pages."""
        values: dict[str, Any] = {**self.typed, **changes}
        return urlencode({key: value for key, value in values.items() if value not in (None, "")})


def _moment(text: str, *, end: bool) -> datetime:
    """A typed time; a date alone is the start of that day, or with `end` the start of the next day."""
    moment = parse_local(text)
    if _DATE_ONLY.fullmatch(text):
        moment = moment.replace(hour=0, minute=0) + timedelta(days=1 if end else 0)
    elif end:
        moment += timedelta(minutes=1)  # "until 18:00" includes the minute 18:00
    return moment.astimezone(UTC)  # raises OverflowError here, not later, for a time at the end of the calendar


def read_query(query: MultiMapping[str]) -> Query:
    """The filters and the page from the query string; each problem named in German next to its field."""
    result = Query()
    typed = {name: query.get(name, "") for name in (*TEXT_FILTERS, *DATE_FILTERS, "before", "limit")}
    result.typed = {name: value[:MAX_TEXT] for name, value in typed.items()}  # shown again, never more
    errors = result.errors
    texts: dict[str, str | None] = {}
    for name in TEXT_FILTERS:
        value = typed[name].strip()
        if len(value) > MAX_TEXT:
            errors[name] = _("At most %(num)d characters, please.") % {"num": MAX_TEXT}
        texts[name] = value or None
    moments: dict[str, datetime | None] = {}
    for name in DATE_FILTERS:
        value = typed[name].strip()
        moments[name] = None
        if not value:
            continue
        try:
            if len(value) > MAX_DATE:
                raise ValueError(value)
            moments[name] = _moment(value, end=name == "until")
        except (ValueError, OverflowError):
            errors[name] = _("Please type a date like 31.12.2026 or a date and time like 31.12.2026 18:00.")
    since, until = moments["since"], moments["until"]
    if since is not None and until is not None and until <= since:
        errors["until"] = _("The end must come after the start.")
    before = typed["before"].strip()
    if before and (not _SEQ.fullmatch(before) or int(before) < 1):
        errors["before"] = _("Please give an entry number (a whole number from 1).")
    limit = typed["limit"].strip()
    if limit and (not limit.isdigit() or int(limit[:6]) not in PAGE_SIZES):
        sizes = ", ".join(str(size) for size in PAGE_SIZES)
        errors["limit"] = _("Please choose one of the page sizes %(sizes)s.") % {"sizes": sizes}
    if not errors:
        result.limit = int(limit) if limit else DEFAULT_PAGE
        result.only = EntryFilter(
            user=texts["user"],
            action=texts["action"],
            record_id=texts["record"],
            since=since,
            until=until,
            before_seq=int(before) if before else None,
        )
    return result


@dataclass(frozen=True)
class Listed:
    """One record a batch entry lists, as the entry's "About record" cell shows it."""

    record_id: str
    version: object
    action: object
    matches: bool  # the record the page is filtered by


def listed_records(entry: Mapping[str, Any], record_id: str | None) -> list[Listed] | None:
    """The records a batch entry lists, the one filtered by (`record_id`) first and the others in the order the
    batch stored them; None for an entry that lists none. A log changed outside praevnet may hold anything in
    `records` (the verification at the top of the page says so): whatever is not a record is shown as its text."""
    records = entry.get("records")
    if records is None:
        return None
    items = []
    for item in records if isinstance(records, list) else [records]:
        fields: Mapping[str, Any] = item if isinstance(item, Mapping) else {"record_id": item}
        shown = fields.get("record_id")
        text = "" if shown is None else str(shown)
        items.append(Listed(text, fields.get("version"), fields.get("action"), text == record_id))
    return sorted(items, key=lambda listed: not listed.matches)


def _page(request: web.Request, query: Query) -> web.Response:
    node = node_of(request)
    problems = checkpoints.verify(node)
    head = audit.head(node)
    entries: list[dict[str, Any]] = []
    older = None
    if not query.errors:
        found = audit.list_entries(node, limit=query.limit + 1, only=query.only)
        found.reverse()  # newest first
        if len(found) > query.limit:
            found = found[: query.limit]
            older = query.link(before=found[-1]["seq"])
        entries = found
    context = {
        "problems": problems,
        "checked": head["seq"] if head is not None else 0,
        "entries": entries,
        "listed": {entry["seq"]: listed_records(entry, query.only.record_id) for entry in entries},
        "names": {peer["node_id"]: peer["name"] for peer in list_peers(node)},
        "query": query,
        "errors": query.errors,
        "page_sizes": [(str(size), str(size)) for size in PAGE_SIZES],
        "older": older,
        "newest": query.link(before=None) if query.typed.get("before") else None,
        "export": {fmt: query.link(before=None, limit=None) for fmt in MEDIA},
    }
    status = 400 if query.errors else 200
    return aiohttp_jinja2.render_template("audit.html", request, context, status=status)


@routes.get("/audit", name="audit")
async def audit_page(request: web.Request) -> web.Response:
    """The audit log, newest first, a page at a time, with its verification result at the top."""
    return _page(request, read_query(request.query))


@routes.get("/audit/export.{fmt:csv|json}", name="audit_export")
async def export(request: web.Request) -> web.Response:
    """The entries the filters let through (every page), as a CSV or JSON file to download."""
    fmt: Literal["csv", "json"] = "csv" if request.match_info["fmt"] == "csv" else "json"
    query = read_query(request.query)
    if query.errors:
        return _page(request, query)
    only = replace(query.only, before_seq=None)
    body = audit.export(node_of(request), fmt, only=only if only != EntryFilter() else None)
    stamp = clock.now().strftime("%Y%m%d-%H%M%S")
    name = f"praevnet-protokoll-{stamp}.{fmt}"
    return web.Response(
        text=body,
        content_type=MEDIA[fmt],
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
