"""Pull catch-up: a new peer fetches N experience records from another node's outbox over loopback HTTP.

The origin holds N records (default 100,000) shared with one peer. Its chain is built with the
node's own functions (node.sharing.records.insert_record, node.sharing.shares.seal and grant) in a few large
write transactions; that preparation is timed and printed separately and is not part of the
figure. Each catch-up starts from fresh copies of both homes: the origin serves in a process of its own (its
aiohttp app from node.exchange.server.create_app, without the push worker, so that everything the peer gets
comes by pull), and the fresh peer pulls everything in another process with node.exchange.pull.pull_from
over a node.transport.client.new_session session, verifying pages in its worker processes
(node.exchange.verify_pool) as `praevnet serve` would.

Prints records/s and total seconds of the pull (and how long the origin was busy answering outbox
pages), the peak RSS of the origin, the peer and its largest verification worker, beside the raw Ed25519
verifications/s measured in the same run (bench.ingest.raw_verify_rate), their ratio, and whether the
target (at most 20 s for 100,000 records) was met; checks that the peer's inbox holds exactly N rows.
With --pin it catches up a second time with the origin on one core and the peer (and so its workers) on
another (os.sched_setaffinity, as taskset does), as two machines would be, and judges the target by that.
--profile DIR writes cProfiles of the origin and the peer process.

Run: .venv/bin/python -m bench.catchup [--records N] [--pin] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from types import FrameType
from typing import Any

from aiohttp import web

from bench.ingest import CONTENT, raw_verify_rate
from node.exchange.pull import PAGE_SIZE, pull_from
from node.exchange.server import create_app
from node.exchange.signature_workers import shutdown
from node.home import Node, init_home
from node.sharing.records import insert_record
from node.sharing.shares import grant, seal, version_row
from node.store import write
from node.transport.client import new_session
from node.trust.peers import get_peer, trust_descriptor
from node.users import ADMIN
from protocol.records import validate_content

TARGET_SECONDS = 20.0
TARGET_RECORDS = 100_000
CHUNK = 10_000  # records per write transaction while preparing the origin
Cpus = set[int] | None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def record_content(index: int) -> dict[str, Any]:
    """The content of the index-th record: the ingest benchmark's record with its own title."""
    return {**CONTENT, "title": f"{CONTENT['title']} {index}"}


def prepare(base: Path, total: int) -> tuple[Path, Path, int, float]:
    """Create origin and peer, pair them, and give the origin `total` records shared with the peer.

    Returns the two homes, the origin's port and the seconds the records took.
    """
    origin_home, peer_home, port = base / "origin", base / "peer", free_port()
    init_home(origin_home, name="Ursprungsstadt", url=f"http://127.0.0.1:{port}")
    # The peer is never contacted (the origin runs without its push worker), so its URL need not answer.
    init_home(peer_home, name="Neue Stadt", url=f"http://127.0.0.1:{free_port()}")
    origin, peer = Node.open(origin_home), Node.open(peer_home)
    try:
        trust_descriptor(origin, peer.config.url, peer.fingerprint, peer.descriptor())
        trust_descriptor(peer, origin.config.url, origin.fingerprint, origin.descriptor())
        validate_content("experience", record_content(0), allow_local=True)
        start = time.perf_counter()
        for first in range(0, total, CHUNK):
            with write(origin.db) as conn:
                for index in range(first, min(first + CHUNK, total)):
                    record = insert_record(origin, conn, "experience", record_content(index), "TLP:AMBER", [], ADMIN)
                    seq = seal(origin, conn, record, version_row(conn, record["id"], 1))
                    grant(conn, seq, peer.node_id, "experience")
        seconds = time.perf_counter() - start
        granted = origin.db.execute("SELECT count(*) FROM grants WHERE peer_id = ?", (peer.node_id,)).fetchone()[0]
        if granted != total:
            raise SystemExit(f"prepared {granted} grants, expected {total}")
    finally:
        origin.close()
        peer.close()
    return origin_home, peer_home, port, seconds


def pin(cpus: set[int] | None) -> None:
    """Bind this process (and the processes it starts later, such as verification workers) to `cpus`."""
    if cpus is not None:
        os.sched_setaffinity(0, cpus)


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """The peak resident set size of this process (or of its largest finished child), in MB."""
    return resource.getrusage(who).ru_maxrss / 1024


def serve_origin(
    home: str, port: int, busy: Synchronized[float], peak: Synchronized[float], cpus: Cpus, profile: str | None
) -> None:
    """Child process: serve the origin's federation endpoints (no push worker, no scheduled pulls).

    Adds up in `busy` the seconds the origin spends answering requests; leaves its peak RSS (MB) in `peak`;
    with `profile`, writes a cProfile of itself there.
    """
    pin(cpus)
    profiler = cProfile.Profile() if profile else None
    node = Node.open(Path(home))

    @web.middleware
    async def timed(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        start = time.perf_counter()
        try:
            return await handler(request)
        finally:
            with busy.get_lock():
                busy.value += time.perf_counter() - start
            peak.value = peak_rss_mb()

    app = create_app(node, background=False)
    app.middlewares.insert(0, timed)
    if profiler is not None:
        profiler.enable()
    try:
        web.run_app(
            app,
            host="127.0.0.1",
            port=port,
            print=None,
            access_log=None,
            handle_signals=True,
        )
    finally:
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        node.close()


def wait_ready(url: str, process: BaseProcess, seconds: float = 60.0) -> None:
    """Wait until the origin serves its descriptor; stop if its process died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not process.is_alive():
            raise SystemExit(f"the origin server exited with {process.exitcode}")
        try:
            with urllib.request.urlopen(f"{url}/.well-known/praevnet", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"the origin did not serve {url} within {seconds:.0f} s")


async def pull(peer_home: Path) -> tuple[dict[str, Any], float, int]:
    """The peer pulls everything the origin shares with it; returns the report, seconds and inbox rows."""
    peer = Node.open(peer_home)
    try:
        origin = next(row for row in peer.db.execute("SELECT node_id FROM peers"))[0]
        async with new_session(peer) as session:
            start = time.perf_counter()
            report = await pull_from(peer, session, get_peer(peer, origin))
            seconds = time.perf_counter() - start
        stored = int(peer.db.execute("SELECT count(*) FROM inbox").fetchone()[0])
    finally:
        peer.close()
    return report, seconds, stored


def pull_process(peer_home: str, cpus: Cpus, answer: Connection, profile: str | None) -> None:
    """Child process: the peer pulls (with its verification workers, on `cpus`); sends back the report, seconds,
    inbox rows, its own peak RSS and that of its largest verification worker (MB), and the CPU seconds of its
    own process and of its workers. With `profile`, writes a cProfile of its own process (not of the workers)."""
    pin(cpus)
    started = cpu_seconds(resource.RUSAGE_SELF)
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    report, seconds, stored = asyncio.run(pull(Path(peer_home)))
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    shutdown()  # the verification workers, so that their peak and CPU time are counted
    own, workers = cpu_seconds(resource.RUSAGE_SELF) - started, cpu_seconds(resource.RUSAGE_CHILDREN)
    answer.send((report, seconds, stored, peak_rss_mb(), peak_rss_mb(resource.RUSAGE_CHILDREN), own, workers))


def cpu_seconds(who: int) -> float:
    """User and system CPU seconds of this process (or of its finished children) so far."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Outcome:
    """One catch-up: seconds, the origin's busy seconds, peak RSS of origin, peer and worker (MB), and the CPU
    seconds of the peer's process and of its verification workers."""

    seconds: float
    serving: float
    origin_mb: float
    peer_mb: float
    worker_mb: float
    peer_cpu: float
    worker_cpu: float


def catch_up(
    base: Path, homes: tuple[Path, Path], port: int, total: int, cpus: tuple[Cpus, Cpus], profile: Path | None
) -> Outcome:
    """Copy the prepared homes, serve the origin and let the fresh peer pull everything, origin and peer on
    `cpus` (None: unpinned); check the peer stored all `total` records. With `profile`, the origin and the
    peer write cProfiles into that directory (origin-*.prof, peer-*.prof)."""
    tag = "unpinned" if cpus[0] is None else "pinned"
    profiles = [None if profile is None else str(profile / f"{who}-{tag}.prof") for who in ("origin", "peer")]
    work = Path(tempfile.mkdtemp(dir=base))
    origin_home, peer_home = work / "origin", work / "peer"
    shutil.copytree(homes[0], origin_home)
    shutil.copytree(homes[1], peer_home)
    context = multiprocessing.get_context("spawn")
    busy, peak = context.Value("d", 0.0), context.Value("d", 0.0)
    origin = context.Process(
        target=serve_origin, args=(str(origin_home), port, busy, peak, cpus[0], profiles[0]), name="origin", daemon=True
    )
    origin.start()
    try:
        wait_ready(f"http://127.0.0.1:{port}", origin)
        before = busy.value
        receiving, sending = context.Pipe(duplex=False)
        peer = context.Process(target=pull_process, args=(str(peer_home), cpus[1], sending, profiles[1]), name="peer")
        peer.start()
        report, seconds, stored, peer_mb, worker_mb, peer_cpu, worker_cpu = receiving.recv()
        peer.join()
        serving = busy.value - before
    finally:
        origin.terminate()
        origin.join(10)
        if origin.is_alive():
            origin.kill()
            origin.join()
    shutil.rmtree(work)
    if stored != total or report.get("accepted") != total:
        raise SystemExit(f"the peer stored {stored} of {total} records (pull report: {report})")
    return Outcome(seconds, serving, peak.value, peer_mb, worker_mb, peer_cpu, worker_cpu)


def report_line(label: str, total: int, outcome: Outcome) -> None:
    """Print one catch-up's figures."""
    rate = total / outcome.seconds
    print(f"{label:<20}{rate:,.0f} records/s ({total:,} records in {outcome.seconds:.1f} s, pages of {PAGE_SIZE})")
    print(f"  the origin was busy answering outbox pages for {outcome.serving:.1f} s of these {outcome.seconds:.1f} s")
    print(
        f"  the peer used {outcome.peer_cpu:.1f} CPU s in its process and {outcome.worker_cpu:.1f} in verification "
        f"workers: {(outcome.peer_cpu + outcome.worker_cpu) * 1e6 / total:.0f} us/record; its process was busy "
        f"{outcome.peer_cpu / outcome.seconds:.0%} of the time"
    )
    workers = "no verification worker"
    if outcome.worker_mb:
        workers = f"largest verification worker {outcome.worker_mb:.0f} MB"
    print(f"  peak RSS: origin {outcome.origin_mb:.0f} MB, peer {outcome.peer_mb:.0f} MB, {workers}")


def run(total: int, pinned: bool, profile: Path | None) -> None:
    """Prepare the origin, serve it, let a fresh peer pull everything (unpinned, then with --pin pinned to
    separate cores), and print the figures."""
    cores = sorted(os.sched_getaffinity(0))
    if pinned and len(cores) < 2:
        raise SystemExit("--pin needs at least two usable CPU cores")
    with tempfile.TemporaryDirectory(prefix="praevnet-catchup-") as tmp:
        origin_home, peer_home, port, prep_seconds = prepare(Path(tmp), total)
        print(f"preparation (not measured): {total:,} records sealed and granted in {prep_seconds:.1f} s")
        homes = (origin_home, peer_home)
        free = catch_up(Path(tmp), homes, port, total, (None, None), profile)
        bound = catch_up(Path(tmp), homes, port, total, ({cores[0]}, {cores[1]}), profile) if pinned else None
    limit = raw_verify_rate()
    budget = TARGET_SECONDS * total / TARGET_RECORDS
    report_line(f"unpinned ({len(cores)} cores):", total, free)
    if bound is not None:
        report_line(f"pinned (cores {cores[0]}|{cores[1]}):", total, bound)
    print(f"raw Ed25519 verify: {limit:,.0f} verifications/s (one core)")
    for label, outcome in (("unpinned", free), ("pinned", bound)):
        if outcome is not None:
            print(f"ratio {label + ':':<13}{total / outcome.seconds / limit:.3f} (1.0: one verification per record)")
    scaled = "" if total == TARGET_RECORDS else f", scaled to {budget:.1f} s for {total:,} records"
    judged = bound if bound is not None else free
    verdict = "met" if judged.seconds <= budget else "missed"
    which = "pinned" if bound is not None else "unpinned (run with --pin for the target's setting)"
    print(f"target <= {TARGET_SECONDS:.0f} s for {TARGET_RECORDS:,} records{scaled}, {which}: {verdict}")
    print(f"the peer's inbox held {total:,} rows after each catch-up, as it should")


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--records", type=int, default=TARGET_RECORDS, help=f"records to catch up (default {TARGET_RECORDS:,})"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="also catch up with origin and peer (and its verification workers) pinned to two separate cores",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="write cProfiles of the origin and the peer process into DIR (origin-*.prof, peer-*.prof)",
    )
    options = parser.parse_args()
    total = options.records
    if total < 1:
        parser.error("--records must be at least 1")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if options.profile is not None:
            options.profile.mkdir(parents=True, exist_ok=True)
        run(total, options.pin, options.profile)
    except KeyboardInterrupt:
        raise SystemExit("interrupted") from None


if __name__ == "__main__":
    main()
