"""Server-side sessions: the browser holds only a random id; what it stands for stays in this process.

Logging out or timing out deletes the entry, so a copied cookie is worth nothing afterwards. Sessions
live in memory: a restart of `praevnet serve` logs everyone out, which is the safe direction.
"""

from __future__ import annotations

import json
import secrets
from collections import OrderedDict

from aiohttp import web
from aiohttp_session import AbstractStorage, Session

from node.clock import clock

COOKIE = "praevnet_session"
MAX_SESSIONS = 10_000  # the oldest are dropped beyond this, so anonymous visits cannot exhaust memory


class MemoryStorage(AbstractStorage):
    """Sessions in a dict keyed by a random id, ended after `idle_timeout` seconds without a request."""

    def __init__(self, *, idle_timeout: float, secure: bool) -> None:
        super().__init__(cookie_name=COOKIE, httponly=True, samesite="Strict", secure=secure, path="/")
        self.idle_timeout = idle_timeout
        self._data: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def _now(self) -> float:
        return clock.now().timestamp()

    async def load_session(self, request: web.Request) -> Session:
        """The session whose id the cookie names, if it exists and has not been idle too long."""
        key = self.load_cookie(request)
        entry = self._data.get(key) if isinstance(key, str) else None
        if key is None or entry is None or self._now() - entry[0] > self.idle_timeout:
            if isinstance(key, str):
                self._data.pop(key, None)
            return Session(None, data=None, new=True, max_age=None)
        self._data.move_to_end(key)
        return Session(key, data={"session": json.loads(entry[1])}, new=False, max_age=None)

    async def save_session(self, request: web.Request, response: web.StreamResponse, session: Session) -> None:
        """Store the session under its id (a new random one for a new or renewed session) and set the cookie."""
        if session.identity is not None:
            self._data.pop(session.identity, None)
        if session.empty:
            self.save_cookie(response, "", max_age=0)
            return
        if session.new or session.identity is None:
            session.set_new_identity(secrets.token_urlsafe(32))
        key = str(session.identity)
        self._data[key] = (self._now(), json.dumps(self._get_session_data(session)["session"]))
        while len(self._data) > MAX_SESSIONS:
            self._data.popitem(last=False)
        self.save_cookie(response, key, max_age=None)

    def forget_user(self, name: str) -> None:
        """End every session of user `name` (after the account was disabled or its password reset)."""
        for key, (_, data) in list(self._data.items()):
            if json.loads(data).get("user") == name:
                del self._data[key]

    def end(self, session: Session) -> None:
        """End `session` here, whatever its cookie says later (logout, and before a login renews the id)."""
        if session.identity is not None:
            self._data.pop(session.identity, None)
