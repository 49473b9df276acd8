"""One pool of verification workers (node.exchange.signature_workers) for pushed batches and pulled pages: never
more processes than `verify_workers`, a batch that finds every worker busy is checked in the node's process
with the same verdicts, and a job that fails in a worker fails in the node as it would have there."""

from __future__ import annotations

import logging
import multiprocessing
from typing import Any

import pytest

from node.exchange import signature_workers, verify_pool
from node.exchange.inbox import ingest
from node.trust.peer_keys import KeyBook
from protocol.envelope import VerifiedEnvelope
from protocol.keys import verify
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


@pytest.fixture
def checked_here(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The messages whose Ed25519 signatures the node's own process checks (the workers' are not seen here)."""
    seen: list[bytes] = []

    def counting(public: bytes, signature: bytes, message: bytes) -> None:
        seen.append(message)
        verify(public, signature, message)

    monkeypatch.setattr("protocol.envelope.verify", counting)
    return seen


def test_the_workers_check_a_batch_and_the_node_only_its_last_part(
    make_node: NodeFactory, checked_here: list[bytes]
) -> None:
    node = workers(make_node("Stadt A"), 2)
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    answer = ingest(node, peer.node_id, [peer.envelope() for _ in range(35)], "t1")
    assert {entry["status"] for entry in answer["results"]} == {"accepted"}
    assert len(checked_here) == 5  # envelopes 30 to 34; the workers' answers for the others are used
    checked_here.clear()
    ingest(node, peer.node_id, [peer.envelope() for _ in range(signature_workers.SPLIT_FROM - 1)], "t2")
    assert len(checked_here) == signature_workers.SPLIT_FROM - 1  # too small a batch to hand over


def test_a_node_that_cannot_start_workers_checks_everything_itself_and_says_why(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, checked_here: list[bytes]
) -> None:
    def refused(*_: Any) -> None:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(signature_workers._Worker, "__init__", refused)
    node = workers(make_node("Stadt A"), 2)
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    envelopes = [peer.envelope() for _ in range(20)]
    envelopes[13] = forged(envelopes[13])
    with caplog.at_level(logging.WARNING, logger="praevnet.verify"):
        answer = ingest(node, peer.node_id, envelopes, "t1")
    assert [entry["status"] == "refused" for entry in answer["results"]] == [index == 13 for index in range(20)]
    assert len(checked_here) == 20
    assert "could not start a verification worker (Resource temporarily unavailable)" in caplog.text
    assert verify_processes() == set()


async def test_a_page_that_finds_every_worker_busy_is_verified_in_the_node(two: Two) -> None:
    a, b = two.a.node, two.b.node
    share(a, "Bericht X", b.node_id)
    body = outbox_page_body([a.db.execute("SELECT envelope FROM envelopes").fetchone()[0].encode()], 1, False, 0)
    with signature_workers.begin(1) as busy:  # a pushed batch holds the one worker meanwhile
        assert busy.workers
        [page] = await verify_pool.verify_page(body, KeyBook.load(b.db.conn).table, verify_pool.POOLED_FROM, 1)
    assert isinstance(page, VerifiedEnvelope)
    assert len(verify_processes()) == 1
