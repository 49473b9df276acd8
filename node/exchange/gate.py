"""The gate of the federation endpoints: which trusted peer signed a request, following its key changes.

A request's signature is checked only with keys this node already holds (node.transport.resolver);
a peer that signs with a key we do not know yet may have rotated, so its descriptor is fetched once
and followed when a key we hold signed it. A peer trusted through a network must still be a current
member of it. A peer that talks to us leaves backoff at once.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from node.errors import NodeError, NotFound
from node.exchange.status import contacted
from node.home import Node
from node.networks.registry import membership_problem
from node.transport.auth import AuthError, check_signature, read_body
from node.transport.client import fetch_descriptor, new_session
from node.transport.resolver import key_resolver
from node.trust.peer_keys import apply_descriptor
from node.trust.peers import get_peer, peer_exists
from protocol.errors import ProtocolError

log = logging.getLogger("praevnet.auth")
REFRESH_INTERVAL = 60.0  # seconds: at most one descriptor fetch per peer caused by requests in this time
_last_refresh: dict[tuple[str, str], float] = {}


async def authenticate(node: Node, request: web.Request) -> tuple[dict[str, Any], bytes]:
    """Verify the request's signature and freshness; return the trusted peer and the raw body.

    A trusted peer that signs with a key we do not know yet may have rotated: we fetch its
    descriptor once, follow the rotation if its old key signed it, and check the request again.
    Such a request is not authenticated yet, so it causes at most one fetch per peer in
    REFRESH_INTERVAL: nobody can make this node send requests by sending it unsigned ones.
    """
    body = await read_body(request)
    resolve = key_resolver(node)
    unknown: list[str] = []

    def noting(node_id: str, key_id: str) -> bytes | None:
        found = resolve(node_id, key_id)
        if found is None and peer_exists(node, node_id):
            unknown.append(node_id)
        return found

    try:
        info = check_signature(node, request, body, noting)
    except AuthError:
        if not unknown or not _may_refresh(node, unknown[0]) or not await refresh_peer_keys(node, unknown[0]):
            raise
        info = check_signature(node, request, body, resolve)
    try:
        peer = get_peer(node, info.node_id)
    except NotFound:
        raise AuthError("the signing key does not belong to a trusted peer") from None
    if peer.get("network") is not None:
        problem = membership_problem(node, info.node_id, peer["network"])
        if problem is not None:
            raise AuthError(f"not accepted as a member of network {peer['network']}: {problem}")
    contacted(node, info.node_id)
    return peer, body


def _may_refresh(node: Node, peer_id: str) -> bool:
    """Whether a request naming an unknown key of `peer_id` may make us fetch its descriptor now."""
    moment = time.monotonic()
    last = _last_refresh.get((node.node_id, peer_id))
    if last is not None and moment - last < REFRESH_INTERVAL:
        return False
    _last_refresh[(node.node_id, peer_id)] = moment
    return True


async def refresh_peer_keys(node: Node, peer_id: str) -> bool:
    """Fetch a peer's descriptor and follow a key change it announces; False if nothing could be followed."""
    try:
        peer = get_peer(node, peer_id)
        async with new_session(node) as session:
            descriptor = await fetch_descriptor(session, peer["url"])
        if descriptor["node_id"] != peer_id:
            return False
        return apply_descriptor(node, descriptor) != "unchanged"
    except (NodeError, ProtocolError) as exc:
        log.info("could not follow a key change of %s: %s", peer_id, exc)
        return False
