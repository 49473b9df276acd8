"""How many verification workers a pull starts: `[delivery] verify_workers` and the usable cores."""

from __future__ import annotations

import asyncio
import os

from node.exchange import verify_pool
from node.trust.peer_keys import KeyBook
from protocol.envelope import VerifiedEnvelope
from protocol.wire import outbox_page_body
from tests.node.conftest import Two
from tests.node.exchange.test_delivery import share


def test_one_usable_core_means_no_verification_workers() -> None:
    """-1 means one worker per usable core, but none on one core: a worker there only competes with the node."""
    cores = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(cores)})
        assert verify_pool.worker_count(-1) == 0
        assert verify_pool.worker_count(2) == 2
    finally:
        os.sched_setaffinity(0, cores)
    assert verify_pool.worker_count(-1) == (len(cores) if len(cores) > 1 else 0)


async def test_a_large_page_verified_without_workers_leaves_the_event_loop_running(two: Two) -> None:
    """Without workers a large page is verified beside the event loop, which meanwhile goes on (it sends the
    request for the next page); the result is the same as verifying in the loop itself."""
    a, b = two.a.node, two.b.node
    for index in range(verify_pool.POOLED_FROM):
        share(a, f"Bericht {index}", b.node_id)
    texts = [row[0].encode() for row in a.db.execute("SELECT envelope FROM envelopes ORDER BY seq")]
    body = outbox_page_body(texts, len(texts), False, 0)
    keys = KeyBook.load(b.db.conn).table
    verifying = asyncio.ensure_future(verify_pool.verify_page(body, keys, verify_pool.POOLED_FROM, 0))
    turns = 0
    while not verifying.done():
        turns += 1
        await asyncio.sleep(0)
    assert turns > 2  # the loop ran while the page was verified
    checked = await verifying
    assert checked == await verify_pool.verify_page(body, keys, 1, 0)  # in the loop, as a small page is
    assert all(isinstance(item, VerifiedEnvelope) for item in checked)
