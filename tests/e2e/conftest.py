"""Fixtures for end-to-end tests: real `praevnet serve` processes that never outlive a test."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.helpers import RecordingProxy, ServedNode, run_parallel


@pytest.fixture
def serve_nodes(tmp_path: Path) -> Iterator[Callable[..., list[ServedNode]]]:
    """Factory: serve_nodes("Stadt A", "Stadt B", ...) inits, serves and identifies one node per name.

    Each node gets its own home under tmp_path and a free loopback port. The nodes named in
    `proxied` sit behind a RecordingProxy on their URL's port. Every process and proxy started
    through the returned nodes is stopped (SIGTERM, then kill) when the test ends, pass or fail.
    """
    made: list[ServedNode] = []

    def factory(*names: str, proxied: tuple[str, ...] = ()) -> list[ServedNode]:
        nodes = [
            ServedNode(name=name, home=tmp_path / name.lower().replace(" ", "-"), port=free_port()) for name in names
        ]
        made.extend(nodes)
        run_parallel(*(node.init_args() for node in nodes))
        for node in nodes:
            if node.name in proxied:
                node.listen_port = free_port()
                node.proxy = RecordingProxy(node.port, node.listen_port)
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
        for node in made:
            node.stop()
        for node in made:
            if node.proxy is not None:
                node.proxy.close()
