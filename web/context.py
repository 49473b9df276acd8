"""What every page knows: the node, the logged-in actor, the language, the CSRF token and the navigation."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_session import Session, get_session

from node.home import Node
from node.users import Actor
from web import i18n
from web.i18n import N_
from web.security import CSRF_FIELD, csrf_token

NODE = web.AppKey("node", Node)
ACTOR = web.RequestKey("actor", Actor)  # the logged-in user

# (route name, label, capability needed or None); labels are translated when rendered
NAVIGATION: tuple[tuple[str, str, str | None], ...] = (
    ("overview", N_("Overview"), None),
    ("records", N_("Experience reports"), None),
    ("alert_new", N_("Send alert"), "author"),
    ("inbox", N_("Inbox and search"), None),
    ("releases", N_("Releases"), "release"),
    ("partners", N_("Partners and networks"), None),
    ("audit", N_("Audit log"), None),
    ("users", N_("Users"), "manage_users"),
)


def node_of(request: web.Request) -> Node:
    """The opened node this interface serves."""
    return request.app[NODE]


def actor_of(request: web.Request) -> Actor:
    """The logged-in user as an Actor (the authentication middleware has put it there)."""
    actor = request.get(ACTOR)
    if not isinstance(actor, Actor):
        raise web.HTTPUnauthorized(text=i18n.gettext("not logged in"))
    return actor


def flash(session: Session, kind: str, text: str) -> None:
    """Show `text` once on the next page (kind: success, info, warning or danger)."""
    session["notices"] = [*session.get("notices", []), [kind, text]]


def role_names() -> dict[str, str]:
    """The roles as the pages name them, in the current language."""
    _ = i18n.gettext
    return {"officer": _("officer"), "approver": _("approver"), "admin": _("administrator")}


async def page_context(request: web.Request) -> dict[str, Any]:
    """Variables every template may use."""
    session = await get_session(request)
    notices = session.pop("notices", []) if "notices" in session else []
    actor = request.get(ACTOR)
    node = node_of(request)
    navigation = [
        (name, label)
        for name, label, needs in NAVIGATION
        if isinstance(actor, Actor) and (needs is None or actor.may(needs)) and name in request.app.router
    ]
    return {
        "node_name": node.config.name,
        "actor": actor,
        "language": i18n.current_language.get(),
        "languages": i18n.LANGUAGES,
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token(session),
        "navigation": navigation,
        "notices": notices,
        "role_names": role_names(),
        "request_path": request.path_qs,
        "current_route": request.match_info.route.name if request.match_info.route else None,
        "has_route": lambda name: name in request.app.router,
        "url": lambda name, **parts: str(request.app.router[name].url_for(**parts)),
        "static": lambda path: str(request.app.router["static"].url_for(filename=path)),
    }
