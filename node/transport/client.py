"""The federation client: fetches descriptors and makes signed requests to peers.

Every request to /fed/ is signed with this node's key (RFC 9421) and every 2xx answer must carry a
valid signature by the peer's trusted key, bound to our request; anything else raises PeerError.
Timeouts come from the node's config, never from library defaults.
"""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from node.errors import PeerError
from node.home import Node
from node.store import now
from node.transport.resolver import key_resolver
from protocol.canonical import canonical_bytes, parse
from protocol.descriptor import normalize_base_url, verify_descriptor
from protocol.errors import ProtocolError
from protocol.httpsig import HttpRequest, sign_request, verify_response
from protocol.keys import NodeKey

MAX_DESCRIPTOR_BYTES = 64 * 1024
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
USER_AGENT = "praevnet/0.1"
STREAM_ABOVE = 1024 * 1024  # bodies larger than this are streamed (only refused oversized ones ever are)


class HttpFailure(PeerError):
    """A peer answered with an HTTP error status; `status` tells which."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def unreachable(where: str, exc: BaseException) -> PeerError:
    """The error for a peer that could not be reached, in words an officer reads: `cannot reach URL: reason`.

    The reason is short (connection refused, name not found, timed out, TLS certificate not
    accepted, ...), never the library's wording.
    """
    return PeerError(f"cannot reach {where}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        detail = getattr(exc.certificate_error, "verify_message", None) or exc.certificate_error
        return f"its TLS certificate was not accepted ({detail})"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "the TLS handshake failed"
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, socket.gaierror):
        return "its host name was not found"
    if isinstance(exc, aiohttp.ClientConnectorError):
        code = exc.os_error.errno
        return os.strerror(code).lower() if code else "the connection failed"
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError too
        return "no answer in time (timed out)"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "it closed the connection without answering"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "its answer was cut off"
    if isinstance(exc, aiohttp.InvalidURL):
        return "the URL is not valid"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno).lower()
    return "the connection failed"


def new_session(
    node: Node,
    *,
    within: float | None = None,
    trace_configs: list[aiohttp.TraceConfig] | None = None,
    connections: int | None = None,
) -> aiohttp.ClientSession:
    """An HTTP session with the node's configured timeouts, or at most `within` seconds each (quick checks);
    `trace_configs` are aiohttp's request hooks (the worker times its fan-outs with them), `connections` the
    most connections open at once (requests beyond wait for one; aiohttp's default is 100)."""
    settings = node.config.delivery
    request, connect = settings.request_timeout, settings.connect_timeout
    if within is not None:
        request, connect = min(request, within), min(connect, within)
    timeout = aiohttp.ClientTimeout(total=request, connect=connect, sock_read=request)
    return aiohttp.ClientSession(
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        auto_decompress=False,
        trace_configs=trace_configs,
        connector=aiohttp.TCPConnector(limit=connections) if connections is not None else None,
    )


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise PeerError(f"answer from {response.url} is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def fetch_descriptor(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """GET {url}/.well-known/praevnet and verify the descriptor's self-signature; raise PeerError."""
    try:
        base = normalize_base_url(url)
    except ProtocolError as exc:
        raise PeerError(str(exc)) from None
    target = f"{base}/.well-known/praevnet"
    try:
        async with session.get(target, allow_redirects=False) as response:
            body = await _read_limited(response, MAX_DESCRIPTOR_BYTES)
            if response.status != 200:
                raise PeerError(f"{target} answered HTTP {response.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise unreachable(target, exc) from None
    try:
        return verify_descriptor(parse(body), now=now())
    except ProtocolError as exc:
        raise PeerError(f"{target} served an unacceptable descriptor: {exc}") from None


async def signed_request(
    node: Node,
    session: aiohttp.ClientSession,
    peer: dict[str, Any],
    method: str,
    path: str,
    payload: Any = None,
    resolve: Callable[[str, str], bytes | None] | None = None,
    *,
    key: NodeKey | None = None,
) -> Any:
    """Send a signed request to a peer and return the verified, strictly parsed JSON answer.

    Signed with the node's current key, or with `key` (one of this node's own keys) where given.
    """
    answer = await signed_request_bytes(node, session, peer, method, path, payload, resolve, key=key)
    try:
        return parse(answer)
    except ProtocolError as exc:
        raise PeerError(f"refusing the answer from {peer['url'] + path}: {exc}") from None


async def signed_request_bytes(
    node: Node,
    session: aiohttp.ClientSession,
    peer: dict[str, Any],
    method: str,
    path: str,
    payload: Any = None,
    resolve: Callable[[str, str], bytes | None] | None = None,
    *,
    key: NodeKey | None = None,
) -> bytes:
    """Send a signed request to a peer and return the answer's body once its signature is verified
    (not yet parsed: the caller parses it strictly)."""
    request, status, headers, answer = await _exchange(node, session, peer, method, path, payload, key)
    if not 200 <= status < 300:
        raise HttpFailure(status, f"{request.url} answered HTTP {status}: {answer[:300].decode('utf-8', 'replace')}")
    try:
        verify_response(status, headers, answer, request, _only(node, peer, resolve))
        return answer
    except ProtocolError as exc:
        raise PeerError(f"refusing the answer from {request.url}: {exc}") from None


@dataclass(frozen=True)
class SignedAnswer:
    """A peer's answer to a signed request, whatever its status, with the time the peer signed it."""

    status: int
    body: bytes
    signed: datetime  # by the peer's clock


async def signed_answer(
    node: Node, session: aiohttp.ClientSession, peer: dict[str, Any], method: str, path: str, payload: Any = None
) -> SignedAnswer:
    """Send a signed request and return the peer's signed answer (an error status too), for comparing clocks.

    The answer must be signed by the peer and bound to our request, as every answer; only the time of
    its signature is not checked against ours. PeerError if it cannot be reached or the answer is not
    the peer's.
    """
    request, status, headers, answer = await _exchange(node, session, peer, method, path, payload, None)
    try:
        info = verify_response(status, headers, answer, request, _only(node, peer, None), fresh=False)
    except ProtocolError as exc:
        raise PeerError(f"refusing the answer from {request.url} (HTTP {status}): {exc}") from None
    return SignedAnswer(status, answer, datetime.fromtimestamp(info.created, UTC))


def _only(
    node: Node, peer: dict[str, Any], resolve: Callable[[str, str], bytes | None] | None
) -> Callable[[str, str], bytes | None]:
    """A key resolver that knows only `peer`'s keys (`resolve`, else the keys we hold for it)."""
    expected = peer["node_id"]
    lookup = resolve or key_resolver(node)

    def only_peer(node_id: str, key_id: str) -> bytes | None:
        return lookup(node_id, key_id) if node_id == expected else None

    return only_peer


async def _exchange(
    node: Node,
    session: aiohttp.ClientSession,
    peer: dict[str, Any],
    method: str,
    path: str,
    payload: Any,
    key: NodeKey | None,
) -> tuple[HttpRequest, int, list[tuple[str, str]], bytes]:
    """Sign and send a request; return it with the answer's status, headers and body (read up to the limit)."""
    url = peer["url"] + path
    body = canonical_bytes(payload) if payload is not None else b""
    request = HttpRequest(method=method, url=url, headers={})
    if payload is not None:
        request.headers["Content-Type"] = "application/json"
    sign_request(request, body, key or node.key, node.node_id)
    try:
        data = (io.BytesIO(body) if len(body) > STREAM_ABOVE else body) if payload is not None else None
        async with session.request(method, url, data=data, headers=request.headers, allow_redirects=False) as response:
            answer = await _read_limited(response, MAX_RESPONSE_BYTES)
            return request, response.status, [(k, v) for k, v in response.headers.items()], answer
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise unreachable(peer["url"], exc) from None
