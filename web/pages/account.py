"""Mein Konto: every user changes their own password and gets their own personal token (shown once).

Both ask for the current password (node.users.login_password), counted by the login rate limit, so
an open browser left alone is not enough to take over the account or mint a lasting token.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session, new_session

from node.errors import NodeError
from node.users import Actor, get_user, issue_token, login_password, set_password
from web import i18n
from web.auth import LIMITER, STORAGE
from web.context import actor_of, flash, node_of
from web.pages.users import Form, new_password, text_field
from web.security import client_address

routes = web.RouteTableDef()
_ = i18n.gettext


def _page(request: web.Request, errors: dict[str, str], status: int = 200) -> web.Response:
    context = {"user": get_user(node_of(request), actor_of(request).name), "errors": errors}
    return aiohttp_jinja2.render_template("account.html", request, context, status=status)


def _current_password(request: web.Request, form: Form, field: str, errors: dict[str, str]) -> Actor | None:
    """The logged-in user again, if `field` holds their current password; else a message in `errors`."""
    actor = actor_of(request)
    limiter = request.app[LIMITER]
    address = client_address(request)
    password = text_field(form, field)
    if not password:
        errors[field] = _("Please enter your current password.")
        return None
    if limiter.blocked(actor.name, address):
        errors[field] = _("Too many failed attempts. Please wait a few minutes and try again.")
        return None
    try:
        confirmed = login_password(node_of(request), actor.name, password)
    except NodeError:
        limiter.failed(actor.name, address)
        errors[field] = _("This is not your current password.")
        return None
    limiter.succeeded(actor.name)
    return confirmed


@routes.get("/account", name="account")
async def account_page(request: web.Request) -> web.Response:
    """The logged-in user's own account: role, token state, and the forms to change them."""
    return _page(request, {})


@routes.post("/account/password", name="account_password")
async def change_password(request: web.Request) -> web.StreamResponse:
    """Change one's own password; every other session of this user ends, this one goes on."""
    form = await request.post()
    errors: dict[str, str] = {}
    actor = _current_password(request, form, "current_password", errors)
    password = new_password(form, errors)
    if actor is None or errors:
        return _page(request, errors, 400)
    set_password(node_of(request), actor.name, password, by=actor)
    old = await get_session(request)
    language = old.get("language")
    request.app[STORAGE].forget_user(actor.name)
    session = await new_session(request)
    session["user"] = actor.name
    if language:
        session["language"] = language
    flash(session, "success", _("Your new password is set. You were logged out everywhere else."))
    raise web.HTTPSeeOther(str(request.app.router["account"].url_for()))


@routes.post("/account/token", name="account_token")
async def new_token(request: web.Request) -> web.Response:
    """Issue a new personal token for oneself and show it this once; an earlier one stops working."""
    form = await request.post()
    errors: dict[str, str] = {}
    actor = _current_password(request, form, "token_password", errors)
    if actor is None:
        return _page(request, errors, 400)
    token = issue_token(node_of(request), actor.name, by=actor)
    context: dict[str, Any] = {"token": token}
    return aiohttp_jinja2.render_template("account_token.html", request, context)
