"""Hub fan-out: one alert relayed by a network hub to every member (default 1,000), until all have it.

The hub is a real `praevnet serve` process (the operator of network "Bench", so a hub), its home created
through the Python API: every member admitted with its descriptor (node.networks.operator.admit_member),
so trusted as a network peer. The members are simulated (bench.hub_members): several processes, each
listening on many loopback ports, one member per port with its own key; each verifies the request's
RFC 9421 signature, parses the transaction, verifies the envelope's signature with its origin's key and
answers signed with its own key, as a node does on the wire, but stores nothing. The origin is the bench
itself, one more admitted member: it PUTs one network-scoped alert, signed as the origin, into the hub's
inbox; the hub accepts it, queues one relay per other member and its delivery loop sends one signed PUT
per member, at most node.exchange.worker.MAX_SENDING at once.

Measured from the moment the origin's PUT starts until each member has verified the alert (clocks of
the same machine): p50, p99 and the last member, the hub's CPU time (user + system, /proc) over that
span, and how many it reached within the 5 s target. The raw limit, in the same run: the bench sends
the same kind of signed PUT (one pre-signed envelope) directly to every member, MAX_SENDING at once,
from one process: the time until the last member answered and that process's CPU time.

Run: .venv/bin/python -m bench.hub_fanout [--members N] [--processes P]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w

from bench.alert_latency import Served, alert_content, child_env, free_port, percentile, show_profile
from bench.cputime import Cpu, cpu_seconds, own_cpu
from node.exchange.worker import MAX_SENDING
from node.home import CONFIG_FILE, DB_FILE, Node
from node.networks.operator import admit_member, create_network
from node.store import now
from node.users import ADMIN
from protocol.canonical import canonical_bytes, parse
from protocol.descriptor import build_descriptor
from protocol.envelope import build_envelope, envelope_ref
from protocol.httpsig import HttpRequest, sign_request, verify_response
from protocol.keys import NodeKey, fingerprint, node_id_for

TARGET_SECONDS = 5.0
READY_TIMEOUT = 120.0
ARRIVAL_TIMEOUT = 120.0


@dataclass
class Member:
    """A simulated member: its key, node id and port."""

    key: NodeKey
    port: int = 0  # where its simulated member listens, once started

    @property
    def node_id(self) -> str:
        """The member's node id."""
        return node_id_for(self.key.public)

    @property
    def url(self) -> str:
        """The member's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def descriptor(self, name: str) -> dict[str, Any]:
        """Its self-signed descriptor, as the hub would fetch it."""
        return build_descriptor(
            [self.key], node_id=self.node_id, name=name, url=self.url, valid_until=now() + timedelta(days=7)
        )


def trusted_entry(key: NodeKey) -> dict[str, str]:
    """A key a simulated member trusts, as bench.hub_members reads it."""
    return {"node_id": node_id_for(key.public), "key_id": key.key_id, "public": key.public_b64}


async def build(hub: Served, origin: Member, members: list[Member]) -> str:
    """Create the hub's home and network and admit the origin and the members (listening already)."""
    config = hub.home / CONFIG_FILE
    settings = tomllib.loads(config.read_text(encoding="utf-8"))
    settings.setdefault("delivery", {})["pull_interval"] = 86400.0  # no scheduled pulls while measuring
    config.write_text(tomli_w.dumps(settings), encoding="utf-8")
    node = Node.open(hub.home)
    try:
        hub.node_id = node.node_id
        network = str(create_network(node, "Bench", by=ADMIN)["id"])
        for index, member in enumerate([origin, *members]):
            await admit_member(
                node,
                member.url,
                fingerprint(member.key.public),
                lifetime=timedelta(days=30),
                descriptor=member.descriptor(f"Mitglied {index}"),
                by=ADMIN,
            )
    finally:
        node.close()
    return network


@dataclass
class Simulation:
    """The member processes and the arrivals they report."""

    processes: list[asyncio.subprocess.Process] = field(default_factory=list)
    arrivals: dict[str, dict[str, float]] = field(default_factory=dict)  # record id -> member -> unix time
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self, base: Path, members: list[Member], trusted: list[dict[str, str]], processes: int) -> None:
        """Start the member processes, wait until every member listens, and note each one's port."""
        by_id = {member.node_id: member for member in members}
        for part in range(processes):
            share = members[part::processes]
            path = base / f"members-{part}.json"
            entries = [{"seed": m.key.seed.hex(), "node_id": m.node_id} for m in share]
            path.write_text(json.dumps({"members": entries, "trusted": trusted}), encoding="utf-8")
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.hub_members", str(path), stdout=subprocess.PIPE, env=child_env()
            )
            self.processes.append(process)
        for process in self.processes:
            assert process.stdout is not None
            while (line := await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT)).startswith(b"port "):
                _, node_id, port = line.decode().split()
                by_id[node_id].port = int(port)
            if line.strip() != b"ready":
                raise SystemExit("a member process did not start")
            self.readers.append(asyncio.create_task(self._read(process)))

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            word, member, record, moment = line.decode().split()
            if word == "arrived":
                self.arrivals.setdefault(record, {}).setdefault(member, float(moment))

    async def wait_for(self, record: str, count: int) -> dict[str, float]:
        """Wait until `count` members have reported `record`; return when each got it."""
        deadline = time.monotonic() + ARRIVAL_TIMEOUT
        while len(self.arrivals.get(record, {})) < count:
            if time.monotonic() > deadline:
                got = len(self.arrivals.get(record, {}))
                raise SystemExit(f"only {got} of {count} members received {record} within {ARRIVAL_TIMEOUT:.0f} s")
            await asyncio.sleep(0.005)
        return self.arrivals[record]

    async def stop(self) -> None:
        """Stop every member process."""
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in self.processes:
            await process.wait()
        for reader in self.readers:
            reader.cancel()


def network_alert(origin: Member, network: str, seq: int, prev: str | None = None) -> dict[str, Any]:
    """A network-scoped alert signed by the origin, after the one `prev` refers to."""
    return build_envelope(
        origin.key,
        origin=origin.node_id,
        kind="alert",
        record_id=uuid.uuid4().hex,
        version=1,
        tlp="TLP:GREEN",
        seq=seq,
        prev=prev,
        created=now(),
        content=alert_content(seq),
        network=network,
    )


async def signed_put(
    session: aiohttp.ClientSession, sender: Member, receiver: Member | Served, envelope: dict[str, Any], key: bytes
) -> None:
    """PUT one envelope to an inbox signed as `sender`; verify the signed answer by `key`, insist on `accepted`."""
    body = canonical_bytes({"envelopes": [envelope]})
    target = f"{receiver.url}/fed/v1/inbox/{uuid.uuid4().hex}"
    request = HttpRequest("PUT", target, {"Content-Type": "application/json"})
    sign_request(request, body, sender.key, sender.node_id)
    async with session.put(target, data=body, headers=request.headers) as response:
        answer = await response.read()
        status, headers = response.status, list(response.headers.items())
    if status != 200 or parse(answer)["results"][0]["status"] != "accepted":
        raise SystemExit(f"{target} did not accept the envelope: HTTP {status} {answer[:300]!r}")
    verify_response(status, headers, answer, request, lambda node_id, key_id: key)


def pending_relays(hub: Served) -> int:
    """Relays the hub has not finished yet (its database, read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{hub.home / DB_FILE}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM relays WHERE state = 'pending'").fetchone()[0])


async def relays_recorded(hub: Served) -> None:
    """Wait until the hub has recorded the outcome of every relay (polling its database, read-only)."""
    while True:
        if not pending_relays(hub):
            return
        await asyncio.sleep(0.01)


async def settle(pid: int, quiet: float = 0.05) -> None:
    """Wait until the hub uses less than `quiet` s of CPU per second (its start-up pulls are over)."""
    before = cpu_seconds(pid)
    while True:
        await asyncio.sleep(1.0)
        after = cpu_seconds(pid)
        if after - before < quiet:
            return
        before = after


async def measure(base: Path, count: int, processes: int, profile: bool = False) -> dict[str, Any]:
    """Build, start, relay one alert through the hub, then the raw fan-out; return the figures."""
    hub = Served("Knotenstadt", base / "hub", free_port(), profile=base / "hub.prof" if profile else None)
    hub.init()
    with contextlib.closing(Node.open(hub.home)) as node:
        hub_key = node.key
    origin = Member(NodeKey.generate(), free_port())  # never listens: it only sends
    members = [Member(NodeKey.generate()) for _ in range(count)]
    sim = Simulation()
    await sim.start(base, members, [trusted_entry(hub_key), trusted_entry(origin.key)], processes)
    try:
        network = await build(hub, origin, members)
        hub.launch()
        deadline = time.monotonic() + READY_TIMEOUT
        while not hub.ready():
            if time.monotonic() > deadline:
                raise SystemExit("the hub did not start")
            await asyncio.sleep(0.2)
        assert hub.process is not None
        await settle(hub.process.pid)
        connector = aiohttp.TCPConnector(limit=MAX_SENDING)
        async with aiohttp.ClientSession(connector=connector) as session:
            alert = network_alert(origin, network, 1)
            pids = [process.pid for process in sim.processes]
            groups = {"hub": [hub.process.pid], "members": pids}
            cpu_at_start = Cpu.now(groups)
            cpu_before, started = cpu_seconds(hub.process.pid), time.time()
            await signed_put(session, origin, hub, alert, hub_key.public)
            accepted = time.time() - started
            arrived = await sim.wait_for(alert["id"], count)
            cpu_spent = cpu_seconds(hub.process.pid) - cpu_before
            relay_cpu = Cpu.now(groups).since(cpu_at_start)
            await relays_recorded(hub)
            cpu_done, finished = cpu_seconds(hub.process.pid) - cpu_before, time.time() - started
            # the raw limit: bare signed PUTs from one process
            raw_alert = network_alert(origin, network, 2, envelope_ref(alert))
            raw_at_start = Cpu.now(groups)
            raw_cpu, raw_started = own_cpu(), time.time()
            await asyncio.gather(*(signed_put(session, origin, m, raw_alert, m.key.public) for m in members))
            raw_wall, raw_cpu = time.time() - raw_started, own_cpu() - raw_cpu
            raw_split = Cpu.now(groups).since(raw_at_start)
            raw_arrived = await sim.wait_for(raw_alert["id"], count)
    finally:
        await sim.stop()
        if hub.process is not None and hub.process.poll() is None:
            hub.process.terminate()
            hub.process.wait(timeout=15)
        if hub.profile is not None:
            show_profile(hub.profile)
    return {
        "reached": sorted(moment - started for moment in arrived.values()),
        "accepted": accepted,
        "cpu_spent": cpu_spent,
        "cpu_done": cpu_done,
        "finished": finished,
        "raw": sorted(moment - raw_started for moment in raw_arrived.values()),
        "raw_wall": raw_wall,
        "raw_cpu": raw_cpu,
        "relay_cpu": relay_cpu,
        "raw_split": raw_split,
    }


def report(count: int, processes: int, figures: dict[str, Any]) -> None:
    """Print the figures."""
    reached, raw = figures["reached"], figures["raw"]
    last, raw_last = reached[-1], figures["raw_wall"]
    within = sum(1 for value in reached if value <= TARGET_SECONDS)
    print(
        f"setup: hub = a `praevnet serve` process; {count} simulated members in {processes} processes"
        f" (bench.hub_members: verify signature and envelope, answer signed, store nothing); {os.cpu_count()} CPUs"
    )
    print(f"origin's PUT accepted by the hub:          {figures['accepted'] * 1000:7.1f} ms")
    print(
        f"hub relay -> member verified it:           p50 {percentile(reached, 50):6.2f} s  "
        f"p99 {percentile(reached, 99):6.2f} s  last {last:6.2f} s  ({within} of {count} within {TARGET_SECONDS:.0f} s)"
    )
    print(f"hub CPU until the last member had it:      {figures['cpu_spent']:6.2f} s  (wall {last:6.2f} s)")
    print(
        f"hub CPU until every relay was recorded:    {figures['cpu_done']:6.2f} s  (wall {figures['finished']:6.2f} s)"
    )
    print(
        f"raw: the signed PUT to all {count} from one process, {MAX_SENDING} at once: last answer {raw_last:6.2f} s,"
        f" p50 arrival {percentile(raw, 50):6.2f} s; CPU {figures['raw_cpu']:6.2f} s"
    )
    print(f"ratio hub / raw (last member):             {last / raw_last:6.1f}")
    print(f"CPU while the hub relayed:  {figures['relay_cpu'].describe(last)}")
    print(f"CPU during the raw fan-out: {figures['raw_split'].describe(raw_last)}")
    print(f"target: all {count} within {TARGET_SECONDS:.0f} s: {'met' if within == count else 'missed'}")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1000, help="simulated members (default 1000)")
    parser.add_argument("--processes", type=int, default=4, help="processes the members run in (default 4)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the hub under cProfile and print where it spends its time (slows the hub down)",
    )
    args = parser.parse_args()
    if args.members < 1 or args.processes < 1:
        parser.error("--members and --processes must be at least 1")
    processes = min(args.processes, args.members)
    with tempfile.TemporaryDirectory(prefix="praevnet-hub-") as tmp:
        started = time.perf_counter()
        figures = asyncio.run(measure(Path(tmp), args.members, processes, args.profile))
        print(f"(setup and run took {time.perf_counter() - started:.0f} s)")
    report(args.members, processes, figures)


if __name__ == "__main__":
    main()
