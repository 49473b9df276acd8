"""Where a batch's time goes: each step of the inbox path timed alone, in one quiet process, per batch of 50.

Runs the node's own functions one after another on real signed batches (no HTTP, no worker processes,
nothing else running), so that each step's cost is seen without the others competing for the cores:
the request signature, the replay nonce, parsing, preparing the envelopes, their Ed25519 checks,
storing the batch with its durable commit, and the signed answer. Used by bench.ingest, which prints
it beside the run it measures.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from node.exchange.inbox import admit_and_store
from node.home import Node, init_home
from node.networks.crossing import crossing_resolver
from node.transport.auth import remember_nonce
from node.trust.peer_keys import KeyBook
from node.trust.peers import trust_descriptor
from protocol.batch import checks_of, prepare_each, settle_each
from protocol.canonical import canonical_bytes, parse_scanned
from protocol.descriptor import build_descriptor
from protocol.envelope import run_checks
from protocol.httpsig import HttpRequest, HttpResponse, sign_request, sign_response, verify_request
from protocol.keys import NodeKey, fingerprint, node_id_for
from protocol.wire import MAX_ENVELOPES, parse_transaction

URL = "http://127.0.0.1:9"
STEPS = (
    ("request signature", "RFC 9421 verify with the body's digest (protocol.httpsig)"),
    ("replay nonce", "recorded in the database (node.transport.auth)"),
    ("parse", "strict canonical parse of the body and the transaction"),
    ("prepare", "structure, canonical encodings, hashes, content schema (protocol.batch)"),
    ("Ed25519 checks", "the batch's 50 origin signatures (the workers do most of these)"),
    ("store", "admission, the inbox rows, the audit entry and the durable commit"),
    ("answer", "the answer's canonical bytes and its RFC 9421 signature"),
)


def _median_ms(step: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def step_budget(
    home: Path, make_envelopes: Callable[[NodeKey, int], list[dict[str, Any]]], rounds: int = 40
) -> dict[str, float]:
    """Milliseconds per batch of 50 for each of STEPS (median of `rounds`), on a new node at `home`, with
    envelopes of one origin chain from `make_envelopes(key, count)` (bench.ingest's)."""
    init_home(home, name="Empfängerstadt", url=URL)
    node = Node.open(home)
    try:
        sender = NodeKey.generate()
        sender_id = node_id_for(sender.public)
        descriptor = build_descriptor(
            [sender], node_id=sender_id, name="Senderstadt", url=URL, valid_until=datetime.now(UTC) + timedelta(days=1)
        )
        trust_descriptor(node, URL, fingerprint(sender.public), descriptor)
        envelopes = make_envelopes(sender, MAX_ENVELOPES * (rounds + 1))
        batches = [envelopes[i : i + MAX_ENVELOPES] for i in range(0, len(envelopes), MAX_ENVELOPES)]
        body = canonical_bytes({"envelopes": batches[0]})
        target = f"{URL}/fed/v1/inbox/bench"
        request = HttpRequest("PUT", target, {"Content-Type": "application/json"})
        sign_request(request, body, sender, sender_id)
        _, astral = parse_scanned(body)
        book = KeyBook.load(node.db.conn)
        resolve = crossing_resolver(node, book, batches[0])
        prepared = prepare_each(batches[0], resolve, astral)
        checks = checks_of(prepared)
        nonces = iter(range(10**9))
        reply = {"results": [{"index": n, "id": e["id"], "status": "accepted"} for n, e in enumerate(batches[0])]}

        def authenticate() -> None:
            verify_request("PUT", target, request.headers.items(), body, lambda *_: sender.public)

        def remember() -> None:
            if not remember_nonce(node, "bench", str(next(nonces)), int(time.time())):
                raise SystemExit("a new nonce was taken for a replay")

        def check() -> None:
            if run_checks(checks):
                raise SystemExit("a signature of the batch did not verify")

        def answered() -> None:
            signed = HttpResponse(status_code=200, headers={}, request=request)
            sign_response(signed, canonical_bytes(reply), node.key, node.node_id)

        budget = {
            "request signature": _median_ms(authenticate, rounds),
            "replay nonce": _median_ms(remember, rounds),
            "parse": _median_ms(lambda: parse_transaction(parse_scanned(body)[0]), rounds),
            "prepare": _median_ms(lambda: prepare_each(batches[0], resolve, astral), rounds),
            "Ed25519 checks": _median_ms(check, rounds),
        }
        stored = []
        for number, batch in enumerate(batches[1:]):  # each batch new to the node, as pushed ones are
            checked = settle_each(prepare_each(batch, resolve, astral), {})
            start = time.perf_counter()
            answer = admit_and_store(node, sender_id, batch, checked, f"bench{number}", book)
            stored.append(time.perf_counter() - start)
            if {entry["status"] for entry in answer["results"]} != {"accepted"}:
                raise SystemExit(f"the node did not accept batch {number}: {answer['results'][:2]}")
        budget["store"] = statistics.median(stored) * 1000
        budget["answer"] = _median_ms(answered, rounds)
        return budget
    finally:
        node.close()
