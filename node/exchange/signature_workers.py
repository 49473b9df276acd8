"""Ed25519 checks of a received batch in helper processes, while the node's process goes on with the batch.

The node prepares a batch (protocol.batch.prepare_each: parsing, hashes, encodings) and hands its
signature checks to these workers; meanwhile it stores the batch in a write transaction that it commits
only once every check has come back good (node.exchange.inbox). Each worker is a process of its own
reached over a pipe, written to and read from by the node's thread itself: no helper thread in the
node has to wait for the interpreter lock while the node is busy. A worker that dies is replaced on
the next batch, and its share of the checks runs in the node's process.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import pickle
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from protocol.envelope import SignatureCheck, run_checks

log = logging.getLogger("praevnet.verify")

SPLIT_FROM = 8
"""Batches with fewer envelopes than this are checked in the node's process (round trips cost more)."""

PART = 10
"""Envelopes prepared before their checks are handed over, so that workers start while the node prepares."""


def _serve(conn: Connection) -> None:
    """A worker's loop: read pickled checks, answer with the failures (index -> reason); end on EOF."""
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        checks: list[SignatureCheck] = pickle.loads(data)  # noqa: S301 - from the node that started this worker
        conn.send_bytes(pickle.dumps(run_checks(checks)))


class _Worker:
    """One worker process and the node's end of its pipe."""

    def __init__(self) -> None:
        ours, theirs = multiprocessing.Pipe(duplex=True)
        self.conn = ours
        self.process: BaseProcess = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(theirs,), name="praevnet-verify", daemon=True
        )
        self.process.start()
        theirs.close()

    def stop(self) -> None:
        self.conn.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()


class Pending:
    """The checks of one batch, handed to workers part by part with `add` as the node prepares them. Use it
    as a context manager: `failures()` waits for their outcome (running in the node's process what a dead
    worker left); leaving the block collects it if nobody asked, so no answer is left in a pipe."""

    def __init__(self, pool: SignatureWorkers, inline: bool) -> None:
        self.pool, self.inline = pool, inline
        self.parts: list[tuple[_Worker | None, int, list[SignatureCheck]]] = []
        self.handed = 0  # checks handed over so far
        self.outcome: dict[int, str] | None = None

    def __enter__(self) -> Pending:
        return self

    def __exit__(self, *_: object) -> None:
        self.failures()

    def add(self, checks: Sequence[SignatureCheck]) -> None:
        """Hand over the next checks (to the next worker in turn); return at once."""
        part, start = list(checks), self.handed
        self.handed += len(part)
        if not part:
            return
        worker = None if self.inline else self.pool.next_worker()
        if worker is not None:
            try:
                worker.conn.send_bytes(pickle.dumps(part))
            except OSError:
                self.pool.discard(worker)
                worker = None
        self.parts.append((worker, start, part))

    def failures(self) -> dict[int, str]:
        """Why each check that failed did, by its index among all the checks handed over."""
        if self.outcome is not None:
            return self.outcome
        failures: dict[int, str] = {}
        try:
            for worker, start, checks in self.parts:
                answer: dict[int, str] | None = None
                if worker is not None and worker in self.pool.workers:
                    try:
                        answer = pickle.loads(worker.conn.recv_bytes())  # noqa: S301 - our own worker's answer
                    except (EOFError, OSError, pickle.UnpicklingError):
                        self.pool.discard(worker)
                if answer is None:
                    answer = run_checks(checks)
                failures.update((start + index, why) for index, why in answer.items())
        finally:
            self.pool.lock.release()
        self.outcome = failures
        return failures


class SignatureWorkers:
    """Verification workers, started on first use; `count` 0 checks everything in the node's process."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.workers: list[_Worker] = []
        self.turn = 0
        self.lock = threading.Lock()  # one batch at a time: a pipe carries its questions and answers in order

    def begin(self, inline: bool = False) -> Pending:
        """Start handing over the checks of one batch (`inline`: check them in the node's process)."""
        self.lock.acquire()
        return Pending(self, inline or self.count < 1)

    def next_worker(self) -> _Worker | None:
        """The worker whose turn it is, started if need be; None if none can be started."""
        if len(self.workers) < self.count:
            try:
                self.workers.append(_Worker())
            except (OSError, RuntimeError) as exc:
                log.warning("could not start a verification worker (%s); checking in the node's process", exc)
                return None
        self.turn = (self.turn + 1) % len(self.workers)
        return self.workers[self.turn]

    def discard(self, worker: _Worker) -> None:
        """Forget a worker that failed (a new one is started when needed); its checks run in the node's process."""
        log.warning("a verification worker died; checking its signatures in the node's process")
        if worker in self.workers:
            self.workers.remove(worker)
        worker.stop()

    def stop(self) -> None:
        """Stop every worker."""
        for worker in self.workers:
            worker.stop()
        self.workers.clear()


_pool: SignatureWorkers | None = None


def begin(count: int, inline: bool = False) -> Pending:
    """Start handing the checks of one batch to the process's `count` workers (node.exchange.verify_pool's
    worker_count of the node's `verify_workers`), shared by the nodes of one process; `inline` for a batch
    too small to be worth the round trips."""
    global _pool
    if _pool is None or _pool.count != count:
        if _pool is not None:
            with _pool.lock:
                _pool.stop()
        _pool = SignatureWorkers(count)
    return _pool.begin(inline)


def shutdown() -> None:
    """Stop the workers (they are started again when needed)."""
    if _pool is not None:
        with _pool.lock:
            _pool.stop()


atexit.register(shutdown)
