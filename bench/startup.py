"""Start-up and memory: how long `praevnet` commands take to start, and what an idle `serve` holds.

Prints the median wall time over N runs (each a fresh process, via subprocess) of `praevnet --help`,
`praevnet id --home H` and `praevnet records list --home H`, beside the raw limit measured in the same
run: `python -c pass` and `python -c "import click"`, the start-up no click program can beat. Then the
resident memory (VmRSS from /proc/PID/status) of `praevnet serve` once it has told READY=1 over
$NOTIFY_SOCKET and stayed idle for a moment, beside that of a bare `python -c` process and of a process
that only imports the libraries serve runs on. With --records N the home first gets N experience
records through the node's own functions (node.sharing.records.insert_record and
node.sharing.shares.seal, in large write transactions; timed apart, not part of any figure), and
serve's memory is measured holding them. Targets (issue #14): --help at most 150 ms, id at most
250 ms, idle serve at most 60 MB, at most 150 MB holding 1,000,000 records.
To compare with another checkout, name how to run it: --praevnet "python -m cli.main" with PYTHONPATH set.
Run: .venv/bin/python -m bench.startup [--runs N] [--records N] [--home DIR] [--praevnet COMMAND]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.ingest import CONTENT
from node.home import Node, init_home
from node.sharing.records import insert_record
from node.sharing.shares import seal, version_row
from node.store import write
from node.users import ADMIN

TARGET_HELP_MS, TARGET_ID_MS = 150.0, 250.0
TARGET_IDLE_MB, TARGET_HOLDING_MB, TARGET_HOLDING_RECORDS = 60.0, 150.0, 1_000_000
CHUNK = 10_000  # records per write transaction while preparing the home
SETTLE_SECONDS = 2.0  # how long serve stays idle after READY=1 before its memory is read
CONSOLE_SCRIPT = str(Path(sys.executable).with_name("praevnet"))
SERVE_CODE = "from cli.main import main\nmain.get_command(None, 'serve')"  # what serve imports before it starts
ID_CODE = "from cli.main import main\ntry:\n    main(['id', '--home', {home!r}])\nexcept SystemExit:\n    pass"


def median_ms(command: Sequence[str], runs: int) -> float:
    """The median wall time of `command` over `runs` fresh processes, in ms; it must succeed."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def libraries(code: str) -> str:
    """Code importing every third-party module (from site-packages) that running `code` loads.

    Importing them alone is the floor for whatever `code` does: the time and memory the project's own
    code adds are the rest.
    """
    probe = (
        f"{code}\nimport sys\n"
        "print(' '.join(sorted(n for n, m in list(sys.modules.items()) if 'site-packages' in str(getattr(m, "
        "'__file__', '')) and not n.startswith(('__editable', '_distutils_hack')))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    names = done.stdout.splitlines()[-1].split()
    # some extension modules (cffi's `_sodium`) are loaded under names that cannot be imported directly
    loop = "    try:\n        importlib.import_module(name)\n    except ImportError:\n        pass"
    return f"import importlib\nfor name in {names!r}:\n{loop}"


def rss_mb(pid: int) -> float:
    """The resident memory of process `pid` (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no VmRSS for process {pid}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def python_rss_mb(code: str) -> float:
    """The resident memory of a python process that ran `code` and then waits, in MB."""
    script = f"{code}\nimport sys\nprint('ready', flush=True)\nsys.stdin.read()"
    with subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        assert proc.stdin is not None
        if proc.stdout.readline() != b"ready\n":
            raise SystemExit(f"python -c {code!r} did not start")
        try:
            return rss_mb(proc.pid)
        finally:
            proc.stdin.close()


def serve_rss_mb(praevnet: list[str], home: Path, work: Path, *options: str) -> tuple[float, float]:
    """Start `praevnet serve OPTIONS` on free loopback ports: VmRSS idle after READY=1, and seconds to READY."""
    address = str(work / f"notify-{time.monotonic_ns()}.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(address)
        notify.settimeout(120)
        args = [*praevnet, "serve", "--home", str(home), "--port", str(free_port()), *options]
        if "--no-ui" not in options:
            args += ["--ui-listen", f"127.0.0.1:{free_port()}"]
        if "--no-admin" not in options:
            args += ["--admin-listen", f"127.0.0.1:{free_port()}"]
        start = time.perf_counter()
        env = {**os.environ, "NOTIFY_SOCKET": address}
        with subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
            try:
                while b"READY=1" not in notify.recv(4096).split(b"\n"):
                    pass
                ready = time.perf_counter() - start
                time.sleep(SETTLE_SECONDS)
                if proc.poll() is not None:
                    raise SystemExit(f"serve exited with status {proc.returncode}")
                return rss_mb(proc.pid), ready
            finally:
                proc.terminate()
                proc.wait(30)


def add_records(home: Path, total: int) -> float:
    """Give the node in `home` `total` sealed experience records; the seconds that took."""
    node = Node.open(home)
    try:
        start = time.perf_counter()
        for first in range(0, total, CHUNK):
            with write(node.db) as conn:
                for index in range(first, min(first + CHUNK, total)):
                    content = {**CONTENT, "title": f"{CONTENT['title']} {index}"}
                    record = insert_record(node, conn, "experience", content, "TLP:AMBER", [], ADMIN)
                    seal(node, conn, record, version_row(conn, record["id"], 1))
        return time.perf_counter() - start
    finally:
        node.close()


def verdict(value: float, target: float) -> str:
    """`met` or `missed` for a figure against its upper bound."""
    return "met" if value <= target else "missed"


def run(praevnet: list[str], runs: int, records: int, home: Path | None) -> None:
    """Measure and print every figure."""
    with tempfile.TemporaryDirectory(prefix="praevnet-startup-") as tmp:
        work = Path(tmp)
        if home is None:
            home = work / "home"
            init_home(home, name="Startstadt", url=f"http://127.0.0.1:{free_port()}")
            if records:
                print(f"prepared {records} records in {add_records(home, records):.1f} s (not measured)")
        held = Node.open(home)
        try:
            count = held.db.execute("SELECT count(*) FROM records").fetchone()[0]
        finally:
            held.close()
        bare = median_ms([sys.executable, "-c", "pass"], runs)
        click_only = median_ms([sys.executable, "-c", "import click"], runs)
        print(f"start-up, median of {runs} runs (wall):")
        row("python -c pass", bare, "ms", "raw limit")
        row("python -c 'import click'", click_only, "ms", "raw limit for a click program")
        floor = median_ms([sys.executable, "-c", libraries(ID_CODE.format(home=str(home)))], runs)
        row("python importing id's libraries", floor, "ms", "raw limit for id: click, sqlite-utils, cryptography...")
        shown = median_ms([*praevnet, "--help"], runs)
        row("praevnet --help", shown, "ms", f"target {TARGET_HELP_MS:.0f} ms: {verdict(shown, TARGET_HELP_MS)}")
        ident = median_ms([*praevnet, "id", "--home", str(home)], runs)
        row("praevnet id", ident, "ms", f"target {TARGET_ID_MS:.0f} ms: {verdict(ident, TARGET_ID_MS)}")
        listed = median_ms([*praevnet, "records", "list", "--home", str(home)], runs)
        row("praevnet records list", listed, "ms", f"{count} records in the home")
        print("memory (VmRSS):")
        row("python -c pass", python_rss_mb("pass"), "MB", "raw limit")
        floor = python_rss_mb(libraries(SERVE_CODE))
        row("python importing serve's libraries", floor, "MB", "raw limit for serve: aiohttp, jinja2, cryptography...")
        target = TARGET_HOLDING_MB if count >= TARGET_HOLDING_RECORDS else TARGET_IDLE_MB
        for label, options in (("serve", ()), ("serve --no-ui --no-admin", ("--no-ui", "--no-admin"))):
            idle, ready = serve_rss_mb(praevnet, home, work, *options)
            note = f"{count} records, READY=1 after {ready:.2f} s; target {target:.0f} MB: {verdict(idle, target)}"
            row(f"praevnet {label}, idle", idle, "MB", note)


def row(label: str, value: float, unit: str, note: str) -> None:
    """One figure: what was measured, the value and what to compare it with."""
    print(f"  {label:36} {value:7.1f} {unit}  {note}")


def main() -> None:
    """Parse options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per start-up figure (median)")
    parser.add_argument("--records", type=int, default=0, help="records to give a new home before measuring serve")
    parser.add_argument("--home", type=Path, default=None, help="measure an existing node home instead (kept)")
    parser.add_argument("--praevnet", default=CONSOLE_SCRIPT, help="how to run praevnet (default: the console script)")
    args = parser.parse_args()
    if args.runs < 1 or args.records < 0:
        parser.error("--runs must be at least 1 and --records not negative")
    praevnet = shlex.split(args.praevnet)
    if not praevnet or shutil.which(praevnet[0]) is None:
        parser.error(f"{args.praevnet!r} not found: install the project (pip install -e .)")
    run(praevnet, args.runs, args.records, args.home)


if __name__ == "__main__":
    main()
