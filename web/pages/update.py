"""Neue Version senden: after an edit of a shared report or alert, what each audience of its partners receives of
the new version, and sending exactly that (or, with four-eyes release, sending it for release).

An edit made on these pages stays on the node (node.sharing.records.edit_record without distributing). This
page shows node.sharing.review.review_update: per audience (the partners named, all partners, each network)
the content as it is signed, the fields kept local, personal-data findings to confirm, and the sealed bytes;
the send button posts the version and each audience's SHA-256, which node.sharing.review.send_reviewed_update
checks, so nothing leaves that was not on screen.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session
from babel.lists import format_list
from multidict import MultiMapping

from node.errors import NodeError
from node.sharing.review import StalePreview, review_update, send_reviewed_update
from node.trust.peers import list_peers
from web import i18n
from web.context import flash, node_of
from web.forms import refusal
from web.pages.records import author_of, record_or_404, title_of, url_of
from web.readable import preview_view

routes = web.RouteTableDef()
_ = i18n.gettext
_DIGEST = re.compile(r"([A-Za-z0-9_-]{0,64}|-)=(sha256:[A-Za-z0-9_-]{43})")
MAX_AUDIENCES = 100  # digests a form may carry: more than a record has audiences


def _names(request: web.Request) -> dict[str, str]:
    return {peer["node_id"]: peer["name"] or peer["node_id"] for peer in list_peers(node_of(request))}


def _page(
    request: web.Request,
    record: dict[str, Any],
    *,
    confirm_pii: bool = False,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> web.Response:
    """The previews of the new version for every audience that holds an older one, and the way on."""
    try:
        shown = review_update(node_of(request), record["id"], by=author_of(request), confirm_pii=confirm_pii)
    except NodeError:
        raise web.HTTPSeeOther(url_of(request, "record_show", record_id=record["id"])) from None
    known = _names(request)
    audiences = []
    for one in shown:
        names = sorted((known.get(peer, peer) for peer in one["recipients"]), key=str.casefold)
        view = None if one["refused"] else preview_view(record["kind"], record["content"], one, names)
        audiences.append({"names": names, "refused": one["refused"], "p": view, "shown": one})
    sendable = [a for a in audiences if not a["refused"]]
    blocked = any(a["shown"]["sealed"] is None for a in sendable)
    whom = format_list(
        sorted({name for a in sendable for name in a["names"]}, key=str.casefold), locale=i18n.current_language.get()
    )
    label = record["tlp"]
    if node_of(request).config.release.four_eyes:
        button = _("Send for release: to %(whom)s (%(label)s)") % {"whom": whom, "label": label}
    else:
        button = _("Send to %(whom)s (%(label)s)") % {"whom": whom, "label": label}
    context = {
        "record": record,
        "title": title_of(record),
        "audiences": audiences,
        "sendable": bool(sendable),
        "blocked": blocked,
        "findings": sum(len(a["shown"].get("findings", ())) for a in sendable),
        "digests": [f"{a['shown']['network'] or '-'}={a['shown']['sealed']['sha256']}" for a in sendable]
        if not blocked
        else [],
        "version": record["version"],
        "button": button,
        "four_eyes": node_of(request).config.release.four_eyes,
        "errors": errors or {},
        "notice": notice,
        "action": url_of(request, "record_update", record_id=record["id"]),
        "edit_url": url_of(request, "record_edit", record_id=record["id"]),
        "show_url": url_of(request, "record_show", record_id=record["id"]),
    }
    return aiohttp_jinja2.render_template("record_update.html", request, context, status=status)


def _sendable(record: dict[str, Any]) -> None:
    if record["retracted"]:
        raise web.HTTPConflict(text=_("This record was retracted; it cannot be changed any more."))
    if not record["content"]:
        raise web.HTTPConflict(text=_("This alert expired and its content was deleted."))


def read_digests(form: MultiMapping[Any]) -> tuple[int, dict[str, str]] | None:
    """The version and the SHA-256 per audience (network id, "" for direct shares) the preview carried, or None."""
    version = form.get("version", "")
    values = form.getall("digest", [])
    if not isinstance(version, str) or not version.isdigit() or len(version) > 9 or len(values) > MAX_AUDIENCES:
        return None
    digests: dict[str, str] = {}
    for value in values:
        found = _DIGEST.fullmatch(value) if isinstance(value, str) else None
        if found is None:
            return None
        digests["" if found.group(1) == "-" else found.group(1)] = found.group(2)
    return (int(version), digests) if digests else None


@routes.get("/records/{record_id}/update", name="record_update")
async def update_form(request: web.Request) -> web.Response:
    """What the partners holding an older version would receive of the current one."""
    author_of(request)
    record = record_or_404(request, request.match_info["record_id"])
    _sendable(record)
    return _page(request, record)


@routes.post("/records/{record_id}/update")
async def update_step(request: web.Request) -> web.Response:
    """Confirm the personal-data check, or send exactly what the previews showed."""
    actor = author_of(request)
    record = record_or_404(request, request.match_info["record_id"])
    _sendable(record)
    form = await request.post()
    step = form.get("step")
    if step == "confirm":
        if form.get("pii_checked") != "1":
            message = _("Please confirm that you checked the notes, or edit the report.")
            return _page(request, record, errors={"pii_checked": message}, status=400)
        return _page(request, record, confirm_pii=True)
    if step != "send":
        raise web.HTTPBadRequest(text=_("Unknown step of the form."))
    pinned = read_digests(form)
    if pinned is None:
        return _page(request, record, notice=_("Nothing was sent: please look at the preview first."), status=409)
    version, digests = pinned
    try:
        outcome = send_reviewed_update(node_of(request), record["id"], version=version, digests=digests, by=actor)
    except StalePreview:
        notice = _("Nothing was sent: the report changed since the preview. Please look at it again.")
        return _page(request, record, notice=notice, status=409)
    except NodeError as exc:
        return _page(request, record, notice=refusal(exc), status=409)
    known = _names(request)
    whom = format_list(
        sorted((known.get(peer, peer) for peer in outcome["recipients"]), key=str.casefold),
        locale=i18n.current_language.get(),
    )
    if outcome["state"] == "pending":
        text = _("Version %(version)s sent for release to %(whom)s. A second person must release it.")
    else:
        text = _("Version %(version)s sent to %(whom)s.")
    flash(await get_session(request), "success", text % {"version": version, "whom": whom})
    raise web.HTTPSeeOther(url_of(request, "record_show", record_id=record["id"]))
