"""Error pages: a refusal or a failure is shown as a page in the officer's language, never as a stack trace."""

from __future__ import annotations

import logging

import aiohttp_jinja2
from aiohttp import web

from web import i18n
from web.context import page_context
from web.i18n import N_
from web.security import Handler

log = logging.getLogger("praevnet.web")
TITLES = {
    400: N_("The request could not be processed"),
    401: N_("Please log in"),
    403: N_("Access denied"),
    404: N_("Page not found"),
    405: N_("This action is not possible here"),
    413: N_("The form is too large"),
    429: N_("Too many requests"),
    500: N_("Something went wrong"),
}


async def _page(request: web.Request, status: int, detail: str | None) -> web.Response:
    title = i18n.gettext(TITLES.get(status, TITLES[400] if status < 500 else TITLES[500]))
    context = {**await page_context(request), "status": status, "title": title, "detail": detail}
    return aiohttp_jinja2.render_template("error.html", request, context, status=status)


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn HTTP errors raised by handlers into pages; log unexpected failures and show a plain 500 page."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or request.path.startswith("/static/"):
            raise
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else None
        return await _page(request, exc.status, detail)
    except Exception:
        log.exception("web interface: %s %s failed", request.method, request.path)
        return await _page(request, 500, None)
