"""Teilen: choose who receives a report, look at exactly what leaves for them, then share (or send for release).

Three steps, each a form post to the same address. 1: the recipients (partners, all partners, or a
network). 2, "Vorschau": node.sharing.review.review shows the content as it is signed, the fields kept
local, the personal-data findings marked in place (edit the report, or confirm the check, recorded),
and, once nothing blocks, the sealed bytes with their SHA-256. 3: node.sharing.review.share_reviewed
shares exactly the version and bytes the preview showed; if the report changed meanwhile (or there was
no preview), it refuses and the page shows the preview again.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session
from babel.lists import format_list

from node.errors import NodeError
from node.networks.registry import list_networks
from node.sharing.review import StalePreview, review, share_reviewed
from node.trust.peers import list_peers
from protocol.tlp import scope_allowed
from web import i18n
from web.context import actor_of, flash, node_of
from web.fields import tlp_meaning
from web.forms import Recipients, read_recipients, refusal
from web.pages.records import record_or_404, title_of, url_of
from web.readable import preview_view

routes = web.RouteTableDef()
_ = i18n.gettext
MAX_RECIPIENTS = 500  # more `to` values than a node has peers to pick one by one: not this page's form


def _names(request: web.Request) -> dict[str, str]:
    """Peer ids to the names officers know them by."""
    return {peer["node_id"]: peer["name"] or peer["node_id"] for peer in list_peers(node_of(request))}


def _joined(names: list[str]) -> str:
    """ "Bonn und Chemnitz", in the current language."""
    return format_list(names, locale=i18n.current_language.get()) if names else ""


def _choose_context(
    request: web.Request, record: dict[str, Any], chosen: Recipients, errors: dict[str, str]
) -> dict[str, Any]:
    """Step 1: the recipients to choose from; a TLP:RED report offers only named partners."""
    node = node_of(request)
    return {
        "record": record,
        "title": title_of(record),
        "tlp_meaning": tlp_meaning(record["tlp"]),
        "peers": list_peers(node),
        "networks": list_networks(node),
        "may_all": scope_allowed(record["tlp"], "all-peers"),
        "may_network": scope_allowed(record["tlp"], "network"),
        "chosen": chosen,
        "errors": errors,
        "action": url_of(request, "share", record_id=record["id"]),
        "cancel_url": url_of(request, "record_show", record_id=record["id"]),
    }


def _choose(
    request: web.Request, record: dict[str, Any], chosen: Recipients, errors: dict[str, str], status: int = 200
) -> web.Response:
    return aiohttp_jinja2.render_template(
        "share.html", request, _choose_context(request, record, chosen, errors), status=status
    )


def _button(request: web.Request, chosen: Recipients, shown: dict[str, Any], names: list[str]) -> str:
    """The share button's text: the recipients and the label again, or that it goes for release first."""
    label = shown["tlp"]
    if chosen.network:
        network = next((n["name"] for n in list_networks(node_of(request)) if n["id"] == shown["network"]), "")
        whom = _("the network %(network)s") % {"network": network or chosen.network}
    else:
        whom = _joined(names)
    if node_of(request).config.release.four_eyes:
        return _("Send for release: to %(whom)s (%(label)s)") % {"whom": whom, "label": label}
    return _("Share with %(whom)s (%(label)s)") % {"whom": whom, "label": label}


def _preview(
    request: web.Request,
    record: dict[str, Any],
    chosen: Recipients,
    *,
    confirm_pii: bool = False,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> web.Response:
    """Step 2: what leaves for the chosen recipients (the node's review), with the way on: edit, confirm, share."""
    actor = actor_of(request)
    try:
        node, to, every = node_of(request), chosen.to, chosen.all_peers
        shown = review(node, record["id"], to, every, network=chosen.network, by=actor, confirm_pii=confirm_pii)
    except NodeError as exc:
        return _choose(request, record, chosen, {"audience": refusal(exc)}, status=400 if status < 400 else status)
    known = _names(request)
    names = sorted((known.get(peer, peer) for peer in shown["recipients"]), key=str.casefold)
    context = {
        "record": record,
        "title": title_of(record),
        "p": preview_view(record["kind"], record["content"], shown, names),
        "shown": shown,
        "chosen": chosen,
        "button": _button(request, chosen, shown, names),
        "four_eyes": node_of(request).config.release.four_eyes,
        "errors": errors or {},
        "notice": notice,
        "action": url_of(request, "share", record_id=record["id"]),
        "edit_url": url_of(request, "record_edit", record_id=record["id"])
        if "record_edit" in request.app.router
        else None,
        "back_url": f"{url_of(request, 'share', record_id=record['id'])}?{urlencode(chosen.query())}",
    }
    return aiohttp_jinja2.render_template("share_preview.html", request, context, status=status)


def _shareable(record: dict[str, Any]) -> None:
    if record["retracted"]:
        raise web.HTTPConflict(text=_("This record was retracted; it cannot be shared any more."))
    if not record["content"]:
        raise web.HTTPConflict(text=_("This alert expired and its content was deleted."))


@routes.get("/records/{record_id}/share", name="share")
async def share_form(request: web.Request) -> web.Response:
    """Step 1: choose the recipients."""
    actor_of(request)
    record = record_or_404(request, request.match_info["record_id"])
    _shareable(record)
    chosen, _missing = read_recipients(request.query)
    return _choose(request, record, chosen, {})


def _pinned(form: Any) -> tuple[int, str] | None:
    """The version and SHA-256 the preview showed (hidden fields), or None if the form has none."""
    version, digest = form.get("version", ""), form.get("sha256", "")
    if not isinstance(version, str) or not isinstance(digest, str) or not version.isdigit() or len(version) > 9:
        return None
    if not digest.startswith("sha256:") or len(digest) > 100:
        return None
    return int(version), digest


@routes.post("/records/{record_id}/share")
async def share_step(request: web.Request) -> web.Response:
    """Steps 2 and 3: show the preview (or confirm the personal-data check), then share what it showed."""
    actor = actor_of(request)
    record = record_or_404(request, request.match_info["record_id"])
    _shareable(record)
    form = await request.post()
    chosen, missing = read_recipients(form)
    if len(form.getall("to", [])) > MAX_RECIPIENTS:
        missing = _("Too many recipients chosen.")
    if missing:
        field = {"peers": "to", "network": "network"}.get(str(form.get("audience", "")), "audience")
        if field == "network" and not list_networks(node_of(request)):
            field = "audience"  # the page offers no network to choose
        return _choose(request, record, chosen, {field: missing}, status=400)
    step = form.get("step")
    if step == "preview":
        return _preview(request, record, chosen)
    if step == "confirm":
        if form.get("pii_checked") != "1":
            message = _("Please confirm that you checked the notes, or edit the report.")
            return _preview(request, record, chosen, errors={"pii_checked": message}, status=400)
        return _preview(request, record, chosen, confirm_pii=True)
    if step != "share":
        raise web.HTTPBadRequest(text=_("Unknown step of the share form."))
    pinned = _pinned(form)
    if pinned is None:
        notice = _("Nothing was shared: please look at the preview first.")
        return _preview(request, record, chosen, notice=notice, status=409)
    version, digest = pinned
    try:
        node, to, every = node_of(request), chosen.to, chosen.all_peers
        outcome = share_reviewed(
            node, record["id"], to, every, network=chosen.network, version=version, sha256=digest, by=actor
        )
    except StalePreview:
        notice = _("Nothing was shared: the report changed since the preview. Please look at it again.")
        return _preview(request, record, chosen, notice=notice, status=409)
    except NodeError as exc:
        return _choose(request, record, chosen, {"audience": refusal(exc)}, status=409)
    known = _names(request)
    whom = _joined(sorted((known.get(peer, peer) for peer in outcome["recipients"]), key=str.casefold))
    if outcome["state"] == "pending":
        text = _("Sent for release: %(title)s to %(whom)s. A second person must release it.")
    else:
        text = _("Shared: %(title)s with %(whom)s.")
    flash(await get_session(request), "success", text % {"title": title_of(record), "whom": whom})
    raise web.HTTPSeeOther(url_of(request, "record_show", record_id=record["id"]))
