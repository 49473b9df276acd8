"""Logging in and out with the node's local users, and the middleware that lets only them in.

Every request but the login page and static assets needs a session of an enabled user; the user
is read from the database on each request, so a disabled account is out at once. Failed logins are
rate-limited per user name and per client address (web.security.LoginLimiter).
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session, new_session

from node import users
from node.errors import NodeError
from web import i18n
from web.context import ACTOR, actor_of, node_of
from web.security import Handler, LoginLimiter, client_address
from web.sessions import MemoryStorage

_ = i18n.gettext
STORAGE = web.AppKey("session_storage", MemoryStorage)
LIMITER = web.AppKey("login_limiter", LoginLimiter)
OPEN_PATHS = ("/login", "/static/")
login_routes = web.RouteTableDef()


def _safe_next(target: str | None) -> str:
    """Where to go after login: a path on this site only, never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Set the request's language and actor; send anyone not logged in to the login page."""
    session = await get_session(request)
    name = session.get("user")
    actor = None
    stored_language = None
    if isinstance(name, str):
        try:
            user = users.get_user(node_of(request), name)
        except NodeError:
            user = None
        if user is not None and not user["disabled"]:
            actor = users.Actor(user["name"], user["role"])
            stored_language = user.get("language")
            request[ACTOR] = actor
            session.changed()  # a request counts as activity: the idle timeout starts again
    chosen = stored_language or session.get("language")
    i18n.current_language.set(i18n.choose_language(chosen, request.headers.get("Accept-Language")))
    if actor is None and not request.path.startswith(OPEN_PATHS):
        if isinstance(name, str):
            request.app[STORAGE].end(session)
            session.invalidate()
        if request.method in ("GET", "HEAD"):
            raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs)}")
        raise web.HTTPUnauthorized(text=i18n.gettext("not logged in"))
    return await handler(request)


@login_routes.get("/login", name="login")
@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict[str, object]:
    """The login form."""
    return {"next": _safe_next(request.query.get("next")), "error": None, "name": ""}


@login_routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    """Check name and password; on success start a new session (a new id) and go on."""
    form = await request.post()
    name = str(form.get("name", "")).strip().lower()[:64]
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    address = client_address(request)
    limiter = request.app[LIMITER]
    context: dict[str, object] = {"next": target, "name": name}
    if limiter.blocked(name, address):
        context["error"] = _("Too many failed attempts. Please wait a few minutes and try again.")
        return aiohttp_jinja2.render_template("login.html", request, context, status=429)
    try:
        actor = users.login_password(node_of(request), name, password)
    except NodeError:
        limiter.failed(name, address)
        context["error"] = _("Unknown user name or wrong password.")
        return aiohttp_jinja2.render_template("login.html", request, context, status=401)
    limiter.succeeded(name)
    old = await get_session(request)
    language = old.get("language")
    request.app[STORAGE].end(old)
    session = await new_session(request)
    session["user"] = actor.name
    if language:
        session["language"] = language
    raise web.HTTPSeeOther(target)


@login_routes.post("/logout", name="logout")
async def logout(request: web.Request) -> web.StreamResponse:
    """End the session here and in the browser."""
    actor_of(request)
    session = await get_session(request)
    request.app[STORAGE].end(session)
    session.invalidate()
    raise web.HTTPSeeOther("/login")


@login_routes.post("/language", name="language")
async def choose_language(request: web.Request) -> web.StreamResponse:
    """Switch the interface language for this user (kept with the account) and return to the page."""
    form = await request.post()
    language = str(form.get("language", ""))
    if language not in i18n.LANGUAGES:
        raise web.HTTPBadRequest(text=f"unknown language {language[:20]!r}; choose de or en")
    actor = actor_of(request)
    users.set_language(node_of(request), actor.name, language)
    session = await get_session(request)
    session["language"] = language
    raise web.HTTPSeeOther(_safe_next(str(form.get("next", ""))))
