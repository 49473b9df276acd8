"""node.wake: a commit that queues deliveries wakes the serving process at once, whichever process made it."""

from __future__ import annotations

import select
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from node import wake
from node.exchange.worker import Worker
from node.home import Node
from node.networks import relays
from node.sharing.records import add_record
from node.sharing.shares import share_record
from node.store import now_text, write
from node.users import ADMIN
from tests.conftest import RECORD, FakePeer
from tests.node.conftest import NodeFactory, eventually
from tests.node.federation import Federation

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux-only")

HOUR = 3600.0


def woken(listener: wake.Listener) -> int:
    """How many times `drain` called back: one per batch of waiting datagrams, 0 if none came.

    A wake-up is a local datagram, in the listener's queue by the time `sendto` returns, so there
    is nothing to wait for: whatever was sent is there already.
    """
    readable, _, _ = select.select([listener.sock], [], [], 0)
    if not readable:
        return 0
    calls: list[int] = []
    listener.drain(lambda: calls.append(1))
    return len(calls)


@pytest.fixture
def node_and_listener(make_node: NodeFactory) -> tuple[Node, FakePeer, wake.Listener]:
    node = make_node("Stadt A")
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    listener = wake.Listener.open(wake.database_of(node.db.conn))
    assert listener is not None
    return node, peer, listener


def test_nobody_listening_is_not_an_error(tmp_path: Path) -> None:
    assert wake.notify(tmp_path / "praevnet.db") is False


def test_the_address_is_per_database_file(tmp_path: Path) -> None:
    assert wake.address(tmp_path / "a" / "praevnet.db") != wake.address(tmp_path / "b" / "praevnet.db")
    assert wake.address(tmp_path / "a" / ".." / "a" / "praevnet.db") == wake.address(tmp_path / "a" / "praevnet.db")
    assert wake.address(tmp_path / "a.db").startswith("\0praevnet-wake-")


def test_one_listener_per_database(node_and_listener: tuple[Node, FakePeer, wake.Listener]) -> None:
    node, _, listener = node_and_listener
    try:
        assert wake.Listener.open(wake.database_of(node.db.conn)) is None  # a second serve polls instead
        assert wake.notify(wake.database_of(node.db.conn)) is True
        assert woken(listener) == 1
    finally:
        listener.close()
    assert wake.notify(wake.database_of(node.db.conn)) is False


def test_many_wake_ups_drain_into_one(node_and_listener: tuple[Node, FakePeer, wake.Listener]) -> None:
    node, _, listener = node_and_listener
    try:
        for _ in range(50):
            assert wake.notify(wake.database_of(node.db.conn))
        assert woken(listener) == 1
        assert woken(listener) == 0
    finally:
        listener.close()


def test_a_share_wakes_after_its_commit_and_nothing_else_does(
    node_and_listener: tuple[Node, FakePeer, wake.Listener],
) -> None:
    node, peer, listener = node_and_listener
    try:
        record_id = add_record(node, "experience", RECORD, by=ADMIN)  # stored locally, nothing queued
        assert woken(listener) == 0
        share_record(node, record_id, [peer.node_id], all_peers=False, by=ADMIN)
        assert woken(listener) == 1
    finally:
        listener.close()


def test_a_relay_queued_by_a_hub_wakes(node_and_listener: tuple[Node, FakePeer, wake.Listener]) -> None:
    node, peer, listener = node_and_listener
    origin = FakePeer("Stadt C", "http://127.0.0.1:10").node_id
    try:
        with write(node.db) as conn:
            relays.enqueue(conn, [origin], origin, 1, now_text())  # never back to its origin: nothing queued
        assert woken(listener) == 0
        with write(node.db) as conn:
            relays.enqueue(conn, [peer.node_id], origin, 1, now_text())
        assert woken(listener) == 1
    finally:
        listener.close()


def test_a_rolled_back_share_does_not_wake(node_and_listener: tuple[Node, FakePeer, wake.Listener]) -> None:
    node, _, listener = node_and_listener
    record_id = add_record(node, "experience", RECORD, by=ADMIN)

    def queue_then_fail() -> None:
        with write(node.db) as conn:
            wake.after_commit(conn)  # what node.sharing.shares.grant does
            raise RuntimeError("changed my mind")

    try:
        with pytest.raises(RuntimeError, match="changed my mind"):
            queue_then_fail()
        assert woken(listener) == 0
        with write(node.db) as conn:
            conn.execute("UPDATE records SET author = author WHERE id = ?", (record_id,))
        assert woken(listener) == 0  # a later commit that queues nothing does not fire the forgotten one
    finally:
        listener.close()


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    """Augsburg and Bonn on loopback; Augsburg's delivery loop looks at its queue only once an hour."""
    federation = Federation(tmp_path)
    a = await federation.add("augsburg", {"delivery": {"poll_interval": HOUR}})
    b = await federation.add("bonn")
    federation.pair(a, b)
    yield federation
    await federation.close()


async def test_a_share_from_another_process_goes_out_at_once(fed: Federation) -> None:
    """The CLI shares through its own connection; the server, polling hourly, delivers within moments."""
    a, b = fed.nodes["augsburg"], fed.nodes["bonn"]
    first = add_record(a, "experience", RECORD, by=ADMIN)
    share_record(a, first, [b.node_id], all_peers=False, by=ADMIN)  # queued before the server starts
    worker = Worker(a)
    await worker.start()
    cli = Node.open(a.home)  # a separate connection to the same database, as the CLI's
    try:
        # The loop's first look at the queue, at start, sends the first record; its next is an hour away.
        await eventually(lambda: in_inbox(b, first) and not worker.inflight, "the loop's first look at the queue")
        record_id = add_record(cli, "experience", RECORD, by=ADMIN)
        share_record(cli, record_id, [b.node_id], all_peers=False, by=ADMIN)
        await eventually(lambda: in_inbox(b, record_id), "the share from the CLI to reach Bonn")
    finally:
        cli.close()
        await worker.stop()
    assert b.db.execute("SELECT count(*) FROM inbox WHERE id = ?", (record_id,)).fetchone()[0] == 1
    assert [w.kind for w in fed.bytes_from(a) if w.receiver == b.node_id] == ["push", "push"]


def in_inbox(node: Node, record_id: str) -> bool:
    return node.db.execute("SELECT 1 FROM inbox WHERE id = ?", (record_id,)).fetchone() is not None
