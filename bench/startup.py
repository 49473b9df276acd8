"""Start-up and memory: how long `praevnet` commands take to start, and what an idle `serve` holds.

Prints the median wall time over N runs (each a fresh process, via subprocess) of `praevnet --help`,
`praevnet id --home H` and `praevnet records list --home H`, beside the raw limit measured in the same
run: `python -c pass` and `python -c "import click"`, the start-up no click program can beat. Then the
resident memory (VmRSS from /proc/PID/status) of `praevnet serve` once it has told READY=1 over
$NOTIFY_SOCKET and stayed idle for a moment, beside that of a bare `python -c` process and of a process
that only imports the libraries serve runs on: those it loads at start, and with them those it loads on
first use (jsonschema_rs, with the first record received or written). So that nothing loaded on first use
goes unseen, serve's memory is read again after one request each to /healthz, /metrics and the web
interface's login page, and, in a home this benchmark made, after it received one record from a peer
(a signed inbox transaction; the home trusts that peer, pull-only, from before serve starts). With
--records N the home first gets N experience records through the node's own functions
(node.sharing.records.insert_record and node.sharing.shares.seal, in large write transactions; timed
apart, not part of any figure), and serve's memory is measured holding them. Targets (issue #14): --help
at most 150 ms, id at most 250 ms, idle serve at most 60 MB, at most 150 MB holding 1,000,000 records.
To compare with another checkout, name how to run it: --praevnet "python -m cli.main" with PYTHONPATH set.
Run: .venv/bin/python -m bench.startup [--runs N] [--records N] [--home DIR] [--praevnet COMMAND]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench.ingest import CONTENT, make_batches, push
from node.home import Node, init_home
from node.sharing.records import insert_record
from node.sharing.shares import seal, version_row
from node.store import write
from node.trust.peers import trust_descriptor
from node.users import ADMIN
from protocol.descriptor import build_descriptor
from protocol.keys import NodeKey, fingerprint, node_id_for

TARGET_HELP_MS, TARGET_ID_MS = 150.0, 250.0
TARGET_IDLE_MB, TARGET_HOLDING_MB, TARGET_HOLDING_RECORDS = 60.0, 150.0, 1_000_000
CHUNK = 10_000  # records per write transaction while preparing the home
SETTLE_SECONDS = 2.0  # how long serve stays idle after READY=1 before its memory is read
CONSOLE_SCRIPT = str(Path(sys.executable).with_name("praevnet"))
# What serve imports before it is ready, the web interface (on by default) included.
SERVE_CODE = "from cli.main import main\nmain.get_command(None, 'serve')\nimport web.app"
# What a node imports besides, on first use: checking a record's content (protocol.records) loads jsonschema_rs.
FIRST_USE_CODE = (
    "from protocol.records import validate_content\n"
    "validate_content('experience', {'title': 't', 'summary': 's'}, allow_local=False)"
)
SENDER_URL = "http://127.0.0.1:9"  # the peer that sends serve a record; pull-only, so nothing is ever sent there
ID_CODE = "from cli.main import main\ntry:\n    main(['id', '--home', {home!r}])\nexcept SystemExit:\n    pass"


def median_ms(command: Sequence[str], runs: int) -> tuple[float, float]:
    """The median wall time and CPU time (user + system) of `command` over `runs` fresh processes, in ms.

    The CPU time is what the process costs whatever else the machine runs; the wall time is what one waits.
    One run before them, not counted, leaves the modules' bytecode cached, as installing the package does.
    """
    walls, cpus = [], []
    for _ in range(runs + 1):
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append((time.perf_counter() - start) * 1000)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(command)[:200]} exited with status {proc.returncode}")
        cpus.append((usage.ru_utime + usage.ru_stime) * 1000)
    return statistics.median(walls[1:]), statistics.median(cpus[1:])


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


Step = tuple[str, Callable[[], None]]
"""Something done to the serving node before its memory is read again: what it is, and doing it."""


def serve_rss_mb(
    praevnet: list[str], home: Path, work: Path, options: Sequence[str], steps: Sequence[Step] = ()
) -> tuple[float, float, list[float]]:
    """Start `praevnet serve OPTIONS`: VmRSS idle after READY=1, seconds to READY, and VmRSS after each step
    (each followed by the same settling time as the idle figure)."""
    address = str(work / f"notify-{time.monotonic_ns()}.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(address)
        notify.settimeout(120)
        args = [*praevnet, "serve", "--home", str(home), *options]
        start = time.perf_counter()
        env = {**os.environ, "NOTIFY_SOCKET": address}
        with subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
            try:
                while b"READY=1" not in notify.recv(4096).split(b"\n"):
                    pass
                ready = time.perf_counter() - start
                time.sleep(SETTLE_SECONDS)
                idle = rss_mb(proc.pid)
                after = []
                for _label, step in steps:
                    step()
                    time.sleep(SETTLE_SECONDS)
                    after.append(rss_mb(proc.pid))
                if proc.poll() is not None:
                    raise SystemExit(f"serve exited with status {proc.returncode}")
                return idle, ready, after
            finally:
                proc.terminate()
                proc.wait(30)


def get(url: str) -> None:
    """GET `url` and read the answer (urllib raises on anything but success)."""
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()


def trust_sender(home: Path) -> NodeKey:
    """A new peer's key, which the node in `home` now trusts as a pull-only peer (nothing is sent to it)."""
    sender = NodeKey.generate()
    descriptor = build_descriptor(
        [sender],
        node_id=node_id_for(sender.public),
        name="Senderstadt",
        url=SENDER_URL,
        valid_until=datetime.now(UTC) + timedelta(days=1),
    )
    node = Node.open(home)
    try:
        trust_descriptor(node, SENDER_URL, fingerprint(sender.public), descriptor, pull_only=True)
    finally:
        node.close()
    return sender


def receive_one(url: str, sender: NodeKey) -> None:
    """`sender` pushes one record to the node at `url` through its inbox, as a peer does."""

    async def pushing() -> None:
        async with aiohttp.ClientSession() as session:
            await push(session, url, make_batches(sender, 1), sender)

    asyncio.run(pushing())


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
        # Every process measured finds the bytecode of what it imports cached (here, not in the checkout),
        # as an installed package has it: with PYTHONDONTWRITEBYTECODE each would compile its sources anew.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        sender = None
        if home is None:
            home = work / "home"
            init_home(home, name="Startstadt", url=f"http://127.0.0.1:{free_port()}")
            if records:
                print(f"prepared {records} records in {add_records(home, records):.1f} s (not measured)")
            sender = trust_sender(home)
        held = Node.open(home)
        try:
            count = held.db.execute("SELECT count(*) FROM records").fetchone()[0]
            url = held.config.url
        finally:
            held.close()
        bare = median_ms([sys.executable, "-c", "pass"], runs)
        click_only = median_ms([sys.executable, "-c", "import click"], runs)
        floor = median_ms([sys.executable, "-c", libraries(ID_CODE.format(home=str(home)))], runs)
        shown = median_ms([*praevnet, "--help"], runs)
        ident = median_ms([*praevnet, "id", "--home", str(home)], runs)
        listed = median_ms([*praevnet, "records", "list", "--home", str(home)], runs)
        print(f"start-up, median of {runs} runs: wall (CPU user+system)")
        timing("python -c pass", bare, "raw limit")
        timing("python -c 'import click'", click_only, "raw limit for a click program")
        timing("python importing id's libraries", floor, "raw limit for id: click, sqlite-utils, PyNaCl...")
        timing("praevnet --help", shown, f"target {TARGET_HELP_MS:.0f} ms: {verdict(shown[0], TARGET_HELP_MS)}")
        timing("praevnet id", ident, f"target {TARGET_ID_MS:.0f} ms: {verdict(ident[0], TARGET_ID_MS)}")
        timing("praevnet records list", listed, f"{count} records in the home")
        print("memory (VmRSS):")
        row("python -c pass", python_rss_mb("pass"), "MB", "raw limit")
        libraries_mb = python_rss_mb(libraries(SERVE_CODE))
        row("python importing serve's libraries", libraries_mb, "MB", "raw limit for idle serve: aiohttp, jinja2...")
        first_use_mb = python_rss_mb(libraries(f"{SERVE_CODE}\n{FIRST_USE_CODE}"))
        row("  and those loaded on first use", first_use_mb, "MB", "raw limit once serve took a record: jsonschema_rs")
        target = TARGET_HOLDING_MB if count >= TARGET_HOLDING_RECORDS else TARGET_IDLE_MB
        plain, plain_ready, _ = serve_rss_mb(praevnet, home, work, [*ports(fresh=False), "--no-ui", "--no-admin"])
        ui, admin = free_port(), free_port()
        steps = [requests_step(ui, admin)] if sender is None else [requests_step(ui, admin), receive_step(url, sender)]
        listen = [*ports(fresh=sender is not None), "--ui-listen", f"127.0.0.1:{ui}", "--admin-listen"]
        idle, ready, after = serve_rss_mb(praevnet, home, work, [*listen, f"127.0.0.1:{admin}"], steps)
        note = f"{count} records, READY=1 after {ready:.2f} s; target {target:.0f} MB: {verdict(idle, target)}"
        row("praevnet serve, idle", idle, "MB", note)
        for (label, _step), value in zip(steps, after, strict=True):
            row("  then", value, "MB", f"after {label} (not idle: what is loaded on first use)")
        if sender is None:
            print("  (not sending a record to the --home given: it would change that home)")
        note = f"{count} records, READY=1 after {plain_ready:.2f} s; target {target:.0f} MB: {verdict(plain, target)}"
        row("praevnet serve --no-ui --no-admin", plain, "MB", note)
        print(f"ratio of idle serve to its libraries alone: {idle / libraries_mb:.2f}")


def requests_step(ui: int, admin: int) -> Step:
    """One request each to /healthz and /metrics on the admin port and to the login page on the web interface's."""
    urls = (f"{local(admin)}/healthz", f"{local(admin)}/metrics", f"{local(ui)}/login")

    def requests() -> None:
        for url in urls:
            get(url)

    return "one request each to /healthz, /metrics and the login page", requests


def receive_step(url: str, sender: NodeKey) -> Step:
    """`sender` pushes one record to the node at `url`."""
    return "receiving one record from a peer", lambda: receive_one(url, sender)


def local(port: int) -> str:
    """The base URL of a loopback port."""
    return f"http://127.0.0.1:{port}"


def ports(*, fresh: bool) -> list[str]:
    """serve's --port: none for a home made here (it listens on its URL's port, so that peers' signed
    requests name the address it serves), else a free one."""
    return [] if fresh else ["--port", str(free_port())]


def timing(label: str, times: tuple[float, float], note: str) -> None:
    """One start-up figure: wall and CPU time, and what to compare them with."""
    print(f"  {label:36} {times[0]:7.1f} ms ({times[1]:6.1f} ms CPU)  {note}")


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
