"""What a node reports while it works, for whoever watches it: answers to requests, envelopes sent and
received, refusals by reason, and pulls that caught up with a peer.

`Node.events` is an `Events`; this base class reports nowhere, so code that runs unwatched (the CLI,
most tests) pays nothing. node.ops.metrics counts the events for Prometheus. Every value handed over
is one of a small, fixed set (a route pattern, never a raw path), so that no caller can make the
watcher keep an unbounded number of series.
"""

from __future__ import annotations

from typing import Literal

from protocol.records import KINDS

Refusal = Literal["auth", "signature", "policy", "size", "malformed", "conflict"]
REFUSALS: tuple[Refusal, ...] = ("auth", "signature", "policy", "size", "malformed", "conflict")
"""Why something was refused: auth (the request is not signed by a trusted peer, HTTP 401), signature (an
envelope whose signature, hash or form does not verify), policy (refused by this node's rules: HTTP 403,
a revoked key, a scope or relay not allowed, an expired alert), size (HTTP 413), malformed (HTTP 400 or
415), conflict (a fork or conflict with what is already held of the origin's chain)."""

Sent = Literal["delivered", "refused"]
SENT: tuple[Sent, ...] = ("delivered", "refused")
"""How an envelope whose bytes reached a peer ended: the peer accepted it (or already held it), or refused it."""

Received = Literal["accepted", "duplicate", "refused"]
RECEIVED: tuple[Received, ...] = ("accepted", "duplicate", "refused")
"""How an envelope that arrived (pushed or pulled) ended."""

UNKNOWN_KIND = "unknown"
ENVELOPE_KINDS: tuple[str, ...] = (*KINDS, UNKNOWN_KIND)
"""The kinds an envelope is counted under: its type, or `unknown` for one refused before its type was known."""


def kind_of(envelope: object) -> str:
    """The kind to count an envelope under: its `type` if that is a known one, else `unknown`."""
    kind = envelope.get("type") if isinstance(envelope, dict) else None
    return kind if isinstance(kind, str) and kind in KINDS else UNKNOWN_KIND


class Events:
    """Receives what a node reports; every method of this base class does nothing."""

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """The federation server answered a request to `route` (its pattern) with `status` after `seconds`."""

    def refused(self, reason: Refusal) -> None:
        """A request or an envelope was refused for `reason`."""

    def sent(self, kind: str, outcome: Sent) -> None:
        """An envelope of `kind` reached a peer and ended as `outcome`."""

    def received(self, kind: str, outcome: Received) -> None:
        """An envelope of `kind` arrived from a peer and ended as `outcome`."""

    def pulled(self, peer_id: str, caught_up: bool) -> None:
        """A pull from `peer_id` succeeded; with `caught_up`, it fetched everything the peer had for us."""
