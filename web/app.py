"""The web interface's aiohttp application: `create_ui_app(node)` wires templates, sessions, security and pages.

It is a separate application from the federation server, served on `[ui] listen`; `praevnet serve`
runs both in one process over the same opened node.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning
from aiohttp_session import session_middleware

from node.home import Node
from node.transport.server_name import name_no_software
from web import formats, i18n
from web.auth import LIMITER, STORAGE, authentication, login_routes
from web.context import NODE, page_context
from web.errors import error_pages
from web.pages import routes as page_routes
from web.security import LoginLimiter, csrf_protection, security_headers
from web.sessions import MemoryStorage

HERE = Path(__file__).parent
STATIC = HERE / "static"
MAX_FORM = 2 * 1024 * 1024  # bytes: a record form with long texts fits many times over

# aiohttp-session and aiohttp-jinja2 keep state under plain string keys on the request, which aiohttp warns about
for _library in ("aiohttp_session", "aiohttp_jinja2"):
    warnings.filterwarnings("ignore", category=NotAppKeyWarning, module=_library)


def environment(app: web.Application) -> jinja2.Environment:
    """Set up Jinja2 for `app`: templates from web/templates, autoescaping, and gettext from web.i18n."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        context_processors=[page_context],
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["localtime"] = formats.localtime
    return env


def create_ui_app(node: Node) -> web.Application:
    """The officers' web interface for `node`: login, pages and static assets, on its own listener."""
    name_no_software()
    ui = node.config.ui
    storage = MemoryStorage(idle_timeout=ui.idle_timeout, secure=ui.url.startswith("https://"))
    app = web.Application(
        client_max_size=MAX_FORM,
        middlewares=[security_headers, session_middleware(storage), error_pages, csrf_protection, authentication],
    )
    app[NODE] = node
    app[STORAGE] = storage
    app[LIMITER] = LoginLimiter(ui.login_attempts, ui.login_window)
    environment(app)
    app.add_routes(login_routes)
    app.add_routes(page_routes())
    app.router.add_static("/static/", STATIC, name="static", append_version=True)
    return app
