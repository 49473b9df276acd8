"""Pull catch-up: fetching from a peer's outbox everything it shares with us since our cursor.

The cursor is the peer's, ascending and monotonic, and is stored only after the page it ends has
been ingested, so an interrupted pull resumes without loss. A pull runs at start, on a schedule,
on `praevnet sync`, and soon after a gap in a peer's chain was seen (`peers.catch_up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from node.errors import PeerError
from node.exchange.inbox import Checked, admit_and_store
from node.exchange.verify_pool import PageRefused, verify_page, worker_count
from node.home import Node
from node.store import rows, write
from node.transport.client import new_session, signed_request_bytes
from node.trust.peer_keys import KeyBook
from node.trust.peers import list_peers
from protocol.errors import ProtocolError
from protocol.wire import page_remaining, parse_outbox_page

PAGE_SIZE = 500


Progress = Callable[[str, int, int], None]
"""progress(peer name, envelopes received so far, envelopes still to come) after every page."""


@dataclass
class _Page:
    """An outbox page on its way: read loosely for its cursor, verified strictly (maybe elsewhere)."""

    envelopes: list[Any]
    following: int
    more: bool
    remaining: int
    checked: asyncio.Future[list[Checked]]


def _outline(body: bytes, peer: dict[str, Any], cursor: int) -> tuple[list[Any], int, bool, int]:
    """Envelopes, next cursor, more-flag and remaining count of a page, read quickly so that the next
    page can be asked for at once; the strict parse during verification must agree or the page fails."""
    try:
        page = json.loads(body)
        envelopes, following, more = parse_outbox_page(page)
        remaining = page_remaining(page) or 0
    except (ValueError, RecursionError, ProtocolError) as exc:
        raise PeerError(f"{peer['url']} sent a malformed outbox page: {exc}") from None
    if following < cursor or (envelopes and following == cursor):
        raise PeerError(f"{peer['url']} moved its cursor backwards")
    return envelopes, following, more, remaining


async def pull_from(
    node: Node, session: aiohttp.ClientSession, peer: dict[str, Any], progress: Progress | None = None
) -> dict[str, Any]:
    """Pull every page the peer has for us; return counts of accepted, duplicate and refused envelopes.

    While one page is verified (in worker processes when configured, node.exchange.verify_pool) the next is
    fetched; pages are stored strictly in order, each with its cursor.
    """
    counts: Counter[str] = Counter()
    found = rows(node.db, "SELECT pull_cursor FROM peers WHERE node_id = ?", (peer["node_id"],))
    if not found:
        raise PeerError(f"{peer['node_id']} is no longer a trusted peer")
    cursor = int(found[0]["pull_cursor"])
    workers = worker_count(node.config.delivery.verify_workers)
    depth = max(1, workers)
    received = 0

    def fetch(since: int) -> asyncio.Task[bytes]:
        path = f"/fed/v1/outbox?since={since}&limit={PAGE_SIZE}"
        return asyncio.ensure_future(signed_request_bytes(node, session, peer, "GET", path))

    async def verify(body: bytes, count: int) -> list[Checked]:
        try:
            return await verify_page(body, KeyBook.load(node.db.conn).table, count, workers)
        except PageRefused as exc:
            raise PeerError(f"refusing the answer from {peer['url']}: {exc}") from None

    fetching: asyncio.Task[bytes] | None = fetch(cursor)
    pages: deque[_Page] = deque()
    last = cursor
    try:
        while fetching is not None or pages:
            if fetching is not None and len(pages) < depth:
                body = await fetching
                fetching = None
                envelopes, following, more, remaining = _outline(body, peer, last)
                last = following
                if more:  # ask for the next page now, so the peer builds it while we verify this one
                    fetching = fetch(following)
                    await asyncio.sleep(0)
                checked = asyncio.ensure_future(verify(body, len(envelopes)))
                pages.append(_Page(envelopes, following, more, remaining, checked))
                continue
            done = [pages.popleft()]  # store every page verified by now in one transaction
            while pages and pages[0].checked.done():
                done.append(pages.popleft())
            envelopes = [envelope for page in done for envelope in page.envelopes]
            results = [item for page in done for item in await page.checked]
            following, more = done[-1].following, done[-1].more

            def move_cursor(conn: sqlite3.Connection, following: int = following, more: bool = more) -> None:
                conn.execute(
                    "UPDATE peers SET pull_cursor = ?, catch_up = catch_up AND ? WHERE node_id = ?",
                    (following, int(more), peer["node_id"]),
                )

            if envelopes:
                answer = admit_and_store(node, peer["node_id"], envelopes, results, then=move_cursor)
                counts.update(entry["status"] for entry in answer["results"])
            else:
                with write(node.db) as conn:
                    move_cursor(conn)
            cursor = following
            received += len(envelopes)
            if progress is not None:
                progress(peer["name"], received, done[-1].remaining)
    finally:
        waiting = [task for task in (fetching, *(page.checked for page in pages)) if task is not None]
        for task in waiting:
            task.cancel()
        for task in waiting:
            with contextlib.suppress(asyncio.CancelledError, PeerError):
                await task
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


async def sync(node: Node, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Pull now from every trusted peer, in a session of its own (`praevnet sync`); one report per peer."""
    async with new_session(node) as session:
        return await pull_all(node, session, progress)
