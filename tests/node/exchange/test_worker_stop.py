"""Stopping the background work (node.exchange.worker.Worker.stop), as `praevnet serve` does on SIGTERM.

The transaction in flight to a peer is given STOP_GRACE seconds to finish; one that does not is
handed back to the queue under its transaction id and is sent again, and deduplicated, after the
next start. Bonn's real server sits behind a gate that holds its inbox answers until the test lets
them go, so "in flight" is a state the test sees, not a moment it guesses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from node.exchange import worker as worker_module
from node.exchange.server import create_app
from node.exchange.worker import Worker
from node.home import Node
from node.sharing.records import add_record
from node.sharing.shares import share_record
from node.trust.peers import trust_descriptor
from node.users import ADMIN
from tests.node.conftest import NodeFactory, ServeOn, eventually
from tests.ports import hold_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RECORD = {"title": "Einbruchschutz im Quartier", "summary": "Beratung an der Haustür."}


@dataclass
class Gate:
    """Holds every inbox answer of Bonn until `open` is set; `arrived` counts the pushes that reached it."""

    open: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: list[str] = field(default_factory=list)


@dataclass
class Pair:
    """Augsburg, which pushes, and Bonn behind its gate."""

    a: Node
    b: Node
    gate: Gate


@pytest.fixture
async def pair(make_node: NodeFactory, serve_on: ServeOn) -> Pair:
    port = hold_port()
    b = make_node("Stadt B", url=port.url)
    a = make_node("Stadt A")
    trust_descriptor(a, b.config.url, b.fingerprint, b.descriptor())
    trust_descriptor(b, a.config.url, a.fingerprint, a.descriptor())
    gate = Gate()

    @web.middleware
    async def held(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.path.startswith("/fed/v1/inbox/"):
            gate.arrived.append(request.path)
            await gate.open.wait()
        return response

    app = create_app(b, background=False)
    app.middlewares.insert(0, held)
    await serve_on(app, port)
    return Pair(a, b, gate)


def share(node: Node, peer_id: str) -> str:
    """Add a record and share it with one peer; its id."""
    record_id = add_record(node, "experience", RECORD, by=ADMIN)
    share_record(node, record_id, [peer_id], all_peers=False, by=ADMIN)
    return record_id


def states(node: Node) -> list[tuple[str, str | None]]:
    """Each delivery's state and transaction id."""
    return [(row[0], row[1]) for row in node.db.execute("SELECT state, txn_id FROM deliveries ORDER BY id")]


def loops_stopped(worker: Worker) -> bool:
    """Whether stop() has ended the loops, so that it now waits for the sends in flight."""
    return bool(worker.tasks) and all(task.done() for task in worker.tasks)


async def test_a_transaction_in_flight_when_the_node_stops_finishes_within_the_grace(pair: Pair) -> None:
    share(pair.a, pair.b.node_id)
    worker = Worker(pair.a)
    await worker.start()
    await eventually(lambda: pair.gate.arrived, "Augsburg's push to reach Bonn")
    stopping = asyncio.create_task(worker.stop())
    await eventually(lambda: loops_stopped(worker), "the worker to stop its loops and wait for the send")
    assert not stopping.done()
    pair.gate.open.set()  # Bonn answers while Augsburg waits
    await stopping
    assert (worker.finished, worker.handed_back) == (1, 0)
    assert [state for state, _ in states(pair.a)] == ["delivered"]


async def test_a_transaction_still_in_flight_after_the_grace_is_handed_back_and_sent_after_a_restart(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "STOP_GRACE", 0.2)
    record_id = share(pair.a, pair.b.node_id)
    worker = Worker(pair.a)
    await worker.start()
    await eventually(lambda: pair.gate.arrived, "Augsburg's push to reach Bonn")
    await worker.stop()  # Bonn never answers in time
    assert (worker.finished, worker.handed_back) == (0, 1)
    [(state, txn_id)] = states(pair.a)
    assert state == "pending"
    assert txn_id is not None  # still claimed: the same transaction goes again

    pair.gate.open.set()
    again = Worker(pair.a)
    await again.start()
    try:
        await eventually(lambda: states(pair.a) == [("delivered", txn_id)], "the handed-back transaction to go again")
    finally:
        await again.stop()
    assert pair.gate.arrived == [f"/fed/v1/inbox/{txn_id}"] * 2
    held = pair.b.db.execute("SELECT id FROM inbox").fetchall()
    assert held == [(record_id,)]  # once, though it arrived twice
