"""Erfahrungsberichte: the officer's own reports and alerts, listed; a report written, saved as a draft, edited;
one record shown with its versions and shares; and retracting it, after a confirmation.

Every change is the node's operation (node.sharing.records, node.sharing.shares) done as the logged-in user.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session

from node.clock import clock
from node.errors import NodeError, NotFound
from node.sharing.records import InvalidContent, add_record, edit_record, get_record, list_records
from node.sharing.review import outdated_shares
from node.sharing.shares import retract
from node.users import Actor
from protocol.records import ContentError, Kind, case_band, validate_content
from protocol.timestamps import parse_timestamp
from web import i18n
from web.context import actor_of, flash, node_of
from web.fields import KIND_NAMES, tlp_meaning, tlp_options
from web.forms import (
    GENERAL,
    Submitted,
    band_of,
    band_table,
    form_groups,
    form_values,
    problem_messages,
    read_form,
    refusal,
)
from web.i18n import N_
from web.readable import readable

routes = web.RouteTableDef()
_ = i18n.gettext
STATES = {
    "draft": N_("draft"),
    "pending": N_("waiting for release"),
    "shared": N_("shared"),
    "expired": N_("expired"),
    "retracted": N_("retracted"),
}
SHARE_STATES = {
    "pending": N_("waiting for release"),
    "released": N_("shared"),
    "withdrawn": N_("withdrawn"),
    "voided": N_("void (a newer version was made)"),
    "rejected": N_("not released"),
}


def state_of(record: dict[str, Any]) -> str:
    """A record's state as the list shows it: draft, pending, shared, expired or retracted."""
    if record["retracted"]:
        return "retracted"
    if record["kind"] == "alert" and record["expires"] and parse_timestamp(record["expires"]) <= clock.now():
        return "expired"
    return "shared" if record["shared_with"] else "pending" if record["pending"] else "draft"


def title_of(record: dict[str, Any]) -> str:
    """What a record is called: its title, or an alert's headline."""
    content = record["content"]
    return str(content.get("title") or content.get("headline") or _("(content deleted after expiry)"))


def record_or_404(request: web.Request, record_id: str) -> dict[str, Any]:
    """One of this node's records or alerts, or the 'not found' page."""
    try:
        return get_record(node_of(request), record_id)
    except NotFound:
        raise web.HTTPNotFound(text=_("There is no report or alert with this id on this node.")) from None


def author_of(request: web.Request) -> Actor:
    """The logged-in user, if their role may write records and alerts (node.users CAPABILITIES), else 403."""
    actor = actor_of(request)
    if not actor.may("author"):
        raise web.HTTPForbidden(text=_("Your role may not write reports or alerts."))
    return actor


def url_of(request: web.Request, name: str, **parts: str) -> str:
    """The path of a named route."""
    return str(request.app.router[name].url_for(**parts))


def other_problems(kind: Kind, content: dict[str, Any]) -> list[tuple[str, str]]:
    """What protocol.records finds in content besides unreadable entries, so that every problem is shown at once;
    nothing is stored (the node only stores what passes this same check)."""
    try:
        validate_content(kind, content, allow_local=True, now=clock.now())
    except ContentError as exc:
        return list(exc.problems)
    return []


def check_submitted(kind: Kind, submitted: Submitted) -> None:
    """When some entries could not be read, add the protocol's findings about the rest to the errors."""
    if submitted.errors:
        submitted.errors = {**problem_messages(kind, other_problems(kind, submitted.content)), **submitted.errors}


def refused(kind: Kind, submitted: Submitted, exc: NodeError) -> None:
    """Put a node's refusal of a form into its errors: every problem at its field, anything else above the form."""
    if isinstance(exc, InvalidContent):
        submitted.errors.update(problem_messages(kind, exc.problems))
    else:
        submitted.errors[GENERAL] = refusal(exc)


def form_context(
    request: web.Request, kind: Kind, values: dict[str, str], errors: dict[str, str], marks: list[str], fixed: list[str]
) -> dict[str, Any]:
    """What record_form.html needs for a record or alert form."""
    threshold = node_of(request).config.alerts.small_number_threshold
    table = band_table(threshold)
    return {
        "kind": kind,
        "groups": form_groups(kind),
        "values": values,
        "errors": errors,
        "checked": set(marks) | set(fixed),
        "fixed": set(fixed),
        "tlp_options": tlp_options(),
        "tlp_meaning": tlp_meaning(values.get("tlp", "")),
        "bands": json.dumps(table),
        "band_names": ", ".join(name for _lowest, name in table),
        "band": band_of(values.get("case_count", ""), threshold),
        "intro": None,
    }


def render_form(request: web.Request, context: dict[str, Any], status: int = 200) -> web.Response:
    """The record or alert form (record_form.html or a template extending it)."""
    template = "alert_new.html" if context.get("recipients_view") else "record_form.html"
    return aiohttp_jinja2.render_template(template, request, context, status=status)


def _new_context(request: web.Request, submitted: Submitted) -> dict[str, Any]:
    context = form_context(request, "experience", submitted.values, submitted.errors, submitted.marks, [])
    context.update(
        heading=_("New experience report"),
        intro=_("Saved as a draft: it stays on this node until you share it."),
        action=url_of(request, "record_new"),
        submit_label=_("Save as draft"),
        cancel_url=url_of(request, "records"),
    )
    return context


@routes.get("/records", name="records")
@aiohttp_jinja2.template("records.html")
async def records(request: web.Request) -> dict[str, Any]:
    """The officer's own reports and alerts (expired alerts on request), newest first."""
    node = node_of(request)
    with_expired = request.query.get("expired") == "1"
    found = [*list_records(node, "experience"), *list_records(node, "alert", include_lapsed=with_expired)]
    found.sort(key=lambda record: record["created"], reverse=True)
    for record in found:
        record["title"] = title_of(record)
        record["state"] = state_of(record)
        record["changed"] = get_record(node, record["id"])["versions"][-1]["created"]
    return {
        "records": found,
        "states": STATES,
        "kinds": KIND_NAMES,
        "with_expired": with_expired,
        "alert_link": "alert_new" in request.app.router,
    }


@routes.get("/records/new", name="record_new")
async def record_new(request: web.Request) -> web.Response:
    """An empty report form."""
    author_of(request)
    return render_form(request, _new_context(request, Submitted(values={"tlp": "TLP:AMBER"})))


@routes.post("/records/new")
async def record_create(request: web.Request) -> web.Response:
    """Save a new report as a draft, or show the form again with every problem next to its field."""
    actor = author_of(request)
    submitted = read_form("experience", await request.post())
    check_submitted("experience", submitted)
    if not submitted.errors:
        try:
            record_id = add_record(
                node_of(request), "experience", submitted.content, tlp=submitted.tlp, local=submitted.marks, by=actor
            )
        except NodeError as exc:
            refused("experience", submitted, exc)
    if submitted.errors:
        return render_form(request, _new_context(request, submitted), status=400)
    flash(await get_session(request), "success", _("Saved as draft: %(title)s") % {"title": submitted.content["title"]})
    raise web.HTTPSeeOther(url_of(request, "record_show", record_id=record_id))


def _edit_context(request: web.Request, record: dict[str, Any], submitted: Submitted) -> dict[str, Any]:
    kind: Kind = record["kind"]
    context = form_context(request, kind, submitted.values, submitted.errors, submitted.marks, record["local_fields"])
    shared = bool(record["shared_with"])
    if shared:
        intro = _(
            "Saving makes version %(version)s. It stays on this node until you have looked at exactly what "
            "your partners receive and sent it."
        )
    else:
        intro = _("Saving makes version %(version)s; it stays on this node until you share it.")
    context.update(
        heading=_("Edit: %(title)s") % {"title": title_of(record)},
        intro=intro % {"version": record["version"] + 1},
        action=url_of(request, "record_edit", record_id=record["id"]),
        submit_label=_("Save and show the preview") if shared else _("Save"),
        cancel_url=url_of(request, "record_show", record_id=record["id"]),
    )
    return context


def _changeable(record: dict[str, Any]) -> None:
    if record["retracted"]:
        raise web.HTTPConflict(text=_("This record was retracted; it cannot be changed any more."))
    if record["kind"] == "alert" and not record["content"]:
        raise web.HTTPConflict(text=_("This alert expired and its content was deleted."))


@routes.get("/records/{record_id}/edit", name="record_edit")
async def record_edit(request: web.Request) -> web.Response:
    """The form filled with the current version."""
    author_of(request)
    record = record_or_404(request, request.match_info["record_id"])
    _changeable(record)
    values = form_values(record["kind"], record["content"], record["tlp"])
    return render_form(request, _edit_context(request, record, Submitted(values=values)))


@routes.post("/records/{record_id}/edit")
async def record_save(request: web.Request) -> web.Response:
    """Save the form as the next version (nothing is stored if nothing changed or anything is wrong)."""
    actor = author_of(request)
    record = record_or_404(request, request.match_info["record_id"])
    _changeable(record)
    kind: Kind = record["kind"]
    submitted = read_form(kind, await request.post())
    check_submitted(kind, submitted)
    session = await get_session(request)
    show = url_of(request, "record_show", record_id=record["id"])
    unchanged = submitted.content == record["content"] and submitted.tlp == record["tlp"]
    if not submitted.errors and unchanged and set(submitted.marks) <= set(record["local_fields"]):
        flash(session, "info", _("Nothing was changed."))
        raise web.HTTPSeeOther(show)
    if not submitted.errors:
        try:
            version = edit_record(
                node_of(request),
                record["id"],
                submitted.content,
                tlp=submitted.tlp,
                local=submitted.marks,
                by=actor,
                distribute=False,  # what partners receive of it leaves after its preview (web/pages/update.py)
            )
        except NodeError as exc:
            refused(kind, submitted, exc)
    if submitted.errors:
        return render_form(request, _edit_context(request, record, submitted), status=400)
    if record["shared_with"] and "record_update" in request.app.router:
        text = _("Saved as version %(version)s. It has not left yet: look at what your partners receive, then send it.")
        flash(session, "info", text % {"version": version})
        raise web.HTTPSeeOther(url_of(request, "record_update", record_id=record["id"]))
    flash(session, "success", _("Saved as version %(version)s.") % {"version": version})
    raise web.HTTPSeeOther(show)


@routes.get("/records/{record_id}", name="record_show")
@aiohttp_jinja2.template("record_show.html")
async def record_show(request: web.Request) -> dict[str, Any]:
    """One own record: content (local fields marked), label, versions, shares, retraction."""
    record = record_or_404(request, request.match_info["record_id"])
    kind: Kind = record["kind"]
    route = "alert_preview" if kind == "alert" else "share"
    send = url_of(request, route, record_id=record["id"]) if route in request.app.router else None
    return {
        "record": record,
        "title": title_of(record),
        "kind_name": KIND_NAMES[kind],
        "state": state_of(record),
        "states": STATES,
        "share_states": SHARE_STATES,
        "rows": readable(kind, record["content"], record["local_fields"]),
        "tlp_meaning": tlp_meaning(record["tlp"]),
        "band": _band_sent(request, record),
        "send_url": send,
        "outdated": outdated_shares(node_of(request), record["id"]) if not record["retracted"] else [],
        "update_url": url_of(request, "record_update", record_id=record["id"])
        if "record_update" in request.app.router
        else None,
    }


def _band_sent(request: web.Request, record: dict[str, Any]) -> str | None:
    """The band partners receive for an alert's exact count (as the node seals it), None if none leaves."""
    count = record["content"].get("case_count")
    if record["kind"] != "alert" or not isinstance(count, int) or "case_band" in record["local_fields"]:
        return None
    return case_band(count, node_of(request).config.alerts.small_number_threshold)


@routes.post("/records/{record_id}/retract", name="record_retract")
async def record_retract(request: web.Request) -> web.StreamResponse:
    """First post: ask for confirmation. Second post (confirmed): retract everywhere (node.sharing.shares.retract)."""
    actor = author_of(request)
    record = record_or_404(request, request.match_info["record_id"])
    form = await request.post()
    show = url_of(request, "record_show", record_id=record["id"])
    if record["retracted"]:
        raise web.HTTPConflict(text=_("This record was already retracted."))
    if form.get("confirmed") != "yes":
        context = {"record": record, "title": title_of(record), "cancel_url": show}
        return aiohttp_jinja2.render_template("record_retract.html", request, context)
    try:
        reached = retract(node_of(request), record["id"], by=actor)
    except NodeError as exc:
        raise web.HTTPConflict(text=refusal(exc)) from None
    text = i18n.ngettext(
        "Retracted. %(num)d partner is told to erase it.",
        "Retracted. %(num)d partners are told to erase it.",
        len(reached),
    )
    flash(await get_session(request), "success", text % {"num": len(reached)})
    raise web.HTTPSeeOther(show)
