"""How many verification workers a pull starts: `[delivery] verify_workers` and the usable cores."""

from __future__ import annotations

import os

from node.exchange import verify_pool


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
