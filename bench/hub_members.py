"""Simulated network members for bench.hub_fanout: many listening ports per process, each one member.

Each member has its own Ed25519 key and node id (those the hub admitted) and answers a signed inbox
PUT as a node does on the wire: it verifies the request's RFC 9421 signature (key of the hub or of the
origin, the only nodes it trusts; a nonce is accepted once), parses the transaction strictly, verifies
every envelope's signature with its origin's key, and answers its results signed with its own key,
bound to the request. What is simulated: nothing is stored (no SQLite, no audit, no chain or relay
checks), so a member costs about what the wire protocol costs. Any other request gets a plain 404.

Run by bench.hub_fanout: `python -m bench.hub_members CONFIG.json`. Every member listens on a port the
system picks; the process prints `port NODE_ID PORT` for each, then `ready`, then one line
`arrived NODE_ID RECORD_ID UNIX_TIME` per envelope accepted, and ends on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from protocol.canonical import canonical_bytes, parse
from protocol.envelope import verify_envelope
from protocol.errors import ProtocolError
from protocol.httpsig import HttpRequest, HttpResponse, http_key_id, sign_response, verify_request
from protocol.keys import NodeKey, public_key_from_b64
from protocol.wire import check_txn_id, parse_transaction, result

INBOX = "/fed/v1/inbox/"


class Members:
    """The members served by this process, by port, and the keys they trust."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.keys = [
            (NodeKey.from_seed(bytes.fromhex(member["seed"])), member["node_id"]) for member in config["members"]
        ]
        self.members: dict[int, tuple[NodeKey, str]] = {}  # by the port it listens on
        self.trusted = {
            (node["node_id"], node["key_id"]): public_key_from_b64(node["public"]) for node in config["trusted"]
        }
        self.nonces: set[str] = set()

    def resolve(self, node_id: str, key_id: str) -> bytes | None:
        """A trusted node's public key, or None."""
        return self.trusted.get((node_id, key_id))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer a signed inbox PUT as a node does; 404 for anything else."""
        port = request.transport.get_extra_info("sockname")[1] if request.transport else 0
        if request.method != "PUT" or not request.path.startswith(INBOX) or port not in self.members:
            return web.Response(status=404)
        key, node_id = self.members[port]
        body = await request.read()
        url = f"http://127.0.0.1:{port}{request.path_qs}"
        try:
            check_txn_id(request.path[len(INBOX) :])
            info = verify_request(request.method, url, request.headers.items(), body, self.resolve)
            nonce = http_key_id(info.node_id, info.key_id) + " " + info.nonce
            if nonce in self.nonces:
                raise ProtocolError("replayed request: this nonce was already used")
            self.nonces.add(nonce)
            envelopes = parse_transaction(parse(body))
        except ProtocolError as exc:
            return web.Response(status=401 if "signature" in str(exc).lower() else 400, text=str(exc))
        results = []
        for index, envelope in enumerate(envelopes):
            try:
                verified = verify_envelope(envelope, self.resolve)
            except ProtocolError as exc:
                results.append(result(index, envelope, "refused", str(exc)))
                continue
            results.append(result(index, envelope, "accepted"))
            print(f"arrived {node_id} {verified.id} {time.time():.6f}", flush=True)
        answer = canonical_bytes({"results": results})
        signed = HttpResponse(200, {}, HttpRequest(request.method, url, dict(request.headers.items())))
        sign_response(signed, answer, key, node_id)
        return web.Response(body=answer, status=200, content_type="application/json", headers=signed.headers)


async def serve(config: dict[str, Any]) -> None:
    """Listen on every member's port until SIGTERM."""
    members = Members(config)
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", members.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for key, node_id in members.keys:
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        port = int(listening.getsockname()[1])
        members.members[port] = (key, node_id)
        await web.SockSite(runner, listening, backlog=1024).start()
        print(f"port {node_id} {port}", flush=True)
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    print("ready", flush=True)
    await stopped.wait()
    await runner.cleanup()


def main() -> None:
    """Command-line entry point: the path of the JSON config bench.hub_fanout wrote."""
    asyncio.run(serve(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))


if __name__ == "__main__":
    main()
