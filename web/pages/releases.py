"""Freigaben: for approvers, the shares waiting for four-eyes release, each with the preview of what it sends;
release them, or reject them with a comment their author sees.

Shares of the same version, bytes and author (one request to several partners) are shown together and
released or rejected together, share by share, through the node's operations
(node.sharing.release.release_share and reject_share, as `praevnet shares release` and `shares reject`).
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session
from babel.lists import format_list

from node.errors import NodeError
from node.sharing.release import MAX_COMMENT, pending_shares, reject_share, release_share
from node.sharing.review import pending_review
from node.users import Actor
from web import i18n
from web.context import actor_of, flash, node_of
from web.fields import KIND_NAMES, tlp_meaning
from web.forms import refusal
from web.readable import preview_view

routes = web.RouteTableDef()
_ = i18n.gettext
MAX_SHARES = 500  # share ids one form may name: more than one request ever holds


def _approver(request: web.Request) -> Actor:
    actor = actor_of(request)
    if not actor.may("release"):
        raise web.HTTPForbidden(text=_("Only users with the right to release shares may open this page."))
    return actor


def _groups(request: web.Request, actor: Actor) -> list[dict[str, Any]]:
    """Pending shares grouped by what they send (version, bytes) and who asked, each with its preview."""
    node = node_of(request)
    grouped: dict[tuple[str, int, str, str], list[dict[str, Any]]] = {}
    for share in pending_shares(node):
        key = (share["record_id"], share["version"], share["sha256"], share["author"])
        grouped.setdefault(key, []).append(share)
    language = i18n.current_language.get()
    groups = []
    for shares in grouped.values():
        first = shares[0]
        names = sorted((share["peer_name"] or share["peer_id"] for share in shares), key=str.casefold)
        shown = pending_review(node, first["id"])
        groups.append(
            {
                "key": f"s{first['id']}",
                "shares": shares,
                "first": first,
                "title": first.get("title") or shown["content"].get("title") or shown["content"].get("headline", ""),
                "kind_name": i18n.gettext(KIND_NAMES.get(first["kind"], first["kind"])),
                "whom": format_list(names, locale=language),
                "tlp_meaning": tlp_meaning(first["tlp"]),
                "own": actor.name in (first["author"], first["made_by"]),
                "p": preview_view(first["kind"], shown["written"], shown, names),
            }
        )
    return groups


def _render(
    request: web.Request,
    actor: Actor,
    *,
    errors: dict[str, str] | None = None,
    comments: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> web.Response:
    context = {
        "groups": _groups(request, actor),
        "errors": errors or {},
        "comments": comments or {},
        "notice": notice,
        "max_comment": MAX_COMMENT,
    }
    return aiohttp_jinja2.render_template("releases.html", request, context, status=status)


@routes.get("/releases", name="releases")
async def releases(request: web.Request) -> web.Response:
    """The shares waiting for release, with what each sends."""
    return _render(request, _approver(request))


def _share_ids(form: Any) -> list[int]:
    values = form.getall("share", [])
    if not 0 < len(values) <= MAX_SHARES or not all(isinstance(v, str) and v.isdigit() and len(v) < 10 for v in values):
        raise web.HTTPBadRequest(text=_("The form names no share waiting for release."))
    return [int(value) for value in values]


def _refused(exc: NodeError, done: int, total: int) -> str:
    """The node's refusal, and how many shares of the request it had already carried out."""
    text = refusal(exc)
    if done:
        done_before = _("(%(done)d of %(total)d shares were done before this refusal.)")
        text += " " + done_before % {"done": done, "total": total}
    return text


def _comment_problem(comment: str) -> str | None:
    """What is wrong with a rejection's comment, in words for the field (the node checks it again)."""
    if not comment.strip():
        return _("Please write why you reject it: the author sees your comment.")
    if len(comment.strip()) > MAX_COMMENT:
        return _("At most %(limit)s characters, please.") % {"limit": MAX_COMMENT}
    return None


@routes.post("/releases")
async def decide(request: web.Request) -> web.Response:
    """Release the shares of one request exactly as listed (version and SHA-256), or reject them with a comment."""
    actor = _approver(request)
    form = await request.post()
    ids = _share_ids(form)
    node = node_of(request)
    action = form.get("action")
    comment = str(form.get("comment", ""))
    version = str(form.get("version", ""))
    if action == "release" and (not version.isdigit() or len(version) > 9):
        raise web.HTTPBadRequest(text=_("The form names no version to release."))
    if action not in ("release", "reject"):
        raise web.HTTPBadRequest(text=_("Unknown action: release or reject."))
    if action == "reject" and (problem := _comment_problem(comment)):
        field = f"comment-s{ids[0]}"
        kept = {field: comment[: 2 * MAX_COMMENT]}  # shown again in the field, to be shortened
        return _render(request, actor, errors={field: problem}, comments=kept, status=400)
    done = 0
    try:
        for share_id in ids:
            if action == "release":
                release_share(node, share_id, version=int(version), sha256=str(form.get("sha256", ""))[:200], by=actor)
            else:
                reject_share(node, share_id, comment=comment, by=actor)
            done += 1
    except NodeError as exc:
        return _render(request, actor, notice=_refused(exc, done, len(ids)), status=409)
    if action == "release":
        text = i18n.ngettext("%(num)d share released.", "%(num)d shares released.", done)
    else:
        text = i18n.ngettext("%(num)d share rejected.", "%(num)d shares rejected.", done)
    flash(await get_session(request), "success", text % {"num": done})
    raise web.HTTPSeeOther(str(request.app.router["releases"].url_for()))
