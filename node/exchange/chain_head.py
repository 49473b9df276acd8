"""The chain head: which is the newest envelope of a node's own chain that its peers hold (SPEC 8.11).

Answering: `GET /fed/v1/chain-head`, a signed request from a trusted peer with no query and no body, is
answered with the tombstone of the newest envelope this node holds whose origin is the requester (or
null). Asking: while this node's chain is pending (node.sharing.chain: after a restore, or after a
peer refused one of our envelopes as a fork), `chain_loop` asks every peer it can reach, verifies each
answer as an envelope this node signed itself (a peer can report no seq we never signed), and lets
node.sharing.reseal continue the chain after the newest; until at least one peer has answered, none of
our envelopes above the hold leaves.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
from aiohttp import web

from node.errors import PeerError
from node.exchange.gate import authenticate
from node.home import Node
from node.sharing.chain import held_above
from node.sharing.reseal import Head, adopt_head
from node.transport.client import HttpFailure, signed_request
from node.trust.peers import list_peers
from protocol.canonical import canonical_bytes
from protocol.envelope import redact, verify_envelope
from protocol.errors import ProtocolError
from protocol.wire import parse_chain_head

log = logging.getLogger("praevnet.chain")
PATH = "/fed/v1/chain-head"
ASK_TIMEOUT = 30.0  # seconds for one peer's answer
CHECK_INTERVAL = 1.0  # seconds between two looks at whether the chain is pending


class ChainHeadEndpoint:
    """The handler of `GET /fed/v1/chain-head` for one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def answer(self, request: web.Request) -> web.Response:
        """Authenticate the peer, then answer with the newest envelope of its chain held here, as a tombstone."""
        peer, body = await authenticate(self.node, request)
        if request.query:
            raise web.HTTPBadRequest(text=f"unknown query parameter {sorted(request.query)[0]!r}")
        if body:
            raise web.HTTPBadRequest(text="this request takes no body")
        found = self.node.db.execute(
            "SELECT envelope FROM inbox WHERE origin = ? ORDER BY seq DESC LIMIT 1", (peer["node_id"],)
        ).fetchone()
        envelope = redact(json.loads(found[0])) if found is not None else None
        return web.Response(body=canonical_bytes({"envelope": envelope}), content_type="application/json")


def _own_keys(node: Node) -> Any:
    keys = {key.key_id: key.public for key in node.keys.values()}

    def resolve(origin: str, key_id: str) -> bytes | None:
        return keys.get(key_id) if origin == node.node_id else None

    return resolve


async def ask(node: Node, session: aiohttp.ClientSession, peer: dict[str, Any]) -> Head | None:
    """The (seq, ref) of the newest envelope of this node's chain that `peer` holds, or None if it holds none
    (or answers 404: a node without this endpoint). PeerError if the answer is missing or not acceptable: it
    must be a tombstone of an envelope this node signed, under one of its own keys."""
    try:
        answer = await signed_request(node, session, peer, "GET", PATH)
    except HttpFailure as exc:
        if exc.status == 404:
            return None
        raise
    try:
        envelope = parse_chain_head(answer)
        if envelope is None:
            return None
        verified = verify_envelope(envelope, _own_keys(node))
    except ProtocolError as exc:
        raise PeerError(f"refusing the chain head from {peer['url']}: {exc}") from None
    return verified.seq, verified.ref


async def learn_chain_head(node: Node, session: aiohttp.ClientSession) -> dict[str, Any]:
    """Ask every peer that can be reached (all but the pull-only ones) at once, and continue the chain after the
    newest head reported if at least one answered, or if there is nobody to ask. Returns `learned`, `errors`
    (peer name -> message) and, when learned, what node.sharing.reseal.adopt_head reported."""
    peers = [peer for peer in list_peers(node) if not peer["pull_only"]]

    async def one(peer: dict[str, Any]) -> Head | PeerError | None:
        try:
            async with asyncio.timeout(ASK_TIMEOUT):
                return await ask(node, session, peer)
        except TimeoutError:
            return PeerError(f"{peer['url']} gave no chain head within {ASK_TIMEOUT:g} s")
        except PeerError as exc:
            return exc

    answers = await asyncio.gather(*(one(peer) for peer in peers))
    errors = {peer["name"]: str(a) for peer, a in zip(peers, answers, strict=True) if isinstance(a, PeerError)}
    heads = {p["node_id"]: a for p, a in zip(peers, answers, strict=True) if not isinstance(a, PeerError)}
    for name, message in errors.items():
        log.warning("could not learn the chain head from %s: %s", name, message)
    if peers and not heads:
        return {"learned": False, "errors": errors}
    return {"learned": True, "errors": errors, **adopt_head(node, heads)}


async def chain_loop(node: Node, session: aiohttp.ClientSession, learned: asyncio.Event) -> None:
    """Background task of a serving node: whenever the chain is pending, learn its head from the peers (again
    every `pull_interval` while none answers); set `learned` after each success, so that sending resumes."""
    while True:
        retry = CHECK_INTERVAL
        try:
            if held_above(node.db.conn) is not None:
                report = await learn_chain_head(node, session)
                if report["learned"]:
                    learned.set()
                else:
                    retry = node.config.delivery.pull_interval
                    log.error("no peer answered for the chain head; own envelopes stay held, next try in %.0f s", retry)
        except Exception:
            log.exception("chain head loop")
        await asyncio.sleep(retry)
