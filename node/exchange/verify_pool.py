"""Verifying pulled outbox pages in worker processes, so that a long catch-up uses every core.

Threads of the node's process would not help. libsodium lets go of the interpreter lock while it checks
a signature, but a thread must take the lock back between two checks, and while the event loop's thread
runs Python it hands the lock over only every 5 ms (the switch interval): beside a busy loop, such a
thread got through about 190 checks/s, where one core does about 17,000/s. So the node's verification
workers (node.exchange.signature_workers, the same processes that check pushed batches) verify whole
pages while the node's own process fetches the next page and stores the previous one. Small pages, and
nodes configured with `[delivery] verify_workers = 0`, verify in the node's own process. If a worker
dies, the page is verified in the node's process and a new worker is started next time.
"""

from __future__ import annotations

import asyncio
import os

from node.exchange import signature_workers
from protocol.batch import KeyTable, verify_outbox_body
from protocol.envelope import VerifiedEnvelope
from protocol.errors import ProtocolError

POOLED_FROM = 32
"""Pages with fewer envelopes than this are verified in the node's process (a round trip costs more)."""


class PageRefused(Exception):
    """A page that is not a valid outbox page at all (strict parsing failed); the message says why."""


def worker_count(setting: int) -> int:
    """How many worker processes a `verify_workers` setting means: -1 is one per usable CPU core, and none when
    only one is usable (a worker there would only take turns with the node's process and add the round trips)."""
    if setting >= 0:
        return setting
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return cores if cores > 1 else 0


def _verify(body: bytes, keys: KeyTable) -> tuple[str | None, list[VerifiedEnvelope | str]]:
    """Run in a worker: the page's problem, or the result for each envelope (exceptions stay here)."""
    try:
        return None, verify_outbox_body(body, keys)
    except ProtocolError as exc:
        return str(exc), []


def _unpack(outcome: tuple[str | None, list[VerifiedEnvelope | str]]) -> list[VerifiedEnvelope | str]:
    problem, checked = outcome
    if problem is not None:
        raise PageRefused(problem)
    return checked


async def verify_page(body: bytes, keys: KeyTable, envelopes: int, workers: int) -> list[VerifiedEnvelope | str]:
    """Verify an outbox page of `envelopes` envelopes, in a worker process when that pays.

    Without workers, a large page is verified in a thread of the node's process, so that the event loop
    meanwhile sends the request for the next page and the peer builds it (verifying in the loop held that
    request back until the page was done: peer and origin then took turns). Raises PageRefused if the page
    is malformed.
    """
    if envelopes < POOLED_FROM:
        return _unpack(_verify(body, keys))
    if workers < 1:
        return _unpack(await asyncio.to_thread(_verify, body, keys))
    return _unpack(await signature_workers.call(workers, _verify, body, keys))
