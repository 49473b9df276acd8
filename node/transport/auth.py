"""Checking a federation request's body, signature and freshness, and signing our answers.

A request's body must be JSON (Content-Type application/json) of at most 1 MiB, which is checked
before any of it is stored or held whole (415, 413). A request is accepted only with a fresh RFC
9421 signature by a key the caller resolves (the gate in node.exchange.gate resolves only keys of
trusted peers), covering method, authority, target URI and the body's digest, and with a nonce not
seen before within the signature's lifetime. The URI is rebuilt from this node's configured base
URL, so the check holds behind a reverse proxy. Every signature failure becomes a 401 that says why.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from aiohttp import web

from node.home import Node
from node.store import write
from protocol.errors import ProtocolError
from protocol.httpsig import (
    MAX_AGE,
    HttpRequest,
    HttpResponse,
    SignatureInfo,
    http_key_id,
    sign_response,
    verify_request,
)

MAX_BODY = 1024 * 1024
JSON = "application/json"
NONCE_SLACK = 10.0


class AuthError(web.HTTPUnauthorized):
    """401 with the reason in a JSON body (rendered by the error middleware)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason=None, text=reason)


def remember_nonce(node: Node, keyid: str, nonce: str, created: int) -> bool:
    """Record a (keyid, nonce) pair; False if it was seen before within its lifetime (a replay).

    Not waiting for the disk here saves a sync per request. A power cut in the next moment could
    lose the last pairs, letting a recorded request be replayed within its five minutes; every
    request that changes anything is idempotent (transaction ids, envelope identity), so a replay
    repeats an answer and changes nothing.
    """
    moment = time.time()
    expires = max(created, moment) + MAX_AGE.total_seconds() + NONCE_SLACK
    with write(node.db, durable=False) as conn:
        conn.execute("DELETE FROM nonces WHERE expires < ?", (moment,))
        try:
            conn.execute("INSERT INTO nonces (keyid, nonce, expires) VALUES (?, ?, ?)", (keyid, nonce, expires))
        except sqlite3.IntegrityError:
            return False
    return True


def target_url(node: Node, request: web.Request) -> str:
    """The absolute URL a peer used to reach us: our configured base URL plus the raw path and query."""
    return node.config.url + request.raw_path


def _within_limit(size: int) -> None:
    if size > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=size)


def check_headers(request: web.Request) -> None:
    """What the headers alone say about a /fed/ request, checked before any of its body is read: 413 if
    its declared Content-Length is over 1 MiB, 401 if it carries no signature, 415 if it has a body whose
    Content-Type is not application/json (parameters such as charset aside)."""
    if request.content_length is not None:
        _within_limit(request.content_length)
    if "Signature" not in request.headers or "Signature-Input" not in request.headers:
        raise AuthError("request is not signed: Signature and Signature-Input headers are required")
    if request.body_exists and request.content_type != JSON:
        declared = request.headers.get("Content-Type")
        named = f"Content-Type {declared!r}" if declared is not None else "no Content-Type"
        raise web.HTTPUnsupportedMediaType(text=f"the request body must be {JSON}, but the request has {named}")


async def read_body(request: web.Request) -> bytes:
    """The raw body of a signed /fed/ request, after `check_headers`: 413 above 1 MiB, 401 if it carries no
    signature, 415 unless it is JSON.

    A body without Content-Length (chunked) is read piece by piece and refused with 413 as soon as it
    passes 1 MiB, never held whole, whatever the application's own limit. A body that a middleware
    already read (aiohttp keeps it) is taken as read, and still refused above 1 MiB.
    """
    check_headers(request)
    if not request.can_read_body:
        body = await request.read()  # empty, or read before (request.read() returns it again)
        _within_limit(len(body))
        return body
    received = bytearray()
    async for chunk in request.content.iter_any():
        received.extend(chunk)
        _within_limit(len(received))
    return bytes(received)


def check_signature(
    node: Node, request: web.Request, body: bytes, resolve: Callable[[str, str], bytes | None]
) -> SignatureInfo:
    """Verify the request signature with `resolve`, then the nonce; 401 on any failure."""
    try:
        info = verify_request(request.method, target_url(node, request), request.headers.items(), body, resolve)
    except ProtocolError as exc:
        raise AuthError(str(exc)) from None
    if not remember_nonce(node, http_key_id(info.node_id, info.key_id), info.nonce, info.created):
        raise AuthError("replayed request: this nonce was already used")
    return info


def sign_answer(node: Node, request: web.Request, response: web.Response) -> None:
    """Sign a /fed/ answer, bound to the signed request it answers (left unsigned if it had no signature)."""
    if "Signature" not in request.headers:
        return
    body = response.body if isinstance(response.body, bytes) else b""
    req = HttpRequest(method=request.method, url=target_url(node, request), headers=dict(request.headers.items()))
    answer = HttpResponse(status_code=response.status, headers={}, request=req)
    try:
        sign_response(answer, body, node.key, node.node_id)
    except ProtocolError:  # a request whose signature header cannot even be parsed gets no signed answer
        return
    response.headers.update(answer.headers)
