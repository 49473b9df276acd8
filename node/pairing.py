"""Pairing with a peer by URL and fingerprint, and pulling from all peers on demand.

Async entry points that open their own HTTP session, for callers outside a running server (the
CLI and the demo).
"""

from __future__ import annotations

from typing import Any

from node.client import fetch_descriptor, new_session
from node.home import Node
from node.peers import check_fingerprint_text, trust_descriptor
from node.pull import pull_all


async def add_peer(node: Node, url: str, expected_fingerprint: str) -> dict[str, Any]:
    """Fetch and verify the descriptor at `url`, check its fingerprint, and trust the peer."""
    check_fingerprint_text(expected_fingerprint)
    async with new_session(node) as session:
        descriptor = await fetch_descriptor(session, url)
    return trust_descriptor(node, url, expected_fingerprint, descriptor)


async def sync(node: Node) -> list[dict[str, Any]]:
    """Pull now from every trusted peer; one report per peer."""
    async with new_session(node) as session:
        return await pull_all(node, session)
