"""Pull catch-up: a new peer fetches N experience records from another node's outbox over loopback HTTP.

The origin holds N records (default 100,000) shared with one peer. Its chain is built with the
node's own functions (node.sharing.records.insert_record, node.sharing.shares.seal and grant) in a few large
write transactions; that preparation is timed and printed separately and is not part of the
figure. The origin then serves in a separate process (its aiohttp app from node.exchange.server.create_app,
without the push worker, so that everything the peer gets comes by pull), and a fresh peer node in
this process pulls everything with node.exchange.pull.pull_from over a node.transport.client.new_session session.

Prints records/s and total seconds of the pull (and how long the origin was busy answering outbox
pages) beside the raw Ed25519 verifications/s measured in the same run
(bench.ingest.raw_verify_rate), their ratio, and whether the target (under 20 s for 100,000
records) was met; checks that the peer's inbox holds exactly N rows.

Run: .venv/bin/python -m bench.catchup [--records N]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import signal
import socket
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from types import FrameType
from typing import Any

from aiohttp import web

from bench.ingest import CONTENT, raw_verify_rate
from node.exchange.pull import PAGE_SIZE, pull_from
from node.exchange.server import create_app
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


def serve_origin(home: str, port: int, busy: Synchronized[float]) -> None:
    """Child process: serve the origin's federation endpoints (no push worker, no scheduled pulls).

    Adds up in `busy` the seconds the origin spends answering requests.
    """
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

    app = create_app(node, background=False)
    app.middlewares.insert(0, timed)
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


def run(total: int) -> None:
    """Prepare the origin, serve it, let a fresh peer pull everything, and print the figures."""
    with tempfile.TemporaryDirectory(prefix="praevnet-catchup-") as tmp:
        origin_home, peer_home, port, prep_seconds = prepare(Path(tmp), total)
        print(f"preparation (not measured): {total:,} records sealed and granted in {prep_seconds:.1f} s")
        context = multiprocessing.get_context("spawn")
        busy = context.Value("d", 0.0)
        process = context.Process(target=serve_origin, args=(str(origin_home), port, busy), name="origin", daemon=True)
        process.start()
        try:
            wait_ready(f"http://127.0.0.1:{port}", process)
            before = busy.value
            report, seconds, stored = asyncio.run(pull(peer_home))
            serving = busy.value - before
        finally:
            process.terminate()
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
    if stored != total or report.get("accepted") != total:
        raise SystemExit(f"the peer stored {stored} of {total} records (pull report: {report})")
    rate = total / seconds
    limit = raw_verify_rate()
    budget = TARGET_SECONDS * total / TARGET_RECORDS
    print(f"pull catch-up:      {rate:,.0f} records/s ({total:,} records in {seconds:.1f} s, pages of {PAGE_SIZE})")
    print(f"  the origin was busy answering outbox pages for {serving:.1f} s of these {seconds:.1f} s")
    print(f"raw Ed25519 verify: {limit:,.0f} verifications/s")
    print(f"ratio:              {rate / limit:.3f} (1.0 would be one verification per record and nothing else)")
    scaled = "" if total == TARGET_RECORDS else f", scaled to {budget:.1f} s for {total:,} records"
    verdict = "met" if seconds < budget else "missed"
    print(f"target < {TARGET_SECONDS:.0f} s for {TARGET_RECORDS:,} records{scaled}: {verdict}")
    print(f"the peer's inbox holds {stored:,} rows, as it should")


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--records", type=int, default=TARGET_RECORDS, help=f"records to catch up (default {TARGET_RECORDS:,})"
    )
    total = parser.parse_args().records
    if total < 1:
        parser.error("--records must be at least 1")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        run(total)
    except KeyboardInterrupt:
        raise SystemExit("interrupted") from None


if __name__ == "__main__":
    main()
