"""Backup while serving: `node.ops.backup.create_backup` of a node with N records (default 100,000) that serves.

The node is prepared as in bench.catchup (N experience records sealed and granted to a peer; not timed
as part of the figure), then serves its federation endpoints in a child process, which a thread of
this process asks for its descriptor again and again while the backup runs: the node is not stopped,
and the slowest answer during the backup is printed. Then the backup is restored into a new home.

Prints the backup's seconds and size beside the raw limit measured in the same run (SQLite's backup
API into memory plus age-encrypting the same bytes with pyrage, nothing else), their ratio, and the
restore's seconds.

Run: .venv/bin/python -m bench.backup [--records N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sqlite3
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pyrage

from bench.catchup import prepare, serve_origin, wait_ready
from node.home import DB_FILE
from node.ops.backup import create_backup
from node.ops.restore import restore_backup

PASSPHRASE = "bench passphrase, not a secret"


def raw_seconds(db: Path) -> float:
    """The least a backup must do: copy the database with SQLite's backup API and age-encrypt its bytes."""
    start = time.perf_counter()
    source, copy = sqlite3.connect(db), sqlite3.connect(":memory:")
    source.backup(copy)
    image = copy.serialize()
    source.close()
    copy.close()
    pyrage.passphrase.encrypt(image, PASSPHRASE)
    return time.perf_counter() - start


def poll(url: str, stop: threading.Event, answers: list[float]) -> None:
    """Ask for the descriptor until `stop`; keep each answer's seconds (a failure counts as infinite)."""
    while not stop.is_set():
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                response.read()
            answers.append(time.perf_counter() - start)
        except OSError:
            answers.append(float("inf"))
        time.sleep(0.05)


def run(total: int) -> None:
    """Prepare, serve, back up while polling, restore, and print the figures."""
    with tempfile.TemporaryDirectory(prefix="praevnet-backup-") as tmp:
        base = Path(tmp)
        home, _, port, prep = prepare(base, total)
        print(f"preparation (not measured): {total:,} records sealed and granted in {prep:.1f} s")
        context = multiprocessing.get_context("spawn")
        busy, peak = context.Value("d", 0.0), context.Value("d", 0.0)
        origin_args = (str(home), port, busy, peak, None, None)  # unpinned, not profiled
        process = context.Process(target=serve_origin, args=origin_args, name="origin", daemon=True)
        process.start()
        answers: list[float] = []
        stop = threading.Event()
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, process)
            poller = threading.Thread(target=poll, args=(f"{url}/.well-known/praevnet", stop, answers), daemon=True)
            poller.start()
            start = time.perf_counter()
            report = create_backup(home, base / "node.age", PASSPHRASE)
            seconds = time.perf_counter() - start
            stop.set()
            poller.join(60)
            if not process.is_alive():
                raise SystemExit("the node stopped during the backup")
        finally:
            stop.set()
            process.terminate()
            process.join(10)
        limit = raw_seconds(home / DB_FILE)
        start = time.perf_counter()
        restore_backup(base / "node.age", base / "restored", PASSPHRASE)
        restored = time.perf_counter() - start
    if not answers or max(answers) == float("inf"):
        raise SystemExit(f"the node did not answer every request during the backup ({len(answers)} asked)")
    size = report["bytes"] / 2**20
    print(f"backup while serving: {seconds:.1f} s for {total:,} records ({size:,.0f} MiB encrypted)")
    print(f"  the node answered all {len(answers)} descriptor requests meanwhile, the slowest in {max(answers):.3f} s")
    print(f"raw limit:            {limit:.1f} s (SQLite backup API into memory + age encryption, nothing else)")
    print(f"ratio:                {limit / seconds:.3f} (1.0 would be the raw limit)")
    print(f"restore (all checks): {restored:.1f} s")


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records the node holds (default 100,000)")
    run(parser.parse_args().records)


if __name__ == "__main__":
    main()
