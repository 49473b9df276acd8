"""Long pulls verified in worker processes (node.exchange.verify_pool): same result as verifying in the
node's own process, malformed pages refused whole, and a dead worker does not lose a page."""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import replace
from typing import Any

import pytest

from node import audit
from node.errors import PeerError
from node.exchange import verify_pool
from node.exchange.pull import pull_from
from node.exchange.received import list_inbox
from node.home import Node
from node.transport.client import new_session
from node.trust.peer_keys import KeyBook
from node.trust.peers import get_peer
from protocol.envelope import VerifiedEnvelope
from protocol.wire import outbox_page_body
from tests.node.conftest import NodeFactory, ServeOn, Two, count, pair
from tests.node.exchange.test_delivery import peer_state, raw_outbox, share
from tests.ports import hold_port


def workers(node: Node, number: int) -> None:
    node.config = replace(node.config, delivery=replace(node.config.delivery, verify_workers=number))


async def pull(receiver: Node, peer_id: str) -> dict[str, Any]:
    async with new_session(receiver) as session:
        return await pull_from(receiver, session, get_peer(receiver, peer_id))


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 20 envelopes, each verified in a worker: a 95-record pull then spans five pages."""
    monkeypatch.setattr("node.exchange.pull.PAGE_SIZE", 20)
    monkeypatch.setattr(verify_pool, "POOLED_FROM", 2)


@pytest.mark.usefixtures("small_pages")
async def test_a_pull_verified_in_worker_processes_stores_everything_once_in_order(
    two: Two, make_node: NodeFactory
) -> None:
    a, b = two.a.node, two.b.node
    c = make_node("Stadt C")
    pair(a, c)
    titles = [f"Bericht {n}" for n in range(95)]
    for title in titles:
        share(a, title, b.node_id, c.node_id)
    workers(b, 2)
    workers(c, 0)
    report = await pull(b, a.node_id)
    assert len(multiprocessing.active_children()) >= 2  # verified elsewhere, really
    assert report["accepted"] == 95
    assert [row[0] for row in b.db.execute("SELECT seq FROM inbox ORDER BY rowid")] == list(range(1, 96))
    assert sorted(e["content"]["title"] for e in list_inbox(b)) == sorted(titles)
    assert all(e["verified"] for e in list_inbox(b))
    assert peer_state(b, a.node_id)["pull_cursor"] == report["cursor"]
    assert audit.verify(b) == []
    received = [e for e in audit.per_record(audit.list_entries(b)) if e["action"] == "received"]
    assert len(received) == 95
    pages = b.db.execute("SELECT count(*) FROM audit WHERE action = 'received.batch'").fetchone()[0]
    assert 1 <= pages < 95  # one entry per pulled page
    inline = await pull(c, a.node_id)  # the same pull verified in the node's own process
    assert inline["accepted"] == 95
    stored = "SELECT origin, seq, ref, envelope FROM inbox ORDER BY seq"
    assert b.db.execute(stored).fetchall() == c.db.execute(stored).fetchall()
    again = await pull(b, a.node_id)
    assert "accepted" not in again
    assert count(b, "inbox") == 95


@pytest.mark.usefixtures("small_pages")
async def test_a_page_that_only_strict_parsing_refuses_stores_nothing(
    make_node: NodeFactory, serve_on: ServeOn
) -> None:
    port = hold_port()
    a = make_node("Stadt A", url=port.url)
    b = make_node("Stadt B")
    pair(a, b)
    share(a, "Bericht X", b.node_id)
    good = a.db.execute("SELECT envelope FROM envelopes").fetchone()[0]
    twice = good[:-1] + ',"id":"rec-duplicate-key"}'  # a duplicate key: lenient JSON keeps the last one
    body = outbox_page_body([good.encode(), twice.encode(), good.encode()], 3, False, 0)
    json.loads(body)  # what the puller reads first to ask for the next page accepts it
    workers(b, 2)
    await serve_on(raw_outbox(a, body), port)
    with pytest.raises(PeerError, match=r"refusing the answer.*duplicate key 'id'"):
        await pull(b, a.node_id)
    assert count(b, "inbox") == 0
    assert peer_state(b, a.node_id)["pull_cursor"] == 0


async def test_a_dead_worker_does_not_lose_the_page(two: Two, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = two.a.node, two.b.node
    monkeypatch.setattr(verify_pool, "POOLED_FROM", 1)
    share(a, "Bericht X", b.node_id)
    text = a.db.execute("SELECT envelope FROM envelopes").fetchone()[0].encode()
    body = outbox_page_body([text], 1, False, 0)
    keys = KeyBook.load(b.db.conn).table
    [first] = await verify_pool.verify_page(body, keys, 1, 2)
    dead = multiprocessing.active_children()
    assert dead  # the page went to worker processes
    for process in dead:
        process.kill()
        process.join()
    [again] = await verify_pool.verify_page(body, keys, 1, 2)  # the pool is broken: verified here instead
    assert isinstance(first, VerifiedEnvelope)
    assert again == first
    [later] = await verify_pool.verify_page(body, keys, 1, 2)  # and new workers are started next time
    assert later == first
    assert {process.pid for process in multiprocessing.active_children()} - {process.pid for process in dead}


def test_worker_count() -> None:
    assert verify_pool.worker_count(0) == 0
    assert verify_pool.worker_count(3) == 3
    assert verify_pool.worker_count(-1) >= 1
