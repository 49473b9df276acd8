"""Pairing with a peer by URL and fingerprint, or from its descriptor file.

`add_peer` opens its own HTTP session, for callers outside a running server (the CLI and the demo).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from node.errors import NodeError
from node.home import Node
from node.inputs import read_content_file
from node.store import now
from node.transport.client import fetch_descriptor, new_session
from node.trust.peers import check_fingerprint_text, trust_descriptor
from node.users import ADMIN, Actor
from protocol.descriptor import verify_descriptor
from protocol.errors import ProtocolError


async def add_peer(
    node: Node, url: str, expected_fingerprint: str, *, pull_only: bool = False, by: Actor = ADMIN
) -> dict[str, Any]:
    """Fetch and verify the descriptor at `url`, check its fingerprint, and trust the peer (audited as `by`)."""
    check_fingerprint_text(expected_fingerprint)
    async with new_session(node) as session:
        descriptor = await fetch_descriptor(session, url)
    return trust_descriptor(node, url, expected_fingerprint, descriptor, pull_only=pull_only, by=by)


def add_peer_from_file(
    node: Node, path: Path, expected_fingerprint: str, *, pull_only: bool = False, by: Actor = ADMIN
) -> dict[str, Any]:
    """Trust a peer from its descriptor file (`praevnet id --descriptor` on the other node).

    This pairs with a node that cannot be reached from here, typically one behind a firewall that
    only pulls (give pull_only). The fingerprint is checked exactly as for a fetched descriptor.
    """
    check_fingerprint_text(expected_fingerprint)
    descriptor = descriptor_from_file(path)
    return trust_descriptor(node, descriptor["url"], expected_fingerprint, descriptor, pull_only=pull_only, by=by)


def descriptor_from_file(path: Path) -> dict[str, Any]:
    """A node's self-signed descriptor read from a file (`praevnet id --descriptor`), verified."""
    try:
        return verify_descriptor(read_content_file(path), now=now())
    except ProtocolError as exc:
        raise NodeError(f"{path} is not an acceptable descriptor: {exc}") from None
