"""Fixtures for end-to-end tests: real `praevnet serve` processes that never outlive a test."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node.home import init_home
from tests.e2e.helpers import HangingServer, RecordingProxy, ServedNode, run_parallel, shut_down
from tests.ports import hold_port


@pytest.fixture
def serve_nodes(tmp_path: Path) -> Iterator[Callable[..., list[ServedNode]]]:
    """Factory: serve_nodes("Stadt A", "Stadt B", ...) inits, serves and identifies one node per name.

    Each node gets its own home under tmp_path and a loopback port held for it (tests/ports.py).
    The nodes named in `proxied` sit behind a RecordingProxy on their URL's port. Every process
    and proxy started through the returned nodes is stopped (SIGTERM, then kill) when the test
    ends, pass or fail.
    """
    made: list[ServedNode] = []

    def factory(*names: str, proxied: tuple[str, ...] = ()) -> list[ServedNode]:
        nodes = [
            ServedNode(name=name, home=tmp_path / name.lower().replace(" ", "-"), held=hold_port()) for name in names
        ]
        made.extend(nodes)
        run_parallel(*(node.init_args() for node in nodes))
        for node in nodes:
            if node.name in proxied:
                node.behind = hold_port()
                node.proxy = RecordingProxy(node.held, node.behind.number)
            node.launch()
        identities = run_parallel(*(["id", "--home", str(node.home), "--json"] for node in nodes))
        for node, proc in zip(nodes, identities, strict=True):
            node.identity = json.loads(proc.stdout)
        for node in nodes:
            node.wait_ready()
        return nodes

    try:
        yield factory
    finally:
        shut_down(made)


@pytest.fixture
def new_nodes(tmp_path: Path) -> Iterator[Callable[..., list[ServedNode]]]:
    """Factory: new_nodes("Stadt A", ...) inits one node per name, each with its own home and port, not serving yet.

    Nodes named in `proxied` get a RecordingProxy on their URL's port (they listen behind it);
    nodes named in `unreachable` listen on another port than their URL's, where nothing listens.
    Configure them (ServedNode.configure), pair them, queue work, then `launch()` them. Every
    process and proxy of these nodes is stopped when the test ends, pass or fail.
    """
    made: list[ServedNode] = []

    def factory(*names: str, proxied: tuple[str, ...] = (), unreachable: tuple[str, ...] = ()) -> list[ServedNode]:
        nodes = []
        for name in names:
            node = ServedNode(name=name, home=tmp_path / name.lower().replace(" ", "-"), held=hold_port())
            made.append(node)
            nodes.append(node)
            if name in proxied or name in unreachable:
                node.behind = hold_port()
            init_home(node.home, name=name, url=node.url)
            with node.opened() as opened:
                node.identity = opened.identity()
            if name in proxied and node.behind is not None:
                node.proxy = RecordingProxy(node.held, node.behind.number)
        return nodes

    try:
        yield factory
    finally:
        shut_down(made)


@pytest.fixture
def hanging_server() -> Iterator[HangingServer]:
    """A loopback server that accepts connections and never answers; closed when the test ends."""
    server = HangingServer()
    try:
        yield server
    finally:
        server.close()
