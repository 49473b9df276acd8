"""Alert latency: from the commit of an alert at its origin until it is stored at each of N peer nodes.

One origin and N receivers (default 50) run as real `praevnet serve` processes on free 127.0.0.1
ports, each with its own home in a temporary directory, created and paired (origin <-> every
receiver) through the Python API before the processes start. The bench process then sends K
alerts (default 20), one after another, with node.sharing.records.send_alert on the origin's home to all
peers; the commit wakes the origin's `serve` process (node.wake), which picks the alert up from
the shared SQLite file and pushes it. The latency of an (alert, receiver) pair is the time from the
commit (send_alert returning) until the alert's row is visible in that receiver's inbox table,
found by tailing every receiver's database read-only (PRAGMA data_version, polled every 5 ms). All
deliveries of one alert are awaited before the next alert goes out, after a random pause of up to
the origin's poll interval, so that alerts arrive at random moments of the origin's delivery loop.

The raw limit, measured in the same run between the alerts: the round-trip time of the smallest
real delivery, one signed inbox PUT carrying one pre-signed alert envelope, sent directly with
node.transport.client.signed_request from a measuring node to one receiver (5 per alert). As a second
limit, the same PUT is sent to all N receivers at once (once per alert): the time until each
answers is what fanning out costs on this machine without the node's queue and delivery loop. The
disk's part of it, measured after the alerts: one durable SQLite commit (as each receiver makes per
transaction) in N processes at once. And where the CPU went: per alert (commit to last stored) and per
raw fan-out, the CPU time of the origin, the receivers, the bench and the rest of the machine (others'
work on a shared machine), beside what the CPUs had in that time (bench.cputime).

The origin's own part: its delivery loop logs (event `delivery.fanout`) the moment the body of the
last request of a round that started transactions to several peers has been written; the time from
the commit (wall clock of the bench process) to that log line's time (wall clock of the origin,
millisecond resolution) is the origin's time from commit to last request sent.

Prints p50, p99 and max of the latency over all alert x receiver pairs beside p50 and p99 of
both raw limits, the ratios, the origin's own time, and whether the target (p99 under 200 ms) was met.

Run: .venv/bin/python -m bench.alert_latency [--peers N] [--alerts K]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import pstats
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import tomli_w

from bench.cputime import Cpu
from node.home import CONFIG_FILE, DB_FILE, Node, init_home
from node.sharing.records import send_alert
from node.store import now
from node.transport.client import new_session, signed_request
from node.trust.peers import get_peer, trust_descriptor
from node.users import ADMIN
from protocol.envelope import build_envelope, envelope_ref
from protocol.timestamps import format_timestamp

PRAEVNET = str(Path(sys.executable).parent / "praevnet")
TARGET_P99_MS = 200.0
RAW_PER_ALERT = 5
DISK_ROUNDS = 5  # rounds of one durable commit in every receiver's place at once
WATCH_SLEEP = 0.005  # seconds between sweeps over the receivers' databases
ALERT_TIMEOUT = 60.0  # seconds one alert may take to reach every receiver before the bench gives up


def alert_content(index: int) -> dict[str, Any]:
    """A valid alert as an officer would send it (the example alert, with its own headline)."""
    return {
        "headline": f"Vermehrt Schockanrufe durch falsche Polizeibeamte ({index})",
        "area": {"name": "Stadtgebiet Musterstadt"},
        "expires": format_timestamp(now() + timedelta(days=30)),
        "description": "Täter geben sich am Telefon als Polizei aus und fordern Wertsachen zur Verwahrung.",
        "urgency": "Expected",
        "severity": "Moderate",
        "certainty": "Observed",
        "trend": "rising",
        "instruction": "Seniorentreffs informieren: Die Polizei holt nie Wertsachen ab.",
    }


def free_ports(count: int) -> list[int]:
    """`count` different TCP ports on 127.0.0.1 that were free a moment ago (held together while picked)."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env() -> dict[str, str]:
    """Our environment without PRAEVNET_* settings, which would change where or how a node runs."""
    return {name: value for name, value in os.environ.items() if not name.startswith("PRAEVNET_")}


@dataclass
class Served:
    """A node in its own home, served by a `praevnet serve` process on a loopback port."""

    name: str
    home: Path
    port: int
    node_id: str = ""
    process: subprocess.Popen[bytes] | None = None
    profile: Path | None = None  # where cProfile writes the process's profile, if it runs under one

    @property
    def url(self) -> str:
        """The node's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """Where the serve process writes its output."""
        return self.home.parent / f"{self.home.name}.log"

    def init(self) -> None:
        """Create the node's home."""
        init_home(self.home, name=self.name, url=self.url)

    def launch(self) -> None:
        """Start `praevnet serve` without waiting for it."""
        with self.log.open("wb") as sink:
            profiled = [sys.executable, "-m", "cProfile", "-o", str(self.profile)] if self.profile else []
            self.process = subprocess.Popen(
                [
                    *profiled,
                    PRAEVNET,
                    "serve",
                    *("--home", str(self.home), "--port", str(self.port), "--no-ui", "--no-admin"),
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env(),
            )

    def ready(self) -> bool:
        """Whether the node serves its descriptor; stops the bench if its process died."""
        if self.process is None or self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise SystemExit(f"{self.name} is not running:\n{tail}")
        try:
            with urllib.request.urlopen(f"{self.url}/.well-known/praevnet", timeout=2) as response:
                served = json.loads(response.read()).get("node_id") if response.status == 200 else None
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            return False
        if self.node_id and served != self.node_id:  # another process took its port before it could
            raise SystemExit(f"{self.name}: port {self.port} answers as {served}; run the bench again")
        return served is not None


@dataclass
class Federation:
    """The origin, the receivers and the measuring node, with their homes under `base`."""

    base: Path
    origin: Served
    receivers: list[Served] = field(default_factory=list)
    probe_home: Path | None = None

    @property
    def served(self) -> list[Served]:
        """Every node that runs a serve process."""
        return [self.origin, *self.receivers]


def set_poll_interval(home: Path, seconds: float) -> None:
    """Write [delivery] poll_interval into a node's config."""
    path = home / CONFIG_FILE
    settings = tomllib.loads(path.read_text(encoding="utf-8"))
    settings.setdefault("delivery", {})["poll_interval"] = seconds
    path.write_text(tomli_w.dumps(settings), encoding="utf-8")


def pair(a: Node, b: Node) -> None:
    """Mutual trust, as two officers set it up after comparing fingerprints."""
    trust_descriptor(a, b.config.url, b.fingerprint, b.descriptor())
    trust_descriptor(b, a.config.url, a.fingerprint, a.descriptor())


def build(base: Path, peers: int, poll_interval: float | None) -> Federation:
    """Create every home, and pair the origin and the measuring node with each receiver."""
    ports = free_ports(peers + 2)
    fed = Federation(base=base, origin=Served("Ursprungsstadt", base / "origin", ports[0]))
    fed.receivers = [
        Served(f"Empfängerstadt {i + 1}", base / f"receiver-{i + 1:02d}", ports[i + 2]) for i in range(peers)
    ]
    for served in fed.served:
        served.init()
    if poll_interval is not None:
        set_poll_interval(fed.origin.home, poll_interval)
    fed.probe_home = base / "probe"
    init_home(fed.probe_home, name="Messpunkt", url=f"http://127.0.0.1:{ports[1]}")  # never served
    origin, probe = Node.open(fed.origin.home), Node.open(fed.probe_home)
    fed.origin.node_id = origin.node_id
    try:
        for served in fed.receivers:
            receiver = Node.open(served.home)
            try:
                served.node_id = receiver.node_id
                pair(origin, receiver)
                pair(probe, receiver)
            finally:
                receiver.close()
    finally:
        origin.close()
        probe.close()
    return fed


def start(fed: Federation, seconds: float = 180.0) -> None:
    """Launch every serve process and wait until all of them serve their descriptor."""
    for served in fed.served:
        served.launch()
    waiting = list(fed.served)
    deadline = time.monotonic() + seconds
    while waiting:
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(waiting)} node(s) did not start within {seconds:.0f} s")
        waiting = [served for served in waiting if not served.ready()]
        if waiting:
            time.sleep(0.2)


def stop(fed: Federation) -> None:
    """SIGTERM every serve process, wait for them, and kill any that do not end in time."""
    running = [s.process for s in fed.served if s.process is not None and s.process.poll() is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    deadline = time.monotonic() + 15.0
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class InboxWatch:
    """Tails one receiver's database read-only: PRAGMA data_version tells when to look again."""

    def __init__(self, path: Path, origin: str) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        self.origin = origin
        self.version = -1

    def has(self, record_id: str) -> bool:
        """Whether the alert is stored; checks the inbox only if something was committed since the last look."""
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self.version:
            return False
        self.version = version
        found = self.conn.execute(
            "SELECT 1 FROM inbox WHERE origin = ? AND id = ?", (self.origin, record_id)
        ).fetchone()
        return found is not None

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


class OriginLog:
    """Reads the origin's log lines as they come: when its delivery loop had written its last request."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def last_sent(self, committed: float, peers: int) -> float | None:
        """Seconds from `committed` (wall clock) until the first fan-out to `peers` peers after it was sent."""
        with self.path.open("rb") as source:
            source.seek(self.offset)
            text = source.read()
        self.offset += len(text)
        for line in text.decode("utf-8", "replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("event") != "delivery.fanout" or entry.get("count") != peers:
                    continue
                moment = datetime.fromisoformat(entry["time"]).timestamp()
                if moment >= committed - 0.001:  # the log's clock has millisecond resolution
                    return max(0.0, moment - committed)
        return None


async def deliver_one(
    origin: Node, watches: list[InboxWatch], index: int, samples: Samples | None = None
) -> list[float]:
    """Send one alert to all peers; return the seconds until each receiver stored it, in receiver order.

    With `samples`, the origin's time from commit to last request sent is added to them (if it logged one).
    """
    sent = send_alert(origin, alert_content(index), [], all_peers=True, by=ADMIN)
    committed = time.perf_counter()
    committed_wall = time.time()
    for watch in watches:
        watch.version = -1  # look at least once
    arrived: dict[int, float] = {}
    while len(arrived) < len(watches):
        moment = time.perf_counter()
        for position, watch in enumerate(watches):
            if position not in arrived and watch.has(sent["id"]):
                arrived[position] = moment - committed
        if moment - committed > ALERT_TIMEOUT:
            missing = len(watches) - len(arrived)
            raise SystemExit(f"alert {index}: {missing} receiver(s) did not store it within {ALERT_TIMEOUT:.0f} s")
        await asyncio.sleep(WATCH_SLEEP)
    if samples is not None and samples.origin_log is not None:
        mark = samples.origin_log.last_sent(committed_wall, len(watches))
        if mark is not None:
            samples.origin_sent.append(mark)
    return [arrived[position] for position in range(len(watches))]


class RawProbe:
    """The raw limit: signed inbox PUTs of one pre-signed alert envelope each, from the measuring node.

    Every receiver gets its own contiguous chain from the measuring node, so none of them sees a gap.
    """

    def __init__(self, probe: Node, receivers: list[str], singles: int, fanouts: int) -> None:
        self.probe = probe
        self.receivers = receivers
        self.peers = {receiver: get_peer(probe, receiver) for receiver in receivers}
        self.chains = {
            receiver: self._chain(singles + fanouts if index == 0 else fanouts)
            for index, receiver in enumerate(receivers)
        }

    def _chain(self, count: int) -> list[dict[str, Any]]:
        envelopes, prev = [], None
        for seq in range(1, count + 1):
            envelope = build_envelope(
                self.probe.key,
                origin=self.probe.node_id,
                kind="alert",
                record_id=uuid.uuid4().hex,
                version=1,
                tlp="TLP:AMBER",
                seq=seq,
                prev=prev,
                created=now(),
                content=alert_content(seq),
            )
            prev = envelope_ref(envelope)
            envelopes.append(envelope)
        return envelopes

    async def _put(self, session: aiohttp.ClientSession, receiver: str) -> None:
        envelope = self.chains[receiver].pop(0)
        payload = {"envelopes": [envelope]}
        answer = await signed_request(
            self.probe, session, self.peers[receiver], "PUT", f"/fed/v1/inbox/{uuid.uuid4().hex}", payload
        )
        if answer["results"][0]["status"] != "accepted":
            raise SystemExit(f"a receiver did not accept the raw probe: {answer}")

    async def round_trips(self, session: aiohttp.ClientSession, count: int) -> list[float]:
        """Send `count` envelopes to the first receiver, one request at a time; return each round trip."""
        times = []
        for _ in range(count):
            start = time.perf_counter()
            await self._put(session, self.receivers[0])
            times.append(time.perf_counter() - start)
        return times

    async def fanout(self, session: aiohttp.ClientSession) -> list[float]:
        """Send one envelope to every receiver at once; return the seconds until each answered."""
        start = time.perf_counter()

        async def timed(receiver: str) -> float:
            await self._put(session, receiver)
            return time.perf_counter() - start

        return list(await asyncio.gather(*(timed(receiver) for receiver in self.receivers)))


@dataclass
class CpuSpans:
    """CPU time used over several spans of wall-clock time, added up."""

    cpu: Cpu | None = None
    wall: float = 0.0
    count: int = 0

    def add(self, used: Cpu, wall: float) -> None:
        """Add one span."""
        self.cpu = used if self.cpu is None else self.cpu.plus(used)
        self.wall += wall
        self.count += 1

    def describe(self) -> str:
        """CPU per span in ms, by whom, beside what the CPUs had."""
        if self.cpu is None:
            return "not measured"
        return self.cpu.describe(self.wall, unit=self.count / 1000.0, label="ms")


def pids(served: Served) -> list[int]:
    """The process id of a served node (none if it is not running)."""
    return [served.process.pid] if served.process is not None else []


@dataclass
class Samples:
    """Everything measured, in seconds."""

    poll_interval: float  # the origin's delivery loop period
    latency: list[list[float]] = field(default_factory=list)  # per alert, per receiver
    raw: list[float] = field(default_factory=list)  # single signed PUTs to one receiver
    fanout: list[float] = field(default_factory=list)  # signed PUTs to every receiver at once
    origin_sent: list[float] = field(default_factory=list)  # per alert: origin's commit -> last request sent
    origin_log: OriginLog | None = None
    cpu_alerts: CpuSpans = field(default_factory=lambda: CpuSpans())  # from before each alert to its last arrival
    commits: list[float] = field(default_factory=list)  # durable commits in N processes at once
    cpu_fanouts: CpuSpans = field(default_factory=lambda: CpuSpans())  # each raw fan-out


async def measure(fed: Federation, alerts: int, seed: int) -> Samples:
    """Warm up, then send `alerts` alerts, each followed by the raw probes; return the samples."""
    assert fed.probe_home is not None
    rng = random.Random(seed)
    origin, probe = Node.open(fed.origin.home), Node.open(fed.probe_home)
    pause = origin.config.delivery.poll_interval
    watches = [InboxWatch(served.home / DB_FILE, origin.node_id) for served in fed.receivers]
    rounds = alerts + 1
    raw = RawProbe(probe, [served.node_id for served in fed.receivers], rounds * RAW_PER_ALERT, rounds)
    samples = Samples(poll_interval=pause, origin_log=OriginLog(fed.origin.log))
    try:
        async with new_session(probe) as session:
            await deliver_one(origin, watches, 0, Samples(poll_interval=pause, origin_log=samples.origin_log))
            await raw.round_trips(session, RAW_PER_ALERT)
            await raw.fanout(session)
            groups = {"origin": pids(fed.origin), "receivers": [pid for s in fed.receivers for pid in pids(s)]}
            for index in range(1, alerts + 1):
                await asyncio.sleep(rng.uniform(0, pause))  # a random moment of the origin's delivery loop
                before, started = Cpu.now(groups), time.perf_counter()
                samples.latency.append(await deliver_one(origin, watches, index, samples))
                samples.cpu_alerts.add(Cpu.now(groups).since(before), time.perf_counter() - started)
                samples.raw += await raw.round_trips(session, RAW_PER_ALERT)
                before, started = Cpu.now(groups), time.perf_counter()
                samples.fanout += await raw.fanout(session)
                samples.cpu_fanouts.add(Cpu.now(groups).since(before), time.perf_counter() - started)
    finally:
        for watch in watches:
            watch.close()
        origin.close()
        probe.close()
    return samples


def _one_commit(path: str, go: Any, done: Any) -> None:
    """In a process of its own: open a database as a node does, wait for `go`, make one durable commit."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
    go.wait()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.execute("COMMIT")
    done.put(time.time())
    conn.close()


def concurrent_commits(base: Path, count: int, rounds: int) -> list[float]:
    """The disk's part of the limit: one durable SQLite commit (WAL, synchronous=FULL, as every node commits) in
    each of `count` processes at once, `rounds` times; the seconds until each commit returned."""
    context = multiprocessing.get_context("fork")
    times: list[float] = []
    for round_ in range(rounds):
        go, done = context.Event(), context.Queue()
        workers = [
            context.Process(target=_one_commit, args=(str(base / f"disk-{round_}-{i}.db"), go, done))
            for i in range(count)
        ]
        for worker in workers:
            worker.start()
        time.sleep(1.0)  # every process has opened its database and waits
        started = time.time()
        go.set()
        times += [done.get(timeout=60) - started for _ in workers]
        for worker in workers:
            worker.join()
    return times


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank p-th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def report(peers: int, samples: Samples) -> None:
    """Print the figures, in milliseconds."""

    def ms(values: list[float], p: float) -> float:
        return percentile(values, p) * 1000.0

    def line(label: str, values: list[float], note: str) -> None:
        text = f"{label:<40} p50 {ms(values, 50):6.1f} ms  p99 {ms(values, 99):6.1f} ms  max {ms(values, 100):6.1f} ms"
        print(f"{text}  {note}".rstrip())

    def ratio(label: str, limit: list[float]) -> None:
        p50, p99 = ms(latency, 50) / ms(limit, 50), ms(latency, 99) / ms(limit, 99)
        print(f"{label:<40} p50 {p50:6.1f}     p99 {p99:6.1f}")

    latency = [value for values in samples.latency for value in values]
    alerts = len(samples.latency)
    print(f"setup: origin + {peers} receivers, each a `praevnet serve` process on 127.0.0.1, {os.cpu_count()} CPUs;")
    print(
        f"       origin's poll_interval {samples.poll_interval} s;"
        f" receivers' databases polled every {WATCH_SLEEP * 1000:.0f} ms"
    )
    line("alert committed -> stored at receiver:", latency, f"({alerts} alerts x {peers} receivers)")
    line("  first receiver of each alert:", [min(values) for values in samples.latency], "")
    line("  last receiver of each alert:", [max(values) for values in samples.latency], "")
    line("raw: one signed inbox PUT of an alert:", samples.raw, f"({len(samples.raw)} round trips to one receiver)")
    ratio("ratio latency / raw:", samples.raw)
    line(f"raw fan-out: that PUT to all {peers} at once:", samples.fanout, f"({alerts} fan-outs)")
    ratio("ratio latency / raw fan-out:", samples.fanout)
    if samples.commits:
        line(f"raw disk: a durable commit in {peers} processes:", samples.commits, f"({DISK_ROUNDS} rounds)")
    if samples.origin_sent:
        line(
            "origin: commit -> last request sent:",
            samples.origin_sent,
            f"({len(samples.origin_sent)} of {alerts} alerts logged as one fan-out)",
        )
    else:
        print("origin: commit -> last request sent:     not logged (no round sent to every receiver at once)")
    print(f"CPU per alert (commit to last stored): {samples.cpu_alerts.describe()}")
    print(f"CPU per raw fan-out:                   {samples.cpu_fanouts.describe()}")
    print(f"target p99 < {TARGET_P99_MS:.0f} ms: {'met' if ms(latency, 99) < TARGET_P99_MS else 'missed'}")


def show_profile(path: Path, lines: int = 30) -> None:
    """Print the origin's profile: the functions with the most time of their own, then by cumulative time."""
    if not path.exists():
        print("no profile was written (the origin did not end normally)")
        return
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(lines)
    stats.sort_stats("cumulative").print_stats(lines)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers", type=int, default=50, help="receiving nodes (default 50)")
    parser.add_argument("--alerts", type=int, default=20, help="alerts to send, one after another (default 20)")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="set the origin's [delivery] poll_interval (default: the node's default)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the origin under cProfile and print where it spends its time (slows the origin down)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the random pauses between alerts (default 1)")
    args = parser.parse_args()
    if args.peers < 1 or args.alerts < 1:
        parser.error("--peers and --alerts must be at least 1")
    if args.poll_interval is not None and args.poll_interval <= 0:
        parser.error("--poll-interval must be positive")
    signal.signal(signal.SIGTERM, _terminate)
    with tempfile.TemporaryDirectory(prefix="praevnet-latency-") as tmp:
        fed = build(Path(tmp), args.peers, args.poll_interval)
        if args.profile:
            fed.origin.profile = Path(tmp) / "origin.prof"
        try:
            started = time.perf_counter()
            start(fed)
            print(f"started {len(fed.served)} serve processes in {time.perf_counter() - started:.1f} s")
            time.sleep(3.0)  # let the pulls every node makes at start finish
            samples = asyncio.run(measure(fed, args.alerts, args.seed))
            samples.commits = concurrent_commits(Path(tmp), args.peers, DISK_ROUNDS)
        except KeyboardInterrupt:
            raise SystemExit("interrupted; stopping every serve process") from None
        finally:
            stop(fed)
        report(args.peers, samples)
        if fed.origin.profile is not None:
            show_profile(fed.origin.profile)


if __name__ == "__main__":
    main()
