"""Pull catch-up: fetching from a peer's outbox everything it shares with us since our cursor.

The cursor is the peer's, ascending and monotonic, and is stored only after the page it ends has
been ingested, so an interrupted pull resumes without loss. A pull runs at start, on a schedule,
on `praevnet sync`, and soon after a gap in a peer's chain was seen (`peers.catch_up`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp

from node.client import signed_request
from node.errors import PeerError
from node.home import Node
from node.ingest import ingest
from node.peers import list_peers
from node.store import rows, write
from protocol.errors import ProtocolError
from protocol.wire import page_remaining, parse_outbox_page

PAGE_SIZE = 200


Progress = Callable[[str, int, int], None]
"""progress(peer name, envelopes received so far, envelopes still to come) after every page."""


async def pull_from(
    node: Node, session: aiohttp.ClientSession, peer: dict[str, Any], progress: Progress | None = None
) -> dict[str, Any]:
    """Pull every page the peer has for us; return counts of accepted, duplicate and refused envelopes."""
    counts: Counter[str] = Counter()
    found = rows(node.db, "SELECT pull_cursor FROM peers WHERE node_id = ?", (peer["node_id"],))
    if not found:
        raise PeerError(f"{peer['node_id']} is no longer a trusted peer")
    cursor = int(found[0]["pull_cursor"])
    received = 0

    def fetch(since: int) -> asyncio.Task[Any]:
        path = f"/fed/v1/outbox?since={since}&limit={PAGE_SIZE}"
        return asyncio.ensure_future(signed_request(node, session, peer, "GET", path))

    pending = fetch(cursor)
    try:
        while True:
            answer = await pending
            try:
                envelopes, following, more = parse_outbox_page(answer)
                remaining = page_remaining(answer) or 0
            except ProtocolError as exc:
                raise PeerError(f"{peer['url']} sent a malformed outbox page: {exc}") from None
            if following < cursor or (envelopes and following == cursor):
                raise PeerError(f"{peer['url']} moved its cursor backwards")
            if more:  # ask for the next page now, so the peer builds it while we verify this one
                pending = fetch(following)
                await asyncio.sleep(0)
            if envelopes:
                for entry in ingest(node, peer["node_id"], envelopes)["results"]:
                    counts[entry["status"]] += 1
            with write(node.db) as conn:
                conn.execute(
                    "UPDATE peers SET pull_cursor = ?, catch_up = catch_up AND ? WHERE node_id = ?",
                    (following, int(more), peer["node_id"]),
                )
            cursor = following
            received += len(envelopes)
            if progress is not None:
                progress(peer["name"], received, remaining)
            if not more:
                break
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, PeerError):
                await pending
    return {"peer": peer["node_id"], "name": peer["name"], "cursor": cursor, **counts}


def catch_up_requested(node: Node) -> list[str]:
    """Peers in whose chain a gap was seen since the last pull from them."""
    return [row["node_id"] for row in rows(node.db, "SELECT node_id FROM peers WHERE catch_up = 1")]


async def pull_all(
    node: Node, session: aiohttp.ClientSession, progress: Progress | None = None, only: list[str] | None = None
) -> list[dict[str, Any]]:
    """Pull from every trusted peer (or those in `only`) at once; a failing or hanging peer is reported
    and holds up no other. Pull-only peers are skipped: they cannot be reached, they pull from us."""

    async def one(peer: dict[str, Any]) -> dict[str, Any]:
        try:
            return await pull_from(node, session, peer, progress)
        except PeerError as exc:
            return {"peer": peer["node_id"], "name": peer["name"], "error": str(exc)}

    peers = [peer for peer in list_peers(node) if not peer["pull_only"] and (only is None or peer["node_id"] in only)]
    return list(await asyncio.gather(*(one(peer) for peer in peers)))
