"""One pool of verification workers (node.exchange.signature_workers) for pushed batches and pulled pages: never
more processes than `verify_workers`, a batch that finds every worker busy is checked in the node's process
with the same verdicts, and a job that fails in a worker fails in the node as it would have there."""

from __future__ import annotations

import multiprocessing

import pytest

from node.exchange import signature_workers, verify_pool
from node.exchange.inbox import ingest
from node.trust.peer_keys import KeyBook
from protocol.envelope import VerifiedEnvelope
from protocol.wire import outbox_page_body
from tests.conftest import FakePeer
from tests.node.conftest import NodeFactory, Two, count
from tests.node.exchange.test_delivery import share
from tests.node.exchange.test_signature_workers import forged, workers


def verify_processes() -> set[int | None]:
    return {process.pid for process in multiprocessing.active_children() if process.name == "praevnet-verify"}


@pytest.fixture(autouse=True)
def fresh_pool() -> None:
    """Each test starts without workers (earlier tests may have started more than it allows)."""
    signature_workers.shutdown()


async def test_pulled_pages_and_pushed_batches_share_the_same_worker_processes(
    two: Two, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = workers(two.a.node, 2), workers(two.b.node, 2)
    monkeypatch.setattr(verify_pool, "POOLED_FROM", 1)
    share(a, "Bericht X", b.node_id)
    body = outbox_page_body([a.db.execute("SELECT envelope FROM envelopes").fetchone()[0].encode()], 1, False, 0)
    [page] = await verify_pool.verify_page(body, KeyBook.load(b.db.conn).table, 1, 2)
    assert isinstance(page, VerifiedEnvelope)
    after_pull = verify_processes()
    assert len(after_pull) == 1
    peer = FakePeer("Stadt C", "http://127.0.0.1:9").trusted_by(b)
    answer = ingest(b, peer.node_id, [peer.envelope() for _ in range(30)], "t1")
    assert {entry["status"] for entry in answer["results"]} == {"accepted"}
    assert after_pull < verify_processes()  # the page's worker checked pushed signatures too
    assert len(verify_processes()) == 2
    assert len(multiprocessing.active_children()) == 2  # and no second pool of processes exists


def test_a_batch_that_finds_every_worker_busy_is_checked_in_the_node_s_process(make_node: NodeFactory) -> None:
    node = workers(make_node("Stadt A"), 1)
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    ingest(node, peer.node_id, [peer.envelope() for _ in range(10)], "t1")  # starts the one worker
    started = verify_processes()
    envelopes = [peer.envelope() for _ in range(20)]
    envelopes[4] = forged(envelopes[4])
    with signature_workers.begin(1) as busy:  # a pulled page holds the worker meanwhile
        assert busy.workers
        answer = ingest(node, peer.node_id, envelopes, "t2")
    statuses = [entry["status"] for entry in answer["results"]]
    assert statuses == ["accepted"] * 4 + ["refused"] + ["accepted"] * 15
    assert answer["results"][4]["reason"] == "signature does not verify"
    assert count(node, "inbox") == 10 + 19
    assert verify_processes() == started  # no worker beyond the one allowed was started for it


async def test_a_job_that_raises_in_a_worker_raises_in_the_node_and_the_worker_stays() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        await signature_workers.call(1, int, "zwölf")
    started = verify_processes()
    assert len(started) == 1
    assert await signature_workers.call(1, int, "12") == 12
    assert verify_processes() == started
