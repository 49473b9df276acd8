"""Finding 3 of issue #11, "a trusted peer can stop all pulling": every page must advance or end, each peer's
pull is bounded in pages and in time, and one peer's pull holds up no other (pull_all, sync, the worker).

The hostile peers are real aiohttp servers on loopback that answer with properly signed outbox pages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from aiohttp import web

from node.config import DeliveryConfig, parse_config
from node.errors import NodeError
from node.exchange.delivery import record_failure
from node.exchange.inbox import ingest
from node.exchange.pull import PAGE_SIZE, sync
from node.exchange.status import peer_status
from node.exchange.worker import Worker
from node.home import Node
from protocol.canonical import canonical_bytes
from protocol.httpsig import HttpRequest, HttpResponse, sign_response
from tests.conftest import FakePeer
from tests.node.conftest import NodeFactory, ServeOn, count, eventually
from tests.ports import hold_port

Page = Callable[[int, int], Awaitable[dict[str, Any]]]
"""page(since, limit) -> the outbox page a peer answers with."""

NODE = '[node]\nname = "Stadt A"\nurl = "https://praevnet.a.example"\n'


async def pulled(node: Node) -> list[dict[str, Any]]:
    """`sync(node)`, guarded against a hang: 60 s is no limit on the behaviour, only a failure instead of none."""
    try:
        async with asyncio.timeout(60.0):
            return await sync(node)
    except TimeoutError:
        raise AssertionError("sync did not return: a peer held it up") from None


@dataclass
class Outbox:
    """A FakePeer's outbox on loopback, every answer signed by the peer: its `chain` as honest pages (cursor =
    position), or whatever `page` answers."""

    peer: FakePeer
    chain: list[dict[str, Any]] = field(default_factory=list)
    page: Page | None = None
    requests: list[int] = field(default_factory=list)

    async def honest(self, since: int, limit: int) -> dict[str, Any]:
        found = self.chain[since : since + limit]
        rest = len(self.chain) - since - len(found)
        return {"envelopes": found, "next": since + len(found), "more": rest > 0, "remaining": rest}

    async def handle(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        self.requests.append(since)
        body = canonical_bytes(await (self.page or self.honest)(since, int(request.query.get("limit", "100"))))
        response = web.Response(body=body, content_type="application/json")
        sent = HttpRequest(request.method, self.peer.url + request.raw_path, dict(request.headers.items()))
        signed = HttpResponse(status_code=200, headers={}, request=sent)
        sign_response(signed, body, self.peer.key, self.peer.node_id)
        response.headers.update(signed.headers)
        return response


async def stuck(since: int, limit: int) -> dict[str, Any]:
    """An empty page that says more follows but leaves the cursor where it was: asked again, the same."""
    return {"envelopes": [], "next": since, "more": True, "remaining": 1}


async def endless(since: int, limit: int) -> dict[str, Any]:
    """Empty pages that advance by one, forever."""
    return {"envelopes": [], "next": since + 1, "more": True, "remaining": 1}


async def hangs(since: int, limit: int) -> dict[str, Any]:
    """Never answers."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def peer_serving(node: Node, serve_on: ServeOn, name: str, page: Page | None = None) -> Outbox:
    """A peer trusted by `node`, serving `page` (by default an honest chain of three envelopes)."""
    port = hold_port()
    peer = FakePeer(name, port.url).trusted_by(node)
    outbox = Outbox(peer, [] if page else [peer.envelope() for _ in range(3)], page)
    app = web.Application()
    app.router.add_get("/fed/v1/outbox", outbox.handle)
    await serve_on(app, port)
    return outbox


def configure(node: Node, **delivery: Any) -> None:
    node.config = replace(node.config, delivery=replace(DeliveryConfig(verify_workers=0), **delivery))


def status_of(node: Node, peer: FakePeer) -> dict[str, Any]:
    [found] = [entry for entry in peer_status(node) if entry["node_id"] == peer.node_id]
    return found


def by_name(reports: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {report["name"]: report for report in reports}


async def test_a_trusted_peer_cannot_stop_all_pulling_with_a_page_that_does_not_advance(
    make_node: NodeFactory, serve_on: ServeOn
) -> None:
    node = make_node("Stadt A")
    configure(node)
    good = await peer_serving(node, serve_on, "Stadt G")
    hostile = await peer_serving(node, serve_on, "Stadt H", stuck)

    reports = by_name(await pulled(node))

    assert reports["Stadt G"]["accepted"] == 3
    assert count(node, "inbox") == 3  # the good peer's records, and nothing from the hostile one
    assert "does not advance" in reports["Stadt H"]["error"]
    assert hostile.requests == [0]  # refused at the first such page, not asked again
    status = status_of(node, hostile.peer)
    assert "does not advance" in status["last_error"]
    assert status["our_cursor_in_their_outbox"] == 0
    assert status_of(node, good.peer)["last_error"] is None


async def test_a_trusted_peer_cannot_stop_all_pulling_with_endless_pages(
    make_node: NodeFactory, serve_on: ServeOn
) -> None:
    node = make_node("Stadt A")
    configure(node, pull_max_pages=5)
    await peer_serving(node, serve_on, "Stadt G")
    hostile = await peer_serving(node, serve_on, "Stadt H", endless)

    reports = by_name(await pulled(node))

    assert reports["Stadt G"]["accepted"] == 3
    assert (reports["Stadt H"]["cursor"], reports["Stadt H"]["more"]) == (5, True)  # stopped after five pages
    assert hostile.requests == [0, 1, 2, 3, 4]
    assert status_of(node, hostile.peer)["our_cursor_in_their_outbox"] == 5  # the next run goes on from here


async def test_a_trusted_peer_cannot_stop_all_pulling_by_never_answering(
    make_node: NodeFactory, serve_on: ServeOn
) -> None:
    node = make_node("Stadt A")
    configure(node, request_timeout=3600.0, pull_timeout=0.5)  # the pull's bound ends it, not the request's
    await peer_serving(node, serve_on, "Stadt G")
    hostile = await peer_serving(node, serve_on, "Stadt H", hangs)

    reports = by_name(await pulled(node))

    assert reports["Stadt G"]["accepted"] == 3
    assert hostile.requests == [0]
    assert "pull_timeout" in reports["Stadt H"]["error"]
    assert "pull_timeout" in status_of(node, hostile.peer)["last_error"]
    assert count(node, "inbox") == 3


async def test_a_trusted_peer_cannot_stop_all_pulling_in_the_worker(make_node: NodeFactory, serve_on: ServeOn) -> None:
    """A peer whose pull hangs holds up neither the scheduled nor the catch-up pulls from the others."""
    node = make_node("Stadt A")
    configure(node, request_timeout=3600.0, pull_timeout=3600.0)
    good = await peer_serving(node, serve_on, "Stadt G")
    hostile = await peer_serving(node, serve_on, "Stadt H", hangs)
    worker = Worker(node)
    await worker.start()
    try:
        await eventually(lambda: count(node, "inbox") == 3, "the good peer's records")
        await eventually(lambda: hostile.requests, "the pull from the hostile peer")  # it hangs from now on
        good.chain += [good.peer.envelope(), good.peer.envelope()]
        ingest(node, good.peer.node_id, [good.chain[4]])  # pushed: seq 5 without seq 4, a gap to catch up
        await eventually(lambda: count(node, "inbox") == 5, "the catch-up pull from the good peer")
    finally:
        await worker.stop()


async def test_the_pages_before_one_that_does_not_advance_stay_and_nothing_of_it_is_stored(
    make_node: NodeFactory, serve_on: ServeOn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("node.exchange.pull.PAGE_SIZE", 3)
    node = make_node("Stadt A")
    configure(node)
    hostile = await peer_serving(node, serve_on, "Stadt H")
    hostile.chain += [hostile.peer.envelope() for _ in range(3)]
    honest = hostile.honest

    async def then_stuck(since: int, limit: int) -> dict[str, Any]:
        if since == 0:
            return await honest(since, limit)  # three envelopes, next 3, more
        return {**await honest(since, limit), "next": since}  # three more envelopes, but next stays

    hostile.page = then_stuck
    [report] = await pulled(node)
    assert "does not advance past since 3 although the page holds envelopes" in report["error"]
    assert count(node, "inbox") == 3
    status = status_of(node, hostile.peer)
    assert status["our_cursor_in_their_outbox"] == 3
    assert "does not advance" in status["last_error"]

    hostile.page = None  # mended: the next pull goes on from 3, and the error goes
    [report] = await pulled(node)
    assert (report["accepted"], report["cursor"], report["more"]) == (3, 6, False)
    assert status_of(node, hostile.peer)["last_error"] is None


async def test_a_pull_that_succeeds_leaves_a_delivery_error_standing(make_node: NodeFactory, serve_on: ServeOn) -> None:
    node = make_node("Stadt A")
    configure(node)
    peer = await peer_serving(node, serve_on, "Stadt G")
    record_failure(node, peer.peer.node_id, "cannot reach the inbox")
    [report] = await pulled(node)
    assert report["accepted"] == 3
    assert "cannot reach the inbox" in status_of(node, peer.peer)["last_error"]


async def test_a_long_catch_up_goes_on_across_pulls(
    make_node: NodeFactory, serve_on: ServeOn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("node.exchange.pull.PAGE_SIZE", 3)
    node = make_node("Stadt A")
    configure(node, pull_max_pages=2)
    peer = await peer_serving(node, serve_on, "Stadt G")
    peer.chain += [peer.peer.envelope() for _ in range(7)]  # ten envelopes: four pages of three
    first = (await pulled(node))[0]
    assert (first["accepted"], first["cursor"], first["more"]) == (6, 6, True)
    second = (await pulled(node))[0]
    assert (second["accepted"], second["cursor"], second["more"]) == (4, 10, False)
    assert peer.requests == [0, 3, 6, 9]
    assert count(node, "inbox") == 10


def test_the_default_bounds_let_a_catch_up_of_100000_records_finish_in_one_pull() -> None:
    """bench/catchup pulls 100,000 records in pages of 500 in under 20 s (17.8 s measured with these defaults);
    the default bounds allow 1000 pages and ten times the target's time, so such a catch-up is not cut short."""
    defaults = DeliveryConfig()
    assert defaults.pull_max_pages * PAGE_SIZE >= 100_000
    assert defaults.pull_timeout >= 10 * 20


def test_pull_bounds_are_read_from_the_delivery_section() -> None:
    config = parse_config(NODE + "[delivery]\npull_max_pages = 7\npull_timeout = 30\n")
    assert (config.delivery.pull_max_pages, config.delivery.pull_timeout) == (7, 30.0)


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("pull_max_pages = 0", "delivery.pull_max_pages = 0: must be a whole number from 1 to 1000000"),
        ("pull_max_pages = 1000001", "delivery.pull_max_pages = 1000001: must be a whole number from 1 to 1000000"),
        ("pull_max_pages = 2.5", "delivery.pull_max_pages = 2.5: must be a whole number"),
        ("pull_timeout = 0", "delivery.pull_timeout = 0: must be more than 0"),
        ("pull_timeout = -1.0", "delivery.pull_timeout = -1.0: must be more than 0"),
        ("pull_timeout = 86401", "delivery.pull_timeout = 86401: must be more than 0 and at most 86400"),
        ("pull_timeout = 'lange'", 'delivery.pull_timeout = "lange": must be a number'),
    ],
)
def test_pull_bounds_out_of_range_are_refused(setting: str, problem: str) -> None:
    with pytest.raises(NodeError, match=problem):
        parse_config(NODE + f"[delivery]\n{setting}\n")
