"""RFC 9421 request signatures: what signing and verifying one request or answer costs, in ms.

Prints, for protocol.httpsig (SPEC.md section 7 implemented directly) and for the http-message-signatures
library (the reference, as nodes ran it before #14), the cost of signing and of verifying a request to
the inbox and the answer to it, beside the raw Ed25519 sign and verify of the same signature base and
the SHA-256 of the body, all measured in this run. Each figure is the best of several rounds. The target
(issue #14) is at most 0.15 ms per sign or verify. With --profile, prints where verifying a request spends
its time. Needs the test extra (`pip install -e '.[test]'`) for the reference.
Run: .venv/bin/python -m bench.httpsig [--rounds N] [--body-bytes N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import time
from collections.abc import Callable

from protocol.httpsig import HttpRequest, HttpResponse, sign_request, sign_response, verify_request, verify_response
from protocol.keys import NodeKey, node_id_for, verify
from protocol.sigbase import Request, field_lines, signature_base
from protocol.structured import parse_dictionary
from tests.protocol import httpsig_reference as reference

TARGET_MS = 0.15
URL = "https://praevnet.nachbarstadt.example/fed/v1/inbox/txn-0001"
NONCE = "vector-nonce-0123456789"
# What aiohttp's client sends besides the signature headers, so that the verifier reads as many fields.
CLIENT_HEADERS = {
    "Host": "praevnet.nachbarstadt.example",
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "User-Agent": "Python/3.11 aiohttp/3.14.5",
}


def per_call_ms(work: Callable[[], object], rounds: int, repeats: int = 5) -> float:
    """The best, over `repeats`, of the mean time of one call over `rounds` calls, in ms."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(rounds):
            work()
        best = min(best, (time.perf_counter() - start) / rounds)
    return best * 1000


class Exchange:
    """One signed request from A to B and B's signed answer, with everything needed to repeat each step."""

    def __init__(self, body: bytes) -> None:
        self.a, self.b = NodeKey.from_seed(bytes(range(32))), NodeKey.from_seed(bytes(range(1, 33)))
        self.node_a, self.node_b = node_id_for(self.a.public), node_id_for(self.b.public)
        self.body, self.answer = body, b'{"results":[{"index":0,"status":"accepted"}]}'
        self.request = self.new_request()
        sign_request(self.request, body, self.a, self.node_a, nonce=NONCE)
        self.received = [*self.request.headers.items(), *CLIENT_HEADERS.items(), ("Content-Length", str(len(body)))]
        self.response = self.new_response()
        sign_response(self.response, self.answer, self.b, self.node_b, nonce=NONCE)
        self.answered = [*self.response.headers.items(), ("Content-Type", "application/json"), ("Server", "x")]
        keys = {(self.node_a, "ed25519:1"): self.a.public, (self.node_b, "ed25519:1"): self.b.public}
        self.resolve: Callable[[str, str], bytes | None] = lambda node_id, key_id: keys.get((node_id, key_id))

    def new_request(self) -> HttpRequest:
        """A fresh, unsigned request."""
        return HttpRequest("PUT", URL, {"Content-Type": "application/json"})

    def new_response(self) -> HttpResponse:
        """A fresh, unsigned answer to the signed request."""
        return HttpResponse(200, {"Content-Type": "application/json"}, self.request)

    def request_base(self) -> bytes:
        """The request's signature base, as the verifier rebuilds it."""
        components, params = parse_dictionary(self.request.headers["Signature-Input"])["praevnet"]
        return signature_base(components, params, Request("PUT", URL, field_lines(self.received))).base


def measure(exchange: Exchange, rounds: int) -> dict[str, float]:
    """Every figure of the table, in ms per call."""
    e = exchange
    base = e.request_base()
    signature = e.a.sign(base)
    return {
        "ours sign request": per_call_ms(lambda: sign_request(e.new_request(), e.body, e.a, e.node_a), rounds),
        "ours verify request": per_call_ms(lambda: verify_request("PUT", URL, e.received, e.body, e.resolve), rounds),
        "ours sign answer": per_call_ms(lambda: sign_response(e.new_response(), e.answer, e.b, e.node_b), rounds),
        "ours verify answer": per_call_ms(
            lambda: verify_response(200, e.answered, e.answer, e.request, e.resolve), rounds
        ),
        "library sign request": per_call_ms(
            lambda: reference.sign_request(e.new_request(), e.body, e.a, e.node_a, nonce=NONCE), rounds
        ),
        "library verify request": per_call_ms(
            lambda: reference.verify_request("PUT", URL, e.received, e.body, e.resolve), rounds
        ),
        "library sign answer": per_call_ms(
            lambda: reference.sign_response(e.new_response(), e.answer, e.b, e.node_b, nonce=NONCE), rounds
        ),
        "library verify answer": per_call_ms(
            lambda: reference.verify_response(200, e.answered, e.answer, e.request, e.resolve), rounds
        ),
        "raw Ed25519 sign": per_call_ms(lambda: e.a.sign(base), rounds),
        "raw Ed25519 verify": per_call_ms(lambda: verify(e.a.public, signature, base), rounds),
        "SHA-256 of the body": per_call_ms(lambda: hashlib.sha256(e.body).digest(), rounds),
    }


def profile(exchange: Exchange, rounds: int) -> None:
    """Where verifying a request spends its time (cProfile, by own time)."""
    e = exchange
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        verify_request("PUT", URL, e.received, e.body, e.resolve)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2000, help="calls per timed round (default 2000)")
    parser.add_argument("--body-bytes", type=int, default=1024, help="request body size (default 1024)")
    parser.add_argument("--profile", action="store_true", help="also profile verifying a request")
    args = parser.parse_args()
    exchange = Exchange(b"x" * args.body_bytes)
    figures = measure(exchange, args.rounds)
    for name, ms in figures.items():
        print(f"{name + ':':26s}{ms:8.4f} ms")
    raw_sign, raw_verify = figures["raw Ed25519 sign"], figures["raw Ed25519 verify"]
    ours = {k: v for k, v in figures.items() if k.startswith("ours")}
    for name, ms in ours.items():
        raw = raw_sign if "sign" in name.split()[1] else raw_verify
        library = figures[name.replace("ours", "library")]
        print(f"ratio {name[5:]:15s} ours/raw {ms / raw:5.2f}  library/raw {library / raw:5.2f}", end="")
        print(f"  library/ours {library / ms:5.1f}")
    worst = max(ours.values())
    verdict = "met" if worst <= TARGET_MS else "missed"
    print(f"target: at most {TARGET_MS} ms per sign or verify; worst of ours {worst:.4f} ms: {verdict}")
    if args.profile:
        profile(exchange, args.rounds)


if __name__ == "__main__":
    main()
