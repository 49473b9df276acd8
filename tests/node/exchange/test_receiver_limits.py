"""Receiver rules of issue #11, finding 14, against the real server: an alert that expired before it
arrived, a chunked body over 1 MiB, and a body that is not declared application/json.

Every refusal changes nothing: the whole database is dumped before and after and compared.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from pytest_aiohttp import AiohttpClient

from node.exchange.received import list_inbox
from node.home import Node
from node.networks.operator import create_network
from node.transport.auth import MAX_BODY, read_body
from node.users import ADMIN
from tests.conftest import FakePeer, alert_content, body_of
from tests.node.conftest import Served, refusal, stored

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def dump(node: Node) -> list[str]:
    """Every row of the node's database, as SQL."""
    return list(node.db.conn.iterdump())


def expired_alert(peer: FakePeer) -> dict[str, Any]:
    """A well-formed alert signed by `peer` whose `expires` lies a day in the past."""
    content = {key: value for key, value in alert_content(days=-1).items() if key != "internal_notes"}
    return peer.envelope(content, "alert", record_id="expired-alert-1")


# --- an alert that has already expired on arrival ---------------------------------------------------------


async def test_alert_expired_on_arrival_is_refused(served: Served, peer_b: FakePeer) -> None:
    alert = expired_alert(peer_b)
    good = peer_b.envelope()
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [alert, good]}))
    raw = await response.read()
    assert response.status == 200, raw
    results = json.loads(raw)["results"]
    assert [entry["status"] for entry in results] == ["refused", "accepted"]
    assert "alert expired at" in results[0]["reason"]
    assert alert["content"]["expires"] in results[0]["reason"]
    assert "before it arrived" in results[0]["reason"]
    assert stored(served.node) == (1, 1)
    assert served.node.db.execute("SELECT count(*) FROM inbox WHERE id = 'expired-alert-1'").fetchone()[0] == 0
    assert [entry["id"] for entry in list_inbox(served.node, include_lapsed=True)] == [good["id"]]


# --- a body of unknown length over 1 MiB -------------------------------------------------------------------


def chunked(size: int) -> AsyncIterator[bytes]:
    """`size` bytes of JSON whitespace, sent chunked (no Content-Length)."""

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, size, 65536):
            yield b" " * min(65536, size - start)

    return chunks()


@web.middleware
async def reading_first(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A middleware that reads the whole body before the handler does (as tests/node/federation.py's tap)."""
    await request.read()
    return await handler(request)


@pytest.mark.parametrize("read_before", [False, True], ids=["streamed", "read-by-a-middleware"])
async def test_chunked_body_over_the_limit_is_cut_off_by_read_body(
    aiohttp_client: AiohttpClient, read_before: bool
) -> None:
    """read_body enforces the limit itself, reading piece by piece, even where the application would
    allow (and read whole) a larger body; a body a middleware read before is measured as well."""
    seen: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(len(await read_body(request)))
        return web.Response(text="read")

    app = web.Application(client_max_size=64 * MAX_BODY, middlewares=[reading_first] if read_before else [])
    app.router.add_put("/body", handler)
    client = await aiohttp_client(app)
    headers = {"Content-Type": "application/json", "Signature": "x", "Signature-Input": "x"}
    response = await client.put("/body", data=chunked(2 * MAX_BODY), headers=headers)
    assert response.status == 413, await response.text()
    assert seen == []
    small = await client.put("/body", data=chunked(MAX_BODY), headers=headers)  # control: exactly 1 MiB is read
    assert small.status == 200
    assert seen == [MAX_BODY]


async def test_chunked_body_over_the_limit_is_refused_with_413(served: Served, peer_b: FakePeer) -> None:
    before = dump(served.node)
    body = b" " * (2 * MAX_BODY)
    headers = peer_b.signed_headers("PUT", served.url("/fed/v1/inbox/t1"), body)
    response = await served.client.put("/fed/v1/inbox/t1", data=chunked(len(body)), headers=headers)
    await refusal(response, 413, "too_large", "larger than", str(MAX_BODY))
    assert dump(served.node) == before


# --- a body that is not declared application/json ------------------------------------------------------------


async def send(
    served: Served, peer: FakePeer, method: str, path: str, body: bytes, content_type: str | None
) -> ClientResponse:
    """A request signed by `peer` whose Content-Type is `content_type` (None: no Content-Type at all)."""
    headers = peer.signed_headers(method, served.url(path), body)
    headers.pop("Content-Type", None)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await served.client.request(method, path, data=body, headers=headers, skip_auto_headers=["Content-Type"])


@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        ("text/plain", "'text/plain'"),
        ("application/x-www-form-urlencoded", "'application/x-www-form-urlencoded'"),
        ("application/octet-stream", "'application/octet-stream'"),
        (None, "no Content-Type"),
    ],
)
async def test_inbox_body_that_is_not_json_is_refused_with_415(
    served: Served, peer_b: FakePeer, content_type: str | None, named: str
) -> None:
    before = dump(served.node)
    body = body_of({"envelopes": [peer_b.envelope()]})
    response = await send(served, peer_b, "PUT", "/fed/v1/inbox/t1", body, content_type)
    await refusal(response, 415, "unsupported_media_type", "application/json", named)
    assert dump(served.node) == before


async def test_json_with_a_charset_parameter_is_accepted(served: Served, peer_b: FakePeer) -> None:
    """Control: the media type counts, not its parameters."""
    body = body_of({"envelopes": [peer_b.envelope()]})
    response = await send(served, peer_b, "PUT", "/fed/v1/inbox/t1", body, "application/json; charset=utf-8")
    assert response.status == 200, await response.read()
    assert stored(served.node) == (1, 1)


async def test_pair_body_that_is_not_json_is_refused_with_415(served: Served, peer_b: FakePeer) -> None:
    before = dump(served.node)
    body = body_of({"secret": "x", "descriptor": peer_b.descriptor()})
    response = await send(served, peer_b, "POST", "/fed/v1/pair", body, "text/plain")
    await refusal(response, 415, "unsupported_media_type", "application/json", "'text/plain'")
    assert dump(served.node) == before


async def test_descriptor_body_that_is_not_json_is_refused_with_415(served: Served, peer_b: FakePeer) -> None:
    before = dump(served.node)
    response = await send(served, peer_b, "PUT", "/fed/v1/descriptor", body_of(peer_b.descriptor()), "text/plain")
    await refusal(response, 415, "unsupported_media_type", "application/json", "'text/plain'")
    assert dump(served.node) == before


@pytest.mark.parametrize("endpoint", ["leave", "revocations", "peerings"])
async def test_network_body_that_is_not_json_is_refused_with_415(
    served: Served, peer_b: FakePeer, endpoint: str
) -> None:
    network = create_network(served.node, "DEFUS", by=ADMIN)["id"]
    before = dump(served.node)
    response = await send(served, peer_b, "POST", f"/fed/v1/networks/{network}/{endpoint}", b"{}", "text/plain")
    await refusal(response, 415, "unsupported_media_type", "application/json", "'text/plain'")
    assert dump(served.node) == before
