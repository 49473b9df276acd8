"""The federation endpoints for leaving a network, and for revocation lists and peering statements
pushed by its operator.

`POST /fed/v1/networks/{id}/leave` (at the operator, node.networks.leave), `POST
/fed/v1/networks/{id}/revocations` (at a member, node.networks.push) and `POST
/fed/v1/networks/{id}/peerings` (at a member, node.networks.peering). Each takes a signed request from
a trusted peer and answers, in this order: 401 if authentication fails, 400 for query parameters,
404 if this node does not operate (leave) or belong to (revocations, peerings) that network, 403 if
the requester is not a current member (leave) or not the network's operator (the pushes), and 400
for a body that is not acceptable. Nothing is stored unless the answer is 200. After a member left,
the operator pushes the new revocation list to the other members in the background; pushes still
running when the server stops are cancelled (the members learn of it at their next refresh).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from node.errors import NotFound, PolicyError
from node.exchange.gate import authenticate
from node.home import Node
from node.networks.leave import answer_leave
from node.networks.peering import receive_statement
from node.networks.push import push_revocations, receive_revocations
from node.transport.client import new_session
from protocol.canonical import canonical_bytes
from protocol.errors import ProtocolError

log = logging.getLogger("praevnet.networks")
Answer = Callable[[Node, str, dict[str, Any], bytes], dict[str, Any]]


class NetworkEndpoints:
    """The two handlers for one node, and the revocation pushes they started."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.pushes: set[asyncio.Task[None]] = set()

    async def _answer(self, request: web.Request, answer: Answer) -> tuple[str, dict[str, Any]]:
        peer, body = await authenticate(self.node, request)
        network_id = request.match_info["network"]
        try:
            if request.query:
                raise ProtocolError(f"unknown query parameter {sorted(request.query)[0]!r}")
            return network_id, answer(self.node, network_id, peer, body)
        except NotFound as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        except PolicyError as exc:
            raise web.HTTPForbidden(text=str(exc)) from None
        except ProtocolError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None

    async def leave(self, request: web.Request) -> web.Response:
        """POST /fed/v1/networks/{network}/leave: a member leaves; the others get the new list at once."""
        network_id, result = await self._answer(request, answer_leave)
        task = asyncio.create_task(self._push(network_id))
        self.pushes.add(task)
        task.add_done_callback(self.pushes.discard)
        return _json(result)

    async def revocations(self, request: web.Request) -> web.Response:
        """POST /fed/v1/networks/{network}/revocations: the operator pushes its newest revocation list."""
        _, result = await self._answer(request, receive_revocations)
        return _json(result)

    async def peerings(self, request: web.Request) -> web.Response:
        """POST /fed/v1/networks/{network}/peerings: the operator pushes a new peering statement."""
        _, result = await self._answer(request, receive_statement)
        return _json(result)

    async def _push(self, network_id: str) -> None:
        try:
            async with new_session(self.node) as session:
                report = await push_revocations(self.node, network_id, session)
        except Exception:
            log.exception("pushing the revocation list of %s", network_id)
            return
        for failed in report["failed"]:
            log.info("revocation list of %s not pushed to %s: %s", network_id, failed["node_id"], failed["reason"])

    async def settled(self) -> None:
        """Wait until the pushes started so far have finished."""
        while self.pushes:
            await asyncio.gather(*self.pushes, return_exceptions=True)

    async def background(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: on shutdown, cancel the pushes still running."""
        yield
        for task in list(self.pushes):
            task.cancel()
        for task in list(self.pushes):
            with contextlib.suppress(asyncio.CancelledError):
                await task


ENDPOINTS = web.AppKey("network_endpoints", NetworkEndpoints)


def _json(payload: Any) -> web.Response:
    return web.Response(body=canonical_bytes(payload), content_type="application/json")
