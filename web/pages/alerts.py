"""Warnmeldung senden: the alert form (CAP vocabularies, area, exact count shown as the band peers get, required
expiry, recipients), then the preview of exactly what leaves, then sending exactly that.

Nothing leaves without the preview having been on screen: the form stores the alert as a draft
(node.sharing.records.add_record, the validation `praevnet alerts send` applies), the preview page
reviews it for its recipients (node.sharing.review.review seals it, or shows the personal-data
findings that block it), and only the send form of that page, naming the previewed version and
SHA-256, sends it (node.sharing.review.share_reviewed, refused if anything changed since).
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session
from babel.lists import format_list

from node.errors import NodeError
from node.networks.registry import list_networks
from node.sharing import policy
from node.sharing.records import add_record
from node.sharing.review import StalePreview, review, share_reviewed
from node.trust.peers import list_peers
from protocol.tlp import Scope, scope_allowed
from web import i18n
from web.context import flash, node_of
from web.forms import Recipients, Submitted, read_form, read_recipients, refusal
from web.i18n import N_
from web.pages.records import (
    author_of,
    check_submitted,
    form_context,
    record_or_404,
    refused,
    render_form,
    title_of,
    url_of,
)
from web.readable import preview_view

routes = web.RouteTableDef()
_ = i18n.gettext
RED_ONLY_NAMED = N_("TLP:RED goes only to partners chosen by name, never to all or to a network.")


def names_of(request: web.Request) -> dict[str, str]:
    """Every trusted peer's name by node id."""
    return {peer["node_id"]: peer["name"] for peer in list_peers(node_of(request))}


def joined(names: list[str]) -> str:
    """Names as a sentence lists them ("Bonn, Chemnitz und Dresden"), in the current language."""
    return format_list(names, locale=i18n.current_language.get()) if names else ""


def recipients_view(request: web.Request, chosen: Recipients) -> dict[str, Any]:
    """What the recipients fieldset shows: the peers and networks to choose from, and the choice."""
    node = node_of(request)
    return {
        "peers": list_peers(node),
        "networks": list_networks(node),
        "chosen": chosen,
        "mode": chosen.mode,
    }


def _new_context(request: web.Request, submitted: Submitted, chosen: Recipients) -> dict[str, Any]:
    context = form_context(request, "alert", submitted.values, submitted.errors, submitted.marks, [])
    context.update(
        heading=_("Send alert"),
        intro=_("Next you see the preview: exactly what leaves, for each recipient. Nothing is sent before that."),
        action=url_of(request, "alert_new"),
        submit_label=_("Continue to preview"),
        cancel_url=url_of(request, "records"),
        recipients_view=recipients_view(request, chosen),
    )
    return context


def _check_recipients(request: web.Request, submitted: Submitted, chosen: Recipients, missing: str | None) -> None:
    """Put what is wrong with the recipients into the form's errors: nothing chosen, a peer or network the node
    does not know (node.sharing.policy.audience), or a label that may not go to all of them."""
    if missing:
        submitted.errors["audience"] = missing
        return
    try:
        _peers, scope = policy.audience(node_of(request), chosen.to, chosen.all_peers, chosen.network)
    except NodeError as exc:
        submitted.errors["audience"] = _("These recipients are not possible: %(reason)s") % {"reason": str(exc)}
        return
    if "tlp" not in submitted.errors and not scope_allowed(submitted.tlp, scope):
        submitted.errors["tlp"] = _(RED_ONLY_NAMED)


@routes.get("/alerts/new", name="alert_new")
async def alert_new(request: web.Request) -> web.Response:
    """The empty alert form."""
    author_of(request)
    submitted = Submitted(values={"tlp": "TLP:AMBER"})
    return render_form(request, _new_context(request, submitted, Recipients()))


@routes.post("/alerts/new")
async def alert_draft(request: web.Request) -> web.Response:
    """Store the alert as a draft and go on to its preview; or show the form again with every problem."""
    actor = author_of(request)
    form = await request.post()
    submitted = read_form("alert", form)
    chosen, missing = read_recipients(form)
    check_submitted("alert", submitted)
    _check_recipients(request, submitted, chosen, missing)
    if not submitted.errors:
        try:
            record_id = add_record(
                node_of(request), "alert", submitted.content, tlp=submitted.tlp, local=submitted.marks, by=actor
            )
        except NodeError as exc:
            refused("alert", submitted, exc)
    if submitted.errors:
        return render_form(request, _new_context(request, submitted, chosen), status=400)
    target = request.app.router["alert_preview"].url_for(record_id=record_id).with_query(chosen.query())
    raise web.HTTPSeeOther(str(target))


def _alert_or_404(request: web.Request) -> dict[str, Any]:
    record = record_or_404(request, request.match_info["record_id"])
    if record["kind"] != "alert":
        raise web.HTTPNotFound(text=_("There is no alert with this id on this node."))
    if record["retracted"] or not record["content"]:
        raise web.HTTPConflict(text=_("This alert was retracted or has expired; it cannot be sent."))
    return record


def _audience_names(request: web.Request, outcome: dict[str, Any], chosen: Recipients) -> list[str]:
    names = names_of(request)
    shown = sorted(names.get(peer, peer) for peer in outcome["recipients"])
    if chosen.network:
        return [_("network %(name)s") % {"name": chosen.network}, *shown]
    return shown


@routes.get("/alerts/{record_id}/preview", name="alert_preview")
async def alert_preview(request: web.Request) -> web.Response:
    """Exactly what leaves for the chosen recipients (or the choice of recipients first), and the send button."""
    actor = author_of(request)
    record = _alert_or_404(request)
    chosen, missing = read_recipients(request.query)
    context: dict[str, Any] = {
        "record": record,
        "title": title_of(record),
        "errors": {},
        "recipients_view": recipients_view(request, chosen),
        "four_eyes": node_of(request).config.release.four_eyes,
        "query": chosen.query(),
        "preview": None,
    }
    if missing and request.query:
        context["errors"]["audience"] = missing
    if missing:
        status = 400 if request.query else 200
        return aiohttp_jinja2.render_template("alert_preview.html", request, context, status=status)
    scope: Scope = "network" if chosen.network else "all-peers" if chosen.all_peers else "named"
    if not scope_allowed(record["tlp"], scope):
        context["errors"]["audience"] = _(RED_ONLY_NAMED)
        return aiohttp_jinja2.render_template("alert_preview.html", request, context, status=400)
    try:
        outcome = review(node_of(request), record["id"], chosen.to, chosen.all_peers, network=chosen.network, by=actor)
    except NodeError as exc:
        context["errors"]["audience"] = _("These recipients are not possible: %(reason)s") % {"reason": str(exc)}
        return aiohttp_jinja2.render_template("alert_preview.html", request, context, status=400)
    names = _audience_names(request, outcome, chosen)
    context["preview"] = preview_view("alert", record["content"], outcome, names)
    context["button"] = (
        _("Send for release: %(names)s (%(label)s)") if context["four_eyes"] else _("Send to %(names)s (%(label)s)")
    ) % {"names": joined(names), "label": outcome["tlp"]}
    return aiohttp_jinja2.render_template("alert_preview.html", request, context)


@routes.post("/alerts/{record_id}/preview")
async def alert_confirm_pii(request: web.Request) -> web.StreamResponse:
    """The officer checked the personal-data findings and lets the alert go as it is (recorded); back to the preview."""
    actor = author_of(request)
    record = _alert_or_404(request)
    form = await request.post()
    chosen, missing = read_recipients(form)
    if missing or form.get("confirm_pii") != "1":
        raise web.HTTPBadRequest(text=_("Please tick the confirmation first."))
    try:
        node = node_of(request)
        review(node, record["id"], chosen.to, chosen.all_peers, network=chosen.network, by=actor, confirm_pii=True)
    except NodeError as exc:
        raise web.HTTPBadRequest(text=refusal(exc)) from None
    target = request.app.router["alert_preview"].url_for(record_id=record["id"]).with_query(chosen.query())
    raise web.HTTPSeeOther(str(target))


@routes.post("/alerts/{record_id}/send", name="alert_send")
async def alert_send(request: web.Request) -> web.StreamResponse:
    """Send exactly the previewed version and envelope to the chosen recipients."""
    actor = author_of(request)
    record = _alert_or_404(request)
    form = await request.post()
    chosen, missing = read_recipients(form)
    preview_url = str(request.app.router["alert_preview"].url_for(record_id=record["id"]).with_query(chosen.query()))
    version, sha256 = str(form.get("version", "")), str(form.get("sha256", ""))
    if missing or not version.isdigit() or not sha256:
        raise web.HTTPBadRequest(text=_("Recipients or previewed version missing; open the preview again."))
    session = await get_session(request)
    try:
        outcome = share_reviewed(
            node_of(request),
            record["id"],
            chosen.to,
            chosen.all_peers,
            network=chosen.network,
            version=int(version),
            sha256=sha256,
            by=actor,
        )
    except StalePreview:
        flash(session, "warning", _("The alert changed since the preview. Please look at the preview again."))
        raise web.HTTPSeeOther(preview_url) from None
    except NodeError as exc:
        raise web.HTTPConflict(text=refusal(exc)) from None
    names = joined(_audience_names(request, outcome, chosen))
    if outcome["state"] == "pending":
        text = _("Alert sent for release: to %(names)s (%(label)s). It leaves once a second person releases it.")
    else:
        text = _("Alert sent to %(names)s (%(label)s).")
    flash(session, "success", text % {"names": names, "label": record["tlp"]})
    raise web.HTTPSeeOther(url_of(request, "record_show", record_id=record["id"]))
