"""The node's Prometheus metrics, in a registry of its own (several nodes in one process never collide).

Events (requests answered, envelopes sent and received, refusals, pulls) are counted as they happen:
`Metrics` is the node's `events` (node.events). What the database holds (per-peer queues, the audit
chain, the database's size) is read at scrape time by `StateCollector`, so it cannot drift from the
truth. The process's own metrics (start time, CPU, memory, file descriptors) come from
prometheus-client's process collector.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from node import audit
from node.events import ENVELOPE_KINDS, RECEIVED, REFUSALS, SENT, Events, Received, Refusal, Sent
from node.exchange.status import peer_status
from node.home import DB_FILE, Node
from node.migrations import software_version

log = logging.getLogger("praevnet.metrics")


class Metrics(Events):
    """The metrics of one node: set it as the node's `events`, and `render` them for a scrape."""

    def __init__(self, node: Node, clock: Callable[[], float] = time.time) -> None:
        self.node = node
        self.clock = clock
        self.registry = CollectorRegistry()
        self.caught_up: dict[str, float] = {}  # peer id -> when a pull from it last fetched everything
        reg = self.registry
        self.latency = Histogram(
            "praevnet_http_request_duration_seconds",
            "Time the federation server took to answer, by route pattern and method.",
            ["route", "method"],
            registry=reg,
        )
        self.requests = Counter(
            "praevnet_http_requests",
            "Requests the federation server answered, by route pattern, method and status.",
            ["route", "method", "status"],
            registry=reg,
        )
        self.sent_envelopes = Counter(
            "praevnet_envelopes_sent",
            "Envelopes whose bytes reached a peer, by kind (experience, alert, retraction) and outcome.",
            ["kind", "outcome"],
            registry=reg,
        )
        self.received_envelopes = Counter(
            "praevnet_envelopes_received",
            "Envelopes that arrived from peers (pushed or pulled), by kind and outcome.",
            ["kind", "outcome"],
            registry=reg,
        )
        self.refusals = Counter(
            "praevnet_refusals",
            "Requests and envelopes refused, by reason: auth, signature, policy, size, malformed, conflict.",
            ["reason"],
            registry=reg,
        )
        for kind in ENVELOPE_KINDS:  # every series exists from the start, at 0
            for sent in SENT:
                self.sent_envelopes.labels(kind, sent)
            for received in RECEIVED:
                self.received_envelopes.labels(kind, received)
        for reason in REFUSALS:
            self.refusals.labels(reason)
        ProcessCollector(registry=reg)
        PlatformCollector(registry=reg)
        reg.register(StateCollector(self))

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count the answer and its time."""
        self.latency.labels(route, method).observe(seconds)
        self.requests.labels(route, method, str(status)).inc()

    def refused(self, reason: Refusal) -> None:
        """Count a refusal."""
        self.refusals.labels(reason).inc()

    def sent(self, kind: str, outcome: Sent) -> None:
        """Count an envelope sent."""
        self.sent_envelopes.labels(kind, outcome).inc()

    def received(self, kind: str, outcome: Received) -> None:
        """Count an envelope received."""
        self.received_envelopes.labels(kind, outcome).inc()

    def pulled(self, peer_id: str, caught_up: bool) -> None:
        """Note when a pull from the peer last caught up with it."""
        if caught_up:
            self.caught_up[peer_id] = self.clock()

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition for a scrape, in the format the Accept header asks for, and its content type."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


class StateCollector(Collector):
    """What the database holds, read at every scrape: per-peer queues, the audit chain, the database's size."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        """The current values; if the database cannot be read, only `praevnet_state_readable 0`."""
        node = self.metrics.node
        readable = GaugeMetricFamily(
            "praevnet_state_readable", "1 if this scrape could read the node's state from its database, else 0."
        )
        info = InfoMetricFamily("praevnet", "This node and the praevnet version it runs.")
        info.add_metric([], {"node_id": node.node_id, "version": software_version()})
        yield info
        try:
            families = list(self._from_database(node))
        except sqlite3.Error as exc:
            log.error("metrics: cannot read the node's state from its database: %s", exc)
            readable.add_metric([], 0)
            yield readable
            return
        readable.add_metric([], 1)
        yield readable
        yield from families

    def _from_database(self, node: Node) -> Iterator[Metric]:
        peer = ["peer"]
        peers = GaugeMetricFamily(
            "praevnet_peer", "Each trusted peer (value 1), with its name.", labels=[*peer, "name"]
        )
        queued = GaugeMetricFamily(
            "praevnet_peer_queue_depth",
            "Envelopes waiting for the peer: queued to push, or for a pull-only peer not pulled yet.",
            labels=peer,
        )
        inflight = GaugeMetricFamily(
            "praevnet_peer_in_flight", "Envelopes in the transaction on its way to the peer.", labels=peer
        )
        failures = GaugeMetricFamily(
            "praevnet_peer_failures",
            "Delivery attempts to the peer that failed in a row (0 after a success).",
            labels=peer,
        )
        forks = GaugeMetricFamily(
            "praevnet_peer_forks_refused", "Envelopes of the peer's chain refused as forks or conflicts.", labels=peer
        )
        lag = GaugeMetricFamily(
            "praevnet_pull_lag_seconds",
            "Seconds since a pull from the peer last fetched everything it had for this node "
            "(only for peers caught up with since the node started).",
            labels=peer,
        )
        moment = self.metrics.clock()
        for row in peer_status(node):
            peer_id = row["node_id"]
            peers.add_metric([peer_id, row["name"]], 1)
            queued.add_metric([peer_id], row["queued"])
            inflight.add_metric([peer_id], row["in_flight"])
            failures.add_metric([peer_id], row["failures"])
            forks.add_metric([peer_id], row["forks_refused"])
            if peer_id in self.metrics.caught_up:
                lag.add_metric([peer_id], max(0.0, moment - self.metrics.caught_up[peer_id]))
        yield from (peers, queued, inflight, failures, forks, lag)
        head = audit.head(node)
        chain = GaugeMetricFamily("praevnet_audit_chain_length", "Entries in the node's hash-chained audit log.")
        chain.add_metric([], head["seq"] if head is not None else 0)
        yield chain
        size = GaugeMetricFamily(
            "praevnet_database_size_bytes",
            "Size of the database files on disk: main and write-ahead log.",
            labels=["file"],
        )
        for label, suffix in (("main", ""), ("wal", "-wal")):
            try:
                size.add_metric([label], (node.home / f"{DB_FILE}{suffix}").stat().st_size)
            except FileNotFoundError:  # no write-ahead log right now (its last connection closed)
                size.add_metric([label], 0)
        yield size
