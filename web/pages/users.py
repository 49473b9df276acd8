"""Benutzer: administrators create users, set a new password, disable a user or revoke a user's token.

Each action is node.users' own (the CLI's `praevnet users ...`), done as the logged-in administrator;
the page only checks the form, so that every problem is named in German next to its field. A
user's token is never shown here: only its owner gets one, on their own account page.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session
from multidict import MultiDictProxy

from node.errors import NodeError, NotFound
from node.users import (
    BUILTIN_NAMES,
    MAX_PASSWORD,
    MIN_PASSWORD,
    NAME_RE,
    ROLES,
    Actor,
    add_user,
    disable_user,
    get_user,
    list_users,
    reset_token,
    set_password,
)
from web import i18n
from web.auth import STORAGE
from web.context import actor_of, flash, node_of, role_names

routes = web.RouteTableDef()
_ = i18n.gettext
Form = MultiDictProxy[Any]
MAX_NAME_FIELD = 200  # characters of a typed user name kept for the form shown again


def text_field(form: Form, name: str) -> str:
    """A form field as text ("" when missing or not text, such as a file upload)."""
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def new_password(form: Form, errors: dict[str, str], field: str = "password", repeat: str = "password_repeat") -> str:
    """The new password typed twice into `field` and `repeat`; what is wrong with it goes into `errors`."""
    password = text_field(form, field)
    if not password:
        errors[field] = _("Please enter the new password.")
    elif len(password) < MIN_PASSWORD:
        errors[field] = _("The password must be at least %(num)d characters long.") % {"num": MIN_PASSWORD}
    elif len(password) > MAX_PASSWORD:
        errors[field] = _("The password may be at most %(num)d characters long.") % {"num": MAX_PASSWORD}
    elif text_field(form, repeat) != password:
        errors[repeat] = _("The two entries differ. Please type the same new password twice.")
    return password


def administrator(request: web.Request) -> Actor:
    """The logged-in user if they may manage users (node.users decides), else 403."""
    actor = actor_of(request)
    try:
        actor.require("manage_users")
    except NodeError:
        raise web.HTTPForbidden(text=_("Only administrators may manage users.")) from None
    return actor


def _user(request: web.Request) -> dict[str, Any]:
    """The user the path names; 404 if there is none."""
    try:
        return get_user(node_of(request), request.match_info["user"])
    except NotFound:
        raise web.HTTPNotFound(text=_("There is no such user.")) from None


def _name_problem(request: web.Request, name: str) -> str | None:
    """What is wrong with a new user's name, in words; None if it can be used."""
    if not name:
        return _("Please enter a user name.")
    if name in BUILTIN_NAMES:
        return _("This name is reserved for the node itself. Please choose another one.")
    if not NAME_RE.fullmatch(name):
        return _(
            "2 to 32 characters: a lowercase letter first, then lowercase letters, digits, dot, underscore or hyphen."
        )
    try:
        get_user(node_of(request), name)
    except NotFound:
        return None
    return _("A user with this name exists already.")


def _list_page(request: web.Request, form: dict[str, str], errors: dict[str, str], status: int = 200) -> web.Response:
    options = list(role_names().items())
    context = {"users": list_users(node_of(request)), "role_options": options, "form": form, "errors": errors}
    return aiohttp_jinja2.render_template("users.html", request, context, status=status)


@routes.get("/users", name="users")
async def users_page(request: web.Request) -> web.Response:
    """Every local user, and the form to create one."""
    administrator(request)
    return _list_page(request, {"role": "officer"}, {})


@routes.post("/users", name="user_create")
async def create_user(request: web.Request) -> web.StreamResponse:
    """Create a user with a role and an initial password typed twice."""
    actor = administrator(request)
    form = await request.post()
    name = text_field(form, "name").strip().lower()[:MAX_NAME_FIELD]
    role = text_field(form, "role")
    errors: dict[str, str] = {}
    problem = _name_problem(request, name)
    if problem:
        errors["name"] = problem
    if role not in ROLES:
        errors["role"] = _("Please choose one of the roles.")
    password = new_password(form, errors)
    if errors:
        return _list_page(request, {"name": name, "role": role if role in ROLES else "officer"}, errors, 400)
    add_user(node_of(request), name, role, password, by=actor)
    flash(await get_session(request), "success", _("User %(name)s was created.") % {"name": name})
    raise web.HTTPSeeOther(str(request.app.router["user_show"].url_for(user=name)))


def _user_page(request: web.Request, user: dict[str, Any], errors: dict[str, str], status: int = 200) -> web.Response:
    context = {"user": user, "errors": errors, "is_self": user["name"] == actor_of(request).name}
    return aiohttp_jinja2.render_template("user.html", request, context, status=status)


@routes.get("/users/{user}", name="user_show")
async def user_page(request: web.Request) -> web.Response:
    """One user: role and state, and the forms to set a new password, revoke the token or disable them."""
    administrator(request)
    return _user_page(request, _user(request), {})


async def _done(request: web.Request, name: str, text: str) -> web.StreamResponse:
    flash(await get_session(request), "success", text)
    raise web.HTTPSeeOther(str(request.app.router["user_show"].url_for(user=name)))


@routes.post("/users/{user}/password", name="user_password")
async def reset_password(request: web.Request) -> web.StreamResponse:
    """Give the user a new password (typed twice); their open sessions end."""
    actor = administrator(request)
    user = _user(request)
    form = await request.post()
    errors: dict[str, str] = {}
    password = new_password(form, errors)
    if errors:
        return _user_page(request, user, errors, 400)
    set_password(node_of(request), user["name"], password, by=actor)
    if user["name"] != actor.name:
        request.app[STORAGE].forget_user(user["name"])
    return await _done(request, user["name"], _("The new password of %(name)s is set.") % {"name": user["name"]})


@routes.post("/users/{user}/token/reset", name="user_token_reset")
async def revoke_token(request: web.Request) -> web.StreamResponse:
    """Revoke the user's personal token at once; they get a new one on their own account page."""
    actor = administrator(request)
    user = _user(request)
    reset_token(node_of(request), user["name"], by=actor)
    return await _done(request, user["name"], _("The token of %(name)s no longer works.") % {"name": user["name"]})


@routes.post("/users/{user}/disable", name="user_disable")
async def disable(request: web.Request) -> web.StreamResponse:
    """Disable the user for good: their sessions end, their token stops working, they cannot log in."""
    actor = administrator(request)
    user = _user(request)
    if user["disabled"]:
        return _user_page(request, user, {"disable": _("This user is disabled already.")}, 409)
    disable_user(node_of(request), user["name"], by=actor)
    request.app[STORAGE].forget_user(user["name"])
    return await _done(request, user["name"], _("User %(name)s is disabled.") % {"name": user["name"]})
