"""A test federation: real nodes with real servers on loopback, driven step by step, and a wire tap.

The tap is a middleware on every node's server that records the bytes that actually crossed the
wire: the body of every push a node received and the body of every outbox page it answered. What
a function returns is never taken as evidence of what left.
"""

from __future__ import annotations

import socket
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from aiohttp import web

from node.exchange.delivery import send_batch
from node.exchange.pull import pull_from
from node.exchange.server import create_app
from node.home import Node, init_home
from node.transport.client import new_session
from node.trust.peers import get_peer, trust_descriptor
from protocol.canonical import parse


@dataclass
class Wire:
    """One message between nodes as it crossed the wire."""

    sender: str  # node id of the node whose bytes these are
    receiver: str
    kind: str  # "push" or "pull"
    body: bytes

    def envelopes(self) -> list[dict[str, Any]]:
        """The envelopes inside the message."""
        value = parse(self.body)
        return list(value.get("envelopes", [])) if isinstance(value, dict) else []


@dataclass
class Federation:
    """Nodes with servers on free loopback ports; `wire` holds everything that crossed between them."""

    base: Path
    nodes: dict[str, Node] = field(default_factory=dict)
    runners: list[web.AppRunner] = field(default_factory=list)
    wire: list[Wire] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (receiver node id, path) of every request

    async def add(self, name: str, config: dict[str, dict[str, Any]] | None = None) -> Node:
        """Create a node called `name` (with `config` sections merged into its config) and start its server."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        home = self.base / name
        init_home(home, name=name, url=f"http://127.0.0.1:{sock.getsockname()[1]}")
        if config:
            path = home / "praevnet.toml"
            settings = tomllib.loads(path.read_text(encoding="utf-8"))
            for section, values in config.items():
                settings.setdefault(section, {}).update(values)
            path.write_text(tomli_w.dumps(settings), encoding="utf-8")
        node = Node.open(home)
        app = create_app(node, background=False)
        app.middlewares.insert(0, self._tap(node))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self.nodes[name] = node
        self.runners.append(runner)
        return node

    def _tap(self, node: Node) -> Callable[..., Awaitable[web.StreamResponse]]:
        @web.middleware
        async def tap(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            self.requests.append((node.node_id, request.path))
            body = await request.read()
            response = await handler(request)
            caller = _caller(request)
            if request.path.startswith("/fed/v1/inbox/"):
                self.wire.append(Wire(sender=caller, receiver=node.node_id, kind="push", body=body))
            elif request.path == "/fed/v1/outbox" and isinstance(response, web.Response):
                payload = response.body if isinstance(response.body, bytes) else b""
                self.wire.append(Wire(sender=node.node_id, receiver=caller, kind="pull", body=payload))
            return response

        return tap

    def pair(self, a: Node, b: Node) -> None:
        """Mutual trust, as two officers would set it up after comparing fingerprints."""
        trust_descriptor(a, b.config.url, b.fingerprint, b.descriptor())
        trust_descriptor(b, a.config.url, a.fingerprint, a.descriptor())

    async def deliver(self, node: Node) -> None:
        """Push everything `node` has queued (its own envelopes and relays), peer by peer, until empty or stuck."""
        async with new_session(node) as session:
            for _ in range(50):
                peers = [
                    r[0]
                    for r in node.db.execute(
                        "SELECT d.peer_id FROM deliveries d JOIN peers p ON p.node_id = d.peer_id "
                        "WHERE d.state = 'pending' UNION "
                        "SELECT r.peer_id FROM relays r JOIN peers p ON p.node_id = r.peer_id WHERE r.state = 'pending'"
                    )
                ]
                if not peers:
                    return
                sent = 0
                for peer_id in peers:
                    node.db.execute("UPDATE peers SET next_attempt = 0 WHERE node_id = ?", (peer_id,))
                    sent += await send_batch(node, session, peer_id)
                if not sent:
                    return

    async def pull(self, node: Node, from_node: Node) -> dict[str, Any]:
        """`node` pulls from `from_node`'s outbox."""
        async with new_session(node) as session:
            return await pull_from(node, session, get_peer(node, from_node.node_id))

    async def close(self) -> None:
        """Stop every server and close every database."""
        for runner in self.runners:
            await runner.cleanup()
        for node in self.nodes.values():
            node.close()

    def bytes_from(self, node: Node) -> list[Wire]:
        """Every message whose bytes came from `node`."""
        return [w for w in self.wire if w.sender == node.node_id]


def _caller(request: web.Request) -> str:
    text = request.headers.get("Signature-Input", "")
    start = text.find('keyid="')
    if start < 0:
        return "?"
    return text[start + 7 :].split("#", 1)[0]
