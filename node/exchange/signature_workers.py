"""The node's verification workers: helper processes that check Ed25519 signatures while the node goes on.

One pool serves both ways envelopes arrive. For a pushed batch the node prepares the envelopes
(protocol.batch.prepare_each) and hands their checks over part by part (`begin`, `Pending`); meanwhile
it stores the batch in a write transaction that it commits only once every check has come back good
(node.exchange.inbox). For a pulled page, a worker parses and verifies the whole page (`call`, used by
node.exchange.verify_pool) while the node fetches the next one.

Each worker is a process of its own reached over a pipe, leased to one batch or page at a time. A
batch's pipes are written to and read from by the node's thread itself: no helper thread in the node
has to wait for the interpreter lock while the node is busy. A worker that dies is replaced when next
needed, and its share of the work runs in the node's process.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import multiprocessing
import pickle
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar, cast

from protocol.envelope import SignatureCheck, run_checks

log = logging.getLogger("praevnet.verify")

SPLIT_FROM = 8
"""Batches with fewer envelopes than this are checked in the node's process (round trips cost more)."""

PART = 10
"""Envelopes prepared before their checks are handed over, so that workers start while the node prepares."""

T = TypeVar("T")


def _serve(conn: Connection) -> None:
    """A worker's loop: read a pickled (function, arguments), answer (True, its result), or (False, None)
    if it raised (the node then runs it itself and sees the error); end on EOF."""
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        function, arguments = pickle.loads(data)  # noqa: S301 - from the node that started this worker
        try:
            answer = (True, function(*arguments))
        except Exception:
            answer = (False, None)
        conn.send_bytes(pickle.dumps(answer))


class _Lost(Exception):
    """A worker died, or its pipe broke, before it answered."""


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

    def send(self, function: Callable[..., Any], *arguments: Any) -> bool:
        """Ask the worker to run `function(*arguments)`; False if it cannot be reached."""
        try:
            self.conn.send_bytes(pickle.dumps((function, arguments)))
        except OSError:
            return False
        return True

    def answer(self) -> tuple[bool, Any]:
        """The worker's answer to what it was last sent: (True, result), or (False, None) if that raised.
        Raises _Lost if the worker died (or its pipe broke) instead."""
        try:
            done, result = pickle.loads(self.conn.recv_bytes())  # noqa: S301 - our own worker's answer
        except (EOFError, OSError, pickle.UnpicklingError):
            raise _Lost from None
        return bool(done), result

    @property
    def exitcode(self) -> int | None:
        """The process's exit code once it ended (negative: the signal that ended it)."""
        return self.process.exitcode

    def stop(self) -> None:
        self.conn.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()


class Pool:
    """The verification workers of this process, started when first needed and leased to one job at a time."""

    def __init__(self) -> None:
        self.workers: list[_Worker] = []
        self.idle: list[_Worker] = []
        self.lock = threading.Lock()  # guards the two lists: pulls lease workers from threads

    def lease(self, most: int, size: int) -> list[_Worker]:
        """Up to `most` idle workers, starting new ones while the pool has fewer than `size`; none if none can
        be had (all busy, or none could be started): the caller then does the work itself."""
        with self.lock:
            gone = [worker for worker in self.idle if not worker.process.is_alive()]
            for worker in gone:
                log.warning("a verification worker died while idle (exit code %s); starting another", worker.exitcode)
                self.idle.remove(worker)
                self.workers.remove(worker)
                worker.stop()
            taken, self.idle = self.idle[:most], self.idle[most:]
            while len(taken) < most and len(self.workers) < size:
                try:
                    worker = _Worker()
                except (OSError, RuntimeError) as exc:
                    log.warning("could not start a verification worker (%s); checking in the node's process", exc)
                    break
                self.workers.append(worker)
                taken.append(worker)
            return taken

    def give_back(self, worker: _Worker, alive: bool = True) -> None:
        """Return a leased worker; one that failed (`alive` False) is stopped and replaced when next needed."""
        with self.lock:
            if not alive:
                log.warning("a verification worker died; checking its signatures in the node's process")
                if worker in self.workers:
                    self.workers.remove(worker)
            elif worker in self.workers:
                self.idle.append(worker)
                return
        worker.stop()

    def stop(self) -> None:
        """Stop every worker (leased ones too: their answers are then worked out in the node's process)."""
        with self.lock:
            workers, self.workers, self.idle = self.workers, [], []
        for worker in workers:
            worker.stop()


class Pending:
    """The checks of one batch, handed to leased workers part by part with `add` as the node prepares them.
    Use it as a context manager: `failures()` waits for their outcome (running in the node's process what it
    kept and what a dead worker left); leaving the block collects it if nobody asked, so no answer is left in
    a pipe and every worker goes back to the pool."""

    def __init__(self, pool: Pool, workers: list[_Worker]) -> None:
        self.pool, self.workers = pool, workers
        self.parts: list[tuple[_Worker | None, int, list[SignatureCheck]]] = []
        self.handed = 0  # checks handed over so far
        self.turn = 0
        self.outcome: dict[int, str] | None = None

    def __enter__(self) -> Pending:
        return self

    def __exit__(self, *_: object) -> None:
        self.failures()

    def add(self, checks: Sequence[SignatureCheck], *, keep: bool = False) -> None:
        """Hand over the next checks (to the next leased worker in turn); return at once. With `keep`, or
        without workers, the node's process runs them itself when `failures` is asked, before it waits."""
        part, start = list(checks), self.handed
        self.handed += len(part)
        if not part:
            return
        worker = None
        if self.workers and not keep:
            worker = self.workers[self.turn % len(self.workers)]
            self.turn += 1
            if not worker.send(run_checks, part):
                self.workers.remove(worker)
                self.pool.give_back(worker, alive=False)
                worker = None
        self.parts.append((worker, start, part))

    def failures(self) -> dict[int, str]:
        """Why each check that failed did, by its index among all the checks handed over."""
        if self.outcome is not None:
            return self.outcome
        failures: dict[int, str] = {}
        dead: set[_Worker] = set()
        try:
            for worker, start, checks in sorted(self.parts, key=lambda part: part[0] is not None):
                answer: dict[int, str] | None = None  # the node's own parts first, while the workers finish
                if worker is not None and worker not in dead:
                    try:
                        done, answer = worker.answer()
                    except _Lost:
                        dead.add(worker)
                    else:
                        answer = answer if done else None
                if answer is None:
                    answer = run_checks(checks)
                failures.update((start + index, why) for index, why in answer.items())
        finally:
            for worker in self.workers:
                self.pool.give_back(worker, alive=worker not in dead)
            self.workers = []
        self.outcome = failures
        return failures


_pool = Pool()


def begin(count: int, inline: bool = False) -> Pending:
    """Start handing the checks of one batch to up to `count` workers (node.exchange.verify_pool's
    worker_count of the node's `verify_workers`); `inline` for a batch too small to be worth the round trips."""
    return Pending(_pool, [] if inline or count < 1 else _pool.lease(count, count))


async def call(count: int, function: Callable[..., T], *arguments: Any) -> T:
    """`function(*arguments)` run by one of up to `count` workers (a thread of the node waits for its answer,
    so the event loop goes on); by that thread itself if every worker is busy, or if the worker fails."""
    leased = _pool.lease(1, count)
    return await asyncio.to_thread(_round_trip, leased[0] if leased else None, function, arguments)


def _round_trip(worker: _Worker | None, function: Callable[..., T], arguments: tuple[Any, ...]) -> T:
    """Run in a thread of the node: `function(*arguments)` by `worker`, or here if there is none or it fails."""
    if worker is not None:
        try:
            if not worker.send(function, *arguments):
                raise _Lost
            done, result = worker.answer()
        except _Lost:
            _pool.give_back(worker, alive=False)
        else:
            _pool.give_back(worker)
            if done:
                return cast(T, result)
    return function(*arguments)


def shutdown() -> None:
    """Stop the workers (they are started again when needed)."""
    _pool.stop()


atexit.register(shutdown)
