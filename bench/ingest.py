"""Ingest throughput: signed records pushed through a real node's inbox over loopback HTTP.

Prints records/s ingested beside the raw Ed25519 verifications/s measured in the same run, and
their ratio. Run: .venv/bin/python -m bench.ingest [--records N]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from node.exchange.server import create_app
from node.home import Node, init_home
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


def make_batches(sender: NodeKey, total: int) -> list[bytes]:
    """Signed envelopes of one origin chain, as transaction bodies of 50."""
    origin, prev, envelopes = node_id_for(sender.public), None, []
    for seq in range(1, total + 1):
        envelope = build_envelope(
            sender,
            origin=origin,
            kind="experience",
            record_id=f"bench{seq:08d}",
            version=1,
            tlp="TLP:AMBER",
            seq=seq,
            prev=prev,
            created=datetime.now(UTC),
            content=CONTENT,
        )
        prev = envelope_ref(envelope)
        envelopes.append(envelope)
    return [canonical_bytes({"envelopes": envelopes[i : i + MAX_ENVELOPES]}) for i in range(0, total, MAX_ENVELOPES)]


async def run(total: int) -> None:
    """Start a node, push `total` records into its inbox, and print the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        init_home(Path(tmp) / "receiver", name="Empfängerstadt", url=url)
        node = Node.open(Path(tmp) / "receiver")
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
        bodies = make_batches(sender, total)
        async with aiohttp.ClientSession() as session:
            start = time.perf_counter()
            for index, body in enumerate(bodies):
                target = f"{url}/fed/v1/inbox/bench{index}"
                request = HttpRequest("PUT", target, {"Content-Type": "application/json"})
                sign_request(request, body, sender, sender_id)
                async with session.put(target, data=body, headers=request.headers) as response:
                    if response.status != 200:
                        raise SystemExit(f"inbox answered {response.status}: {await response.text()}")
                    await response.read()
            elapsed = time.perf_counter() - start
        stored = node.db.execute("SELECT count(*) FROM inbox").fetchone()[0]
        await runner.cleanup()
        node.close()
    if stored != total:
        raise SystemExit(f"stored {stored} of {total} records")
    rate = total / elapsed
    limit = raw_verify_rate()
    print(f"ingest through the inbox: {rate:,.0f} records/s ({total} records, batches of {MAX_ENVELOPES})")
    print(f"raw Ed25519 verify:       {limit:,.0f} verifications/s")
    print(f"ratio:                    {rate / limit:.3f} (1.0 would be one verification per record and nothing else)")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=5000)
    asyncio.run(run(parser.parse_args().records))


if __name__ == "__main__":
    main()
