"""Ingest throughput: signed records pushed through a real node's inbox over loopback HTTP.

Prints records/s ingested into an empty node beside the raw Ed25519 verifications/s measured in the same
run, and their ratio; then how fast the serving node's worker indexes those records for search afterwards
(node.exchange.indexing). The pushing peer runs in a process of its own (a peer is another machine, but
here it shares the cores), and the CPU each process spent per batch is printed with the rate that would
leave no core idle: the limit of this machine for that much work per record. With --preload N, a second
node first gets N records of a fake peer written straight into SQLite (inbox rows and the search index as
the node would hold them; not measured), and the rate into it is printed beside the rate into the empty
node. The raw rate is measured before, between and after the runs; the ratios use their mean. Last, each
step of a batch's path is timed alone in one quiet process (bench.ingest_steps), beside the time a batch
may take at the target ratio.

Run: .venv/bin/python -m bench.ingest [--records N] [--preload N] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import os
import pstats
import socket
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.ingest_steps import STEPS, step_budget
from node.exchange.indexing import index_some
from node.exchange.server import create_app
from node.exchange.verify_pool import worker_count
from node.home import Node, init_home
from node.migrations import index_pending
from node.migrations.search_index import search_pending_schema
from node.store import now_text, write
from node.trust.peers import trust_descriptor
from protocol.canonical import canonical_bytes
from protocol.descriptor import build_descriptor
from protocol.envelope import build_envelope, envelope_ref
from protocol.httpsig import HttpRequest, sign_request
from protocol.keys import NodeKey, fingerprint, node_id_for, verify
from protocol.wire import MAX_ENVELOPES

CONTENT: dict[str, Any] = {
    "title": "Kommunale Präventionsarbeit im Quartier",
    "summary": "Ein Projekt zur Stärkung des Sicherheitsgefühls. " * 8,
    "problem": "Ausgangslage mit lokaler Sicherheitsanalyse. " * 12,
    "measures": "Maßnahmen und Wirkannahmen. " * 12,
    "topics": ["öffentlicher Raum", "Nachbarschaft"],
}
PRELOAD_CHUNK = 10_000  # rows per statement batch while preloading
TARGET = 0.6  # of the raw Ed25519 rate: issue 14's target for ingest


def raw_verify_rate(seconds: float = 1.0) -> float:
    """Ed25519 verifications per second of a ~500-byte message on this machine, right now."""
    key = NodeKey.generate()
    message = b"x" * 500
    signature = key.sign(message)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            verify(key.public, signature, message)
        count += 200
    return count / (time.perf_counter() - start)


def make_envelopes(sender: NodeKey, total: int, prefix: str = "bench") -> list[dict[str, Any]]:
    """Signed envelopes of one origin chain."""
    origin, prev, envelopes = node_id_for(sender.public), None, []
    for seq in range(1, total + 1):
        envelope = build_envelope(
            sender,
            origin=origin,
            kind="experience",
            record_id=f"{prefix}{seq:08d}",
            version=1,
            tlp="TLP:AMBER",
            seq=seq,
            prev=prev,
            created=datetime.now(UTC),
            content=CONTENT,
        )
        prev = envelope_ref(envelope)
        envelopes.append(envelope)
    return envelopes


def make_batches(sender: NodeKey, total: int) -> list[bytes]:
    """Signed envelopes of one origin chain, as transaction bodies of 50."""
    envelopes = make_envelopes(sender, total)
    return [canonical_bytes({"envelopes": envelopes[i : i + MAX_ENVELOPES]}) for i in range(0, total, MAX_ENVELOPES)]


def preload(node: Node, total: int) -> None:
    """Write `total` records of a fake peer straight into the node's SQLite: inbox rows, and their search
    documents and trigram index as the node holds them once its worker indexed them.

    One real envelope is stored and indexed the node's way; the others repeat its text under their own
    record ids and seqs (nothing verifies stored rows at ingest), and their search documents repeat its
    folded columns, inserted so the index's triggers fill the shards as they would have.
    """
    fake = NodeKey.generate()
    origin = node_id_for(fake.public)
    [template] = make_envelopes(fake, 1, prefix="preload")
    text = canonical_bytes(template).decode()
    ref, stamp = envelope_ref(template), now_text()
    columns = "origin, seq, id, version, kind, tlp, ref, envelope, sender, received"
    with write(node.db) as conn:
        conn.execute(
            f"INSERT INTO inbox ({columns}) VALUES (?,?,?,1,'experience','TLP:AMBER',?,?,?,?)",
            (origin, 1, template["id"], ref, text, origin, stamp),
        )
        index_pending(conn)
        doc = conn.execute(
            "SELECT kind, tlp, created, received, expires, evidence, topics, folded FROM search_docs WHERE origin = ?",
            (origin,),
        ).fetchone()
        conn.execute("DROP TRIGGER search_inbox_insert_queued")  # these rows are indexed below, not queued
        try:
            for start in range(2, total + 1, PRELOAD_CHUNK):
                seqs = range(start, min(start + PRELOAD_CHUNK, total + 1))
                conn.executemany(
                    f"INSERT INTO inbox ({columns}) VALUES (?,?,?,1,'experience','TLP:AMBER',?,?,?,?)",
                    [(origin, seq, f"preload{seq:08d}", ref, text, origin, stamp) for seq in seqs],
                )
                conn.executemany(
                    """INSERT INTO search_docs (shard, origin, record_id, version, seq, kind, tlp, created, received,
                       expires, evidence, topics, folded) VALUES (
                       coalesce((SELECT shard FROM search_shards WHERE docs < 2000 ORDER BY shard LIMIT 1), 63),
                       ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    [(origin, f"preload{seq:08d}", seq, *doc) for seq in seqs],
                )
        finally:
            conn.execute(search_pending_schema()[-1])  # the queueing trigger, as migration 0020 made it


@dataclass
class Figures:
    """What one run into a node measured."""

    rate: float  # records/s ingested
    indexing: float  # records/s the worker then indexes for search
    floor: float  # records/s when the same transactions come again: transport, auth and parsing only
    commit_ms: float  # one durable commit of a small write on the node's database
    node_cpu: float  # CPU seconds of the node's process while it took the records
    workers_cpu: float  # CPU seconds of its verification workers meanwhile
    peer_cpu: float  # CPU seconds of the pushing peer's process meanwhile
    floor_cpu: float  # CPU seconds of node and peer while the same transactions came again


async def push(session: aiohttp.ClientSession, url: str, bodies: list[bytes], sender: NodeKey, first: int = 0) -> float:
    """Send the bodies one after another as inbox transactions bench<first>, bench<first+1>, ...; return the
    seconds taken."""
    sender_id = node_id_for(sender.public)
    start = time.perf_counter()
    for index, body in enumerate(bodies):
        target = f"{url}/fed/v1/inbox/bench{first + index}"
        request = HttpRequest("PUT", target, {"Content-Type": "application/json"})
        sign_request(request, body, sender, sender_id)
        async with session.put(target, data=body, headers=request.headers) as response:
            if response.status != 200:
                raise SystemExit(f"inbox answered {response.status}: {await response.text()}")
            await response.read()
    return time.perf_counter() - start


def _peer_pushes(url: str, bodies: list[bytes], seed: bytes, first: int) -> tuple[float, float, int]:
    """Run in the peer's process: push the bodies; return the seconds taken, the peer's CPU seconds and its pid."""

    async def pushing() -> float:
        async with aiohttp.ClientSession() as session:
            return await push(session, url, bodies, NodeKey.from_seed(seed), first)

    cpu = time.process_time()
    elapsed = asyncio.run(pushing())
    return elapsed, time.process_time() - cpu, os.getpid()


async def push_from_peer(
    peer: ProcessPoolExecutor, url: str, bodies: list[bytes], sender: NodeKey, first: int = 0
) -> tuple[float, float, int]:
    """`push` from the peer's own process (a peer is another machine), while this process serves the node;
    return the seconds taken, the CPU seconds the peer spent and its pid."""
    return await asyncio.get_running_loop().run_in_executor(peer, _peer_pushes, url, bodies, sender.seed, first)


def children_cpu(exclude: int) -> float:
    """CPU seconds (user + system) so far of this process's live child processes but `exclude` (Linux /proc)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            if int(pid) == exclude:
                continue
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def commit_ms(node: Node, rounds: int = 50) -> float:
    """Milliseconds of one durable write transaction of a small row on the node's database (median)."""
    node.db.execute("CREATE TABLE IF NOT EXISTS bench_commit (n INTEGER)")
    times = []
    for n in range(rounds):
        start = time.perf_counter()
        with write(node.db) as conn:
            conn.execute("INSERT INTO bench_commit VALUES (?)", (n,))
        times.append(time.perf_counter() - start)
    node.db.execute("DROP TABLE bench_commit")
    return statistics.median(times) * 1000


async def ingest_into(home: Path, total: int, preloaded: int, profile: cProfile.Profile | None) -> Figures:
    """A node at `home` (with `preloaded` records written first) takes `total` records from a peer through
    its inbox, after one transaction of warm-up (which starts its verification workers); then the worker
    indexes them for search, and the same transactions are sent again (answered from what is stored)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    init_home(home, name="Empfängerstadt", url=url)
    node = Node.open(home)
    if preloaded:
        preload(node, preloaded)
    sender = NodeKey.generate()
    sender_id = node_id_for(sender.public)
    descriptor = build_descriptor(
        [sender],
        node_id=sender_id,
        name="Senderstadt",
        url="http://127.0.0.1:9",
        valid_until=datetime.now(UTC) + timedelta(days=1),
    )
    trust_descriptor(node, "http://127.0.0.1:9", fingerprint(sender.public), descriptor)
    runner = web.AppRunner(create_app(node, background=False), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    bodies = make_batches(sender, total + MAX_ENVELOPES)
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as peer:
            await push_from_peer(peer, url, bodies[:1], sender)  # warm-up: starts the workers and the peer
            if profile is not None:
                profile.enable()
            *_, peer_pid = await push_from_peer(peer, url, bodies[:0], sender)
            node_cpu, workers_cpu = time.process_time(), children_cpu(exclude=peer_pid)
            elapsed, peer_cpu, _ = await push_from_peer(peer, url, bodies[1:], sender, first=1)
            node_cpu, workers_cpu = time.process_time() - node_cpu, children_cpu(exclude=peer_pid) - workers_cpu
            if profile is not None:
                profile.disable()
            stored = node.db.execute("SELECT count(*) FROM inbox WHERE origin = ?", (sender_id,)).fetchone()[0]
            if stored != total + MAX_ENVELOPES:
                raise SystemExit(f"stored {stored} of {total + MAX_ENVELOPES} records")
            floor_cpu = time.process_time()
            again, peer_again, _ = await push_from_peer(peer, url, bodies[1:], sender, first=1)  # stored answers
            floor_cpu = time.process_time() - floor_cpu + peer_again
        start = time.perf_counter()
        while index_some(node):
            pass
        indexing = time.perf_counter() - start
        commit = commit_ms(node)
    finally:
        await runner.cleanup()
        node.close()
    return Figures(total / elapsed, total / indexing, total / again, commit, node_cpu, workers_cpu, peer_cpu, floor_cpu)


async def run(total: int, preloaded: int = 0, profile: bool = False) -> None:
    """Push `total` records into an empty node (and into one holding `preloaded` records), print the figures."""
    profiler = cProfile.Profile() if profile else None
    limits = [raw_verify_rate()]
    with tempfile.TemporaryDirectory() as tmp:
        empty = await ingest_into(Path(tmp) / "empty", total, 0, profiler)
        limits.append(raw_verify_rate())
        if preloaded:
            started = time.perf_counter()
            full = await ingest_into(Path(tmp) / "preloaded", total, preloaded, None)
            setup = time.perf_counter() - started
            limits.append(raw_verify_rate())
    limit = statistics.mean(limits)
    print(
        f"ingest through the inbox: {empty.rate:,.0f} records/s into an empty node ({total} records, batches of "
        f"{MAX_ENVELOPES}, one transaction at a time; signatures checked in {worker_count(-1)} worker processes)"
    )
    if preloaded:
        print(
            f"                          {full.rate:,.0f} records/s into a node holding {preloaded:,} records "
            f"({full.rate / empty.rate:.2f} of the empty node's rate; preloading and the run took {setup:,.0f} s)"
        )
    print(f"raw Ed25519 verify:       {limit:,.0f} verifications/s (mean of {', '.join(f'{x:,.0f}' for x in limits)})")
    print(
        f"ratio:                    {empty.rate / limit:.3f} empty"
        + (f", {full.rate / limit:.3f} preloaded" if preloaded else "")
        + " (1.0 would be one verification per record and nothing else)"
    )
    batch = MAX_ENVELOPES / empty.rate * 1000
    floor = MAX_ENVELOPES / empty.floor * 1000
    print(f"one batch of {MAX_ENVELOPES} took {batch:.2f} ms into the empty node, of which at least:")
    print(
        f"  {floor:.2f} ms transport: the same transactions again, answered from what is stored (HTTP both ways, "
        f"request signature and digest, parsing): {empty.floor:,.0f} records/s"
    )
    print(f"  {empty.commit_ms:.2f} ms one durable commit (a small write transaction, synchronous=FULL, same disk)")
    print(
        f"  leaving {batch - floor - empty.commit_ms:.2f} ms ({(batch - floor - empty.commit_ms) / batch:.0%}) for "
        "preparing and storing the batch in the node's process; the signature checks overlap with it"
    )
    batches = total / MAX_ENVELOPES
    node_ms, workers_ms, peer_ms = (cpu / batches * 1000 for cpu in (empty.node_cpu, empty.workers_cpu, empty.peer_cpu))
    spent = node_ms + workers_ms + peer_ms
    cores = len(os.sched_getaffinity(0))
    ceiling = MAX_ENVELOPES / spent * 1000 * cores
    print(
        f"CPU per batch:            node's process {node_ms:.2f} ms, its verification workers {workers_ms:.2f} ms, "
        f"the pushing peer {peer_ms:.2f} ms: {spent:.2f} ms on {cores} cores"
    )
    alone = MAX_ENVELOPES / node_ms * 1000
    print(
        f"  so on this machine at most {ceiling:,.0f} records/s ({ceiling / limit:.2f} of raw) even if they "
        f"overlapped perfectly; the node's process alone allows {alone:,.0f}/s ({alone / limit:.2f} of raw: with "
        "one transaction in flight per peer, SPEC 8.2, its work per batch cannot overlap with the next batch's)"
    )
    serial = empty.floor_cpu / batches * 1000  # the part of each batch that nothing else overlaps with
    bound = floor + (spent - serial) / cores
    print(
        f"  one transaction in flight: the {floor:.2f} ms of the repeat ({serial:.2f} ms CPU of node and peer) "
        f"come before and after each batch's own work, and only the other {spent - serial:.2f} ms can split over "
        f"{cores} cores: at most {MAX_ENVELOPES / bound * 1000:,.0f} records/s "
        f"({MAX_ENVELOPES / bound * 1000 / limit:.2f} of raw) with this much work per batch"
    )
    print(
        f"search indexing after:    {empty.indexing:,.0f} records/s (the serving worker's queue, "
        "node.exchange.indexing)"
    )
    show_steps(limit, peer_ms)
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def show_steps(limit: float, peer_ms: float) -> None:
    """Print bench.ingest_steps' budget of one batch beside what a batch may take at the target ratio."""
    with tempfile.TemporaryDirectory() as tmp:
        budget = step_budget(Path(tmp) / "steps", make_envelopes)
    print(f"steps of one batch of {MAX_ENVELOPES}, each timed alone in one quiet process (bench.ingest_steps):")
    for name, what in STEPS:
        print(f"  {budget[name]:6.2f} ms  {name}: {what}")
    checks = budget["Ed25519 checks"]
    alone = sum(budget.values()) - checks
    allowed = MAX_ENVELOPES / (TARGET * limit) * 1000
    print(
        f"  {alone:6.2f} ms  in all but the Ed25519 checks, in the node's process; the checks' {checks:.2f} ms go "
        f"mostly to the workers. At {TARGET} of raw a batch may take {allowed:.2f} ms in all, the peer's "
        f"{peer_ms:.2f} ms and the transport included"
    )


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=5000, help="records pushed into each node (default 5000)")
    parser.add_argument(
        "--preload", type=int, default=0, help="also push into a node holding this many records (default: none)"
    )
    parser.add_argument("--profile", action="store_true", help="print where ingest into the empty node spends its time")
    arguments = parser.parse_args()
    if arguments.records < MAX_ENVELOPES or arguments.preload < 0:
        parser.error(f"--records must be at least {MAX_ENVELOPES} and --preload at least 0")
    asyncio.run(run(arguments.records, arguments.preload, arguments.profile))


if __name__ == "__main__":
    main()
