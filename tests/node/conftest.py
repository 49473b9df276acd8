"""Helpers for node tests: a node served in-process, signed requests to it, and store counters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient

from node.exchange.server import create_app
from node.home import Node
from node.trust.peers import trust_descriptor
from tests.conftest import FakePeer
from tests.node.federation import Federation
from tests.ports import Port, hold_port

Client = TestClient[Any, Any]
NodeFactory = Callable[..., Node]
ServeOn = Callable[[web.Application, Port], Awaitable[TestServer]]
T = TypeVar("T")


@dataclass
class Served:
    """A node with its server running in-process (no background work) and a test client for it."""

    node: Node
    port: int
    client: Client

    def url(self, path: str) -> str:
        """The absolute URL a peer signs for `path` on this node."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def signed(
        self, peer: FakePeer, method: str, path: str, body: bytes = b"", **sign: Any
    ) -> tuple[ClientResponse, dict[str, str]]:
        """Send a request signed by `peer`; return the response and the headers that were sent."""
        headers = peer.signed_headers(method, self.url(path), body, **sign)
        response = await self.client.request(method, path, data=body or None, headers=headers)
        return response, headers

    async def put_inbox(
        self, peer: FakePeer, txn_id: str, body: bytes, **sign: Any
    ) -> tuple[ClientResponse, dict[str, str]]:
        """PUT a signed transaction to this node's inbox."""
        return await self.signed(peer, "PUT", f"/fed/v1/inbox/{txn_id}", body, **sign)


@pytest.fixture
async def serve_on() -> AsyncIterator[ServeOn]:
    """Factory: `await serve_on(app, port)` serves `app` in-process on the held port's socket; closed after the test.

    The server listens on the socket the test already holds (tests/ports.py), so the port named in a
    node's URL cannot be taken by another process before the server is up.
    """
    servers: list[TestServer] = []

    async def start(app: web.Application, port: Port) -> TestServer:
        server = TestServer(app, socket_factory=lambda *_: port.handover())
        await server.start_server()
        servers.append(server)
        return server

    yield start
    while servers:
        await servers.pop().close()


async def serve(
    node_name: str,
    make_node: NodeFactory,
    serve_on: ServeOn,
    aiohttp_client: AiohttpClient,
) -> Served:
    """Create a node on a held loopback port and serve it with background work switched off."""
    port = hold_port()
    node = make_node(node_name, url=port.url)
    server = await serve_on(create_app(node, background=False), port)
    client: Client = await aiohttp_client(server)
    return Served(node=node, port=port.number, client=client)


@pytest.fixture
async def served(make_node: NodeFactory, serve_on: ServeOn, aiohttp_client: AiohttpClient) -> Served:
    """Stadt A, served in-process."""
    return await serve("Stadt A", make_node, serve_on, aiohttp_client)


@pytest.fixture
def peer_b(served: Served) -> FakePeer:
    """Stadt B, trusted by the served node."""
    return FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(served.node)


def count(node: Node, table: str) -> int:
    """Rows in one table of the node's database."""
    assert table.isidentifier()
    return int(node.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def stored(node: Node) -> tuple[int, int]:
    """How many envelopes the inbox holds and how many inbound transactions were recorded."""
    return count(node, "inbox"), count(node, "inbound_txns")


async def refusal(response: ClientResponse, status: int, error: str, *words: str) -> str:
    """Assert a JSON error answer `{"error", "message"}` whose message names the problem; return the message."""
    raw = await response.read()
    assert response.status == status, raw
    assert response.content_type == "application/json"
    answer = json.loads(raw)
    assert set(answer) == {"error", "message"}
    assert answer["error"] == error
    message = answer["message"]
    assert isinstance(message, str)
    assert message
    for word in words:
        assert word.lower() in message.lower(), message
    return message


async def eventually(check: Callable[[], T | None], what: str, seconds: float = 20.0) -> T:
    """Let the event loop run until `check()` returns something truthy, and return it.

    `seconds` only guards against a hang (the test then fails naming `what`); it is no time limit
    on the behaviour, so it is generous.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not (value := check()):
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        await asyncio.sleep(0.01)
    return value


def pair(a: Node, b: Node) -> None:
    """Make each node trust the other, as two officers would after comparing fingerprints."""
    trust_descriptor(a, b.config.url, b.fingerprint, b.descriptor())
    trust_descriptor(b, a.config.url, a.fingerprint, a.descriptor())


@dataclass
class Two:
    """Two paired nodes, each served in-process."""

    a: Served
    b: Served


@pytest.fixture
async def two(make_node: NodeFactory, serve_on: ServeOn, aiohttp_client: AiohttpClient) -> Two:
    """Two paired nodes, Stadt A and Stadt B, each served in-process."""
    a = await serve("Stadt A", make_node, serve_on, aiohttp_client)
    b = await serve("Stadt B", make_node, serve_on, aiohttp_client)
    pair(a.node, b.node)
    return Two(a, b)


@pytest.fixture
async def federation(tmp_path: Path) -> AsyncIterator[Federation]:
    """A test federation of real nodes on loopback (tests/node/federation.py), closed afterwards."""
    fed = Federation(tmp_path)
    yield fed
    await fed.close()
