"""Fixtures for search tests: a node, a trusted peer that sends it records, and short ways to search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from node.exchange.inbox import ingest
from node.home import Node
from node.search.query import Filters, search
from tests.conftest import FakePeer
from tests.node.conftest import NodeFactory


@pytest.fixture
def node(make_node: NodeFactory) -> Node:
    return make_node("Stadt Augsburg")


@pytest.fixture
def bonn(node: Node) -> FakePeer:
    return FakePeer("Stadt Bonn", "http://127.0.0.1:9").trusted_by(node)


def receive(node: Node, peer: FakePeer, content: dict[str, Any], **envelope: Any) -> str:
    """`peer` sends `node` one envelope with `content`; return the record id. The node must accept it."""
    sent = peer.envelope(content, **envelope)
    answer = ingest(node, peer.node_id, [sent])
    assert answer["results"][0]["status"] == "accepted", answer
    return str(sent["id"])


def found(node: Node, query: str = "", **filters: Any) -> list[str]:
    """The ids of every hit of a search, best first."""
    return [hit["id"] for hit in search(node, query, Filters(**filters), limit=200)["hits"]]


def database_bytes(node: Node) -> bytes:
    """Every byte of the node's database file and its -wal and -shm files, as they are on disk now."""
    return b"".join(path.read_bytes() for path in sorted(Path(node.home).glob("praevnet.db*")))
