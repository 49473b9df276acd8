"""Pull catch-up: fetching from a peer's outbox everything it shares with us since our cursor.

The cursor is the peer's, ascending and monotonic, and is stored only after the page it ends has
been ingested, so an interrupted pull resumes without loss. A pull runs at start, on a schedule,
on `praevnet sync`, and soon after a gap in a peer's chain was seen (`peers.catch_up`).

Every page must advance or end (protocol.wire.check_page_advances), and one pull from one peer fetches
at most `[delivery] pull_max_pages` pages in at most `pull_timeout` seconds; the next pull goes on from
the stored cursor. Pulls from different peers run side by side, so none waits for another. A failed
pull is shown in the peer's `last_error` ("pull: ..."), until a pull from it succeeds.
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
from node.store import now_text, rows, write
from node.transport.client import new_session, signed_request_bytes
from node.trust.peer_keys import KeyBook
from node.trust.peers import list_peers
from protocol.errors import ProtocolError
from protocol.wire import check_page_advances, page_remaining, parse_outbox_page

PAGE_SIZE = 500
PULL_ERROR = "pull: "
"""How a failed pull's message starts in the peer's last_error (after the time stamp)."""


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
    try:
        check_page_advances(cursor, envelopes, following, more)
    except ProtocolError as exc:
        raise PeerError(f"outbox page refused, {exc} ({peer['url']})") from None
    return envelopes, following, more, remaining


async def pull_from(
    node: Node, session: aiohttp.ClientSession, peer: dict[str, Any], progress: Progress | None = None
) -> dict[str, Any]:
    """Pull what the peer has for us, at most `pull_max_pages` pages in `pull_timeout` seconds; return the
    counts of accepted, duplicate and refused envelopes, the cursor, and `more` if the peer has more.

    While one page is verified (in worker processes when configured, node.exchange.verify_pool) the next is
    fetched; pages are stored strictly in order, each with its cursor. Raises PeerError, also shown in the
    peer's last_error, if the pull fails or takes too long; the pages stored by then stay.
    """
    settings = node.config.delivery
    try:
        async with asyncio.timeout(settings.pull_timeout):
            report = await _pull_pages(node, session, peer, progress)
    except TimeoutError:
        failure = PeerError(
            f"pull from {peer['url']} stopped after {settings.pull_timeout:g} s ([delivery] pull_timeout); "
            "the next pull goes on from where it stopped"
        )
        _record(node, peer["node_id"], str(failure))
        raise failure from None
    except PeerError as exc:
        _record(node, peer["node_id"], str(exc))
        raise
    _record(node, peer["node_id"], None)
    node.events.pulled(peer["node_id"], caught_up=not report["more"])
    return report


def _record(node: Node, peer_id: str, problem: str | None) -> None:
    """Show a failed pull in the peer's last_error, or clear the error of an earlier failed pull."""
    with write(node.db) as conn:
        if problem is not None:
            conn.execute(
                "UPDATE peers SET last_error = ? WHERE node_id = ?", (f"{now_text()} {PULL_ERROR}{problem}", peer_id)
            )
        else:
            conn.execute(
                "UPDATE peers SET last_error = NULL WHERE node_id = :peer"
                " AND substr(last_error, instr(last_error, ' ') + 1, length(:prefix)) = :prefix",  # after the stamp
                {"peer": peer_id, "prefix": PULL_ERROR},
            )


async def _pull_pages(
    node: Node, session: aiohttp.ClientSession, peer: dict[str, Any], progress: Progress | None
) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    found = rows(node.db, "SELECT pull_cursor FROM peers WHERE node_id = ?", (peer["node_id"],))
    if not found:
        raise PeerError(f"{peer['node_id']} is no longer a trusted peer")
    cursor = int(found[0]["pull_cursor"])
    workers = worker_count(node.config.delivery.verify_workers)
    depth = max(1, workers)
    received, fetched, more = 0, 1, True

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
                if more and fetched < node.config.delivery.pull_max_pages:
                    fetching = fetch(following)  # ask now, so the peer builds it while we verify this one
                    fetched += 1
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
    return {"peer": peer["node_id"], "name": peer["name"], "cursor": cursor, "more": more, **counts}


def catch_up_requested(node: Node) -> list[str]:
    """Peers in whose chain a gap was seen since the last pull from them."""
    return [row["node_id"] for row in rows(node.db, "SELECT node_id FROM peers WHERE catch_up = 1")]


def pullable_peers(node: Node, only: list[str] | None = None) -> list[dict[str, Any]]:
    """The trusted peers (or those in `only`) to pull from: all but the pull-only ones, which cannot be
    reached (they pull from us)."""
    return [peer for peer in list_peers(node) if not peer["pull_only"] and (only is None or peer["node_id"] in only)]


async def pull_one(
    node: Node, session: aiohttp.ClientSession, peer: dict[str, Any], progress: Progress | None = None
) -> dict[str, Any]:
    """pull_from, with a failure reported as `{"peer", "name", "error"}` instead of raised."""
    try:
        return await pull_from(node, session, peer, progress)
    except PeerError as exc:
        return {"peer": peer["node_id"], "name": peer["name"], "error": str(exc)}


async def pull_all(
    node: Node, session: aiohttp.ClientSession, progress: Progress | None = None, only: list[str] | None = None
) -> list[dict[str, Any]]:
    """Pull from every trusted peer (or those in `only`) at once; a failing, hanging or endless peer is
    reported and holds up no other (each pull is bounded by `pull_max_pages` and `pull_timeout`)."""
    return list(await asyncio.gather(*(pull_one(node, session, peer, progress) for peer in pullable_peers(node, only))))


async def sync(node: Node, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Pull now from every trusted peer, in a session of its own (`praevnet sync`); one report per peer."""
    async with new_session(node) as session:
        return await pull_all(node, session, progress)
