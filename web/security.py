"""What every page gets: security headers, CSRF protection for every form, and the login rate limit.

The Content-Security-Policy allows nothing inline and nothing from elsewhere: styles, scripts, fonts
and images come from the node itself (KERN's icons are data: URIs inside its CSS).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_session import Session, get_session

from node.clock import clock
from web import i18n

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Add the security headers to every answer, errors included; pages are never cached."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(HEADERS)
        raise
    response.headers.update(HEADERS)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def csrf_token(session: Session) -> str:
    """The session's CSRF token, made when first needed; every form carries it in a hidden field."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


class CsrfRefused(web.HTTPForbidden):
    """A form was posted without the session's CSRF token, or from another origin."""


@web.middleware
async def csrf_protection(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse (403) any state-changing request whose form lacks the session's token or comes from elsewhere."""
    if request.method in SAFE_METHODS:
        return await handler(request)
    origin = request.headers.get("Origin")
    # With Referrer-Policy no-referrer, browsers send "Origin: null" on their own forms: the token decides then.
    if origin is not None and origin != "null" and urlsplit(origin).netloc != request.host:
        raise CsrfRefused(text=i18n.gettext("form refused: it was sent from another site"))
    session = await get_session(request)
    expected = session.get(CSRF_FIELD)
    form = await request.post()
    given = form.get(CSRF_FIELD)
    if not isinstance(expected, str) or not isinstance(given, str) or not hmac.compare_digest(expected, given):
        raise CsrfRefused(
            text=i18n.gettext("form refused: its security token is missing or out of date; reload the page")
        )
    return await handler(request)


def client_address(request: web.Request) -> str:
    """The client's address: the peer's, or the proxy's X-Forwarded-For when the peer is a proxy on loopback."""
    remote = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    try:
        from_loopback = ipaddress.ip_address(remote).is_loopback
    except ValueError:
        from_loopback = False
    if forwarded and from_loopback:
        return forwarded.split(",")[-1].strip()[:64] or remote
    return remote


class LoginLimiter:
    """Failed logins counted per user name and per client address within a sliding window."""

    def __init__(self, attempts: int, window: float) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        now = clock.now().timestamp()
        failures = self._failures[key]
        while failures and now - failures[0] > self.window:
            failures.popleft()
        return failures

    def blocked(self, user: str, address: str) -> bool:
        """Whether the user or the address has used up its attempts for now."""
        return any(len(self._recent(key)) >= self.attempts for key in (f"user:{user}", f"addr:{address}"))

    def failed(self, user: str, address: str) -> None:
        """Count a failed attempt against both the user and the address."""
        now = clock.now().timestamp()
        for key in (f"user:{user}", f"addr:{address}"):
            self._recent(key).append(now)

    def succeeded(self, user: str) -> None:
        """A correct login clears that user's count (the address keeps its own)."""
        self._failures.pop(f"user:{user}", None)
