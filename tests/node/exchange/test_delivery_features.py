"""Delivery features: quick retries, backoff, contact resets, peers status, pull-only peers, gaps, forks,
outbox `remaining` with pull progress, and alerts ahead of records, between real nodes on loopback.

Every bad input is refused with nothing changed: where a test says so, the whole database is dumped
before and after and compared.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from node import audit
from node.config import DeliveryConfig
from node.errors import NodeError, NotFound, PeerError
from node.exchange import delivery, pull
from node.exchange.delivery import backoff_seconds, due_peers, record_failure, record_success, send_batch
from node.exchange.inbox import ingest
from node.exchange.pull import catch_up_requested, pull_from
from node.exchange.server import create_app
from node.exchange.status import contacted, peer_status, retry_now
from node.exchange.worker import Worker
from node.home import Node
from node.sharing.records import add_record, send_alert
from node.sharing.shares import share_record
from node.transport import client
from node.transport.client import new_session
from node.trust.pairing import add_peer_from_file
from node.trust.peers import get_peer, list_peers, trust_descriptor
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from protocol.descriptor import build_descriptor
from protocol.envelope import build_envelope
from protocol.errors import SchemaError
from protocol.httpsig import HttpRequest, HttpResponse, sign_response
from protocol.wire import page_remaining
from tests.conftest import RECORD, FakePeer, alert_content
from tests.node.conftest import NodeFactory, Served, ServeOn, count, eventually
from tests.node.federation import Federation
from tests.ports import hold_port, unreachable_url

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATUS_FIELDS = {
    "node_id",
    "name",
    "url",
    "pull_only",
    "queued",
    "in_flight",
    "delivered",
    "refused",
    "failures",
    "last_success",
    "last_error",
    "next_retry",
    "our_cursor_in_their_outbox",
    "their_cursor_in_our_outbox",
    "our_outbox_end_for_them",
    "forks_refused",
    "chain_fork",
}


# --- helpers ------------------------------------------------------------------------------------------


def pair(a: Node, b: Node) -> None:
    """Mutual trust, as two officers would set it up after comparing fingerprints."""
    trust_descriptor(a, b.config.url, b.fingerprint, b.descriptor())
    trust_descriptor(b, a.config.url, a.fingerprint, a.descriptor())


def share(node: Node, title: str, *peer_ids: str) -> str:
    """Add an experience record and share it with the peers; return its id."""
    record_id = add_record(node, "experience", {**RECORD, "title": title}, by=ADMIN)
    share_record(node, record_id, list(peer_ids), all_peers=False, by=ADMIN)
    return record_id


async def push(sender: Node, peer_id: str) -> int:
    async with new_session(sender) as session:
        return await send_batch(sender, session, peer_id)


def dump(node: Node) -> list[str]:
    """Every row of the node's database, to compare before and after a refused operation."""
    return list(node.db.conn.iterdump())


def deliveries(node: Node) -> list[dict[str, Any]]:
    names = ("id", "peer_id", "seq", "state", "txn_id", "reason")
    found = node.db.execute(f"SELECT {', '.join(names)} FROM deliveries ORDER BY id").fetchall()
    return [dict(zip(names, row, strict=True)) for row in found]


def peer_row(node: Node, peer_id: str) -> dict[str, Any]:
    cursor = node.db.execute("SELECT * FROM peers WHERE node_id = ?", (peer_id,))
    row = cursor.fetchone()
    assert row is not None, peer_id
    return dict(zip([c[0] for c in cursor.description], row, strict=True))


def status_of(node: Node, peer_id: str) -> dict[str, Any]:
    [entry] = [item for item in peer_status(node) if item["node_id"] == peer_id]
    assert set(entry) == STATUS_FIELDS
    return entry


def audit_actions(node: Node, action: str) -> list[dict[str, Any]]:
    return [entry for entry in audit.list_entries(node) if entry["action"] == action]


def in_backoff(node: Node, peer_id: str, seconds: float = 3600.0) -> float:
    """Put a peer into backoff as three failures would; return the retry time."""
    when = time.time() + seconds
    node.db.execute(
        "UPDATE peers SET failures = 3, next_attempt = ?, last_error = 'x cannot reach' WHERE node_id = ?",
        (when, peer_id),
    )
    return when


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    """Augsburg, Bonn and Chemnitz with servers on loopback; Augsburg is paired with both others."""
    federation = Federation(tmp_path)
    a = await federation.add("augsburg")
    b = await federation.add("bonn")
    c = await federation.add("chemnitz")
    federation.pair(a, b)
    federation.pair(a, c)
    yield federation
    await federation.close()


def nodes(fed: Federation) -> tuple[Node, Node, Node]:
    return fed.nodes["augsburg"], fed.nodes["bonn"], fed.nodes["chemnitz"]


def held(node: Node, record_id: str) -> bool:
    """Whether `node` holds a record with this id in its inbox."""
    return node.db.execute("SELECT 1 FROM inbox WHERE id = ?", (record_id,)).fetchone() is not None


# --- quick retries within one request ------------------------------------------------------------------


@dataclass
class Gated:
    """Augsburg pushes to Bonn, whose real server sits behind a gate answering queued statuses itself."""

    a: Node
    b: Node
    statuses: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


@pytest.fixture
async def gated(make_node: NodeFactory, serve_on: ServeOn) -> Gated:
    port = hold_port()
    b = make_node("Stadt B", url=port.url)
    a = make_node("Stadt A")
    pair(a, b)
    gate = Gated(a, b)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/fed/v1/inbox/"):
            gate.paths.append(request.path)
            if gate.statuses:
                await request.read()
                status = gate.statuses.pop(0)
                return web.json_response({"error": "gate", "message": f"gate says {status}"}, status=status)
        return await handler(request)

    app = create_app(b, background=False)
    app.middlewares.insert(0, middleware)
    await serve_on(app, port)
    return gate


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two immediate retries without the real pauses."""
    monkeypatch.setattr(delivery, "QUICK_RETRIES", (0.0, 0.01))


@pytest.mark.usefixtures("quick")
@pytest.mark.parametrize("statuses", [[503, 503], [500, 502], [401, 429], [408, 504]])
async def test_retryable_answers_are_retried_at_once_with_the_same_txn_id(gated: Gated, statuses: list[int]) -> None:
    a, b = gated.a, gated.b
    record_id = share(a, "Bericht X", b.node_id)
    gated.statuses[:] = statuses
    assert await push(a, b.node_id) == 1  # one send_batch call
    [row] = deliveries(a)
    assert (row["state"], row["reason"]) == ("delivered", None)
    assert gated.paths == [f"/fed/v1/inbox/{row['txn_id']}"] * 3
    assert [r[0] for r in b.db.execute("SELECT id FROM inbox")] == [record_id]
    assert b.db.execute("SELECT sender, txn_id FROM inbound_txns").fetchall() == [(a.node_id, row["txn_id"])]
    state = peer_row(a, b.node_id)
    assert (state["failures"], state["next_attempt"], state["last_error"]) == (0, 0, None)
    assert state["last_success"] is not None


@pytest.mark.usefixtures("quick")
async def test_when_quick_retries_run_out_the_peer_backs_off_and_the_txn_id_is_kept(gated: Gated) -> None:
    a, b = gated.a, gated.b
    share(a, "Bericht X", b.node_id)
    gated.statuses[:] = [503, 503, 503]
    before = time.time()
    assert await push(a, b.node_id) == 0
    assert len(gated.paths) == 3
    [row] = deliveries(a)
    assert (row["state"], row["reason"]) == ("pending", None)
    state = peer_row(a, b.node_id)
    assert state["failures"] == 1
    assert state["next_attempt"] > before
    assert "HTTP 503" in state["last_error"]
    assert due_peers(a) == []
    assert count(b, "inbox") == 0

    retry_now(a, b.node_id)
    assert await push(a, b.node_id) == 1  # the gate lets it through now: the same transaction, once more
    assert gated.paths == [f"/fed/v1/inbox/{row['txn_id']}"] * 4
    assert deliveries(a)[0]["state"] == "delivered"
    assert peer_row(a, b.node_id)["failures"] == 0


@pytest.mark.usefixtures("quick")
@pytest.mark.parametrize("status", [400, 403, 404, 409, 413])
async def test_other_4xx_answers_are_final_not_retried_and_recorded(gated: Gated, status: int) -> None:
    a, b = gated.a, gated.b
    share(a, "Bericht X", b.node_id)
    share(a, "Bericht Y", b.node_id)
    gated.statuses[:] = [status]
    assert await push(a, b.node_id) == 0
    assert len(gated.paths) == 1  # not retried
    rows = deliveries(a)
    assert [row["state"] for row in rows] == ["refused", "refused"]
    for row in rows:
        assert f"HTTP {status}" in row["reason"]
        assert f"gate says {status}" in row["reason"]
    state = peer_row(a, b.node_id)
    assert state["failures"] == 0  # final answers are shown, but the rest of the queue is not held back
    assert f"HTTP {status}" in state["last_error"]
    sent = audit_actions(a, "sent")
    assert len(sent) == 2
    assert all(entry["detail"].startswith("experience: refused: ") for entry in sent)
    assert count(b, "inbox") == 0
    retry_now(a, b.node_id)
    assert await push(a, b.node_id) == 0  # nothing is left to send: refused is final
    assert len(gated.paths) == 1


@pytest.mark.parametrize("pauses", [(), (0.0,), (0.0, 0.0, 0.0)])
async def test_connection_refused_is_retried_quick_retries_times_then_backs_off(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch, pauses: tuple[float, ...]
) -> None:
    a = make_node("Stadt A")
    b = make_node("Stadt B", url=unreachable_url())  # nothing listens there
    pair(a, b)
    share(a, "Bericht X", b.node_id)
    monkeypatch.setattr(delivery, "QUICK_RETRIES", pauses)
    paths: list[str] = []
    real = client.signed_request

    async def counting(*args: Any, **kwargs: Any) -> Any:
        paths.append(args[4])
        return await real(*args, **kwargs)

    monkeypatch.setattr("node.exchange.delivery.signed_request", counting)
    before = time.time()
    assert await push(a, b.node_id) == 0
    [row] = deliveries(a)
    assert paths == [f"/fed/v1/inbox/{row['txn_id']}"] * (len(pauses) + 1)
    assert row["state"] == "pending"
    state = peer_row(a, b.node_id)
    assert state["failures"] == 1
    assert state["next_attempt"] >= before + 0.75 * a.config.delivery.min_backoff
    assert "cannot reach" in state["last_error"]
    assert state["last_success"] is None


async def test_quick_retries_wait_their_pauses(make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    a = make_node("Stadt A")
    b = make_node("Stadt B", url=unreachable_url())
    pair(a, b)
    share(a, "Bericht X", b.node_id)
    monkeypatch.setattr(delivery, "QUICK_RETRIES", (0.1, 0.2))
    started = time.monotonic()
    assert await push(a, b.node_id) == 0
    assert time.monotonic() - started >= 0.3


# --- backoff -------------------------------------------------------------------------------------------


def pin_jitter(monkeypatch: pytest.MonkeyPatch, where: str, asked: list[tuple[float, float]]) -> None:
    def uniform(low: float, high: float) -> float:
        asked.append((low, high))
        return {"low": low, "high": high, "none": 1.0}[where]

    monkeypatch.setattr(random, "uniform", uniform)  # what node.exchange.delivery draws its jitter with


@pytest.mark.parametrize(
    ("minimum", "maximum"), [(5.0, 14400.0), (1.0, 10.0), (0.5, 0.5)], ids=["defaults", "small", "equal"]
)
def test_backoff_grows_from_min_backoff_and_is_capped_at_max_backoff(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch, minimum: float, maximum: float
) -> None:
    node = make_node("Stadt A")
    node.config = replace(node.config, delivery=DeliveryConfig(min_backoff=minimum, max_backoff=maximum))
    asked: list[tuple[float, float]] = []
    pin_jitter(monkeypatch, "none", asked)
    nominal = [backoff_seconds(node, failures) for failures in range(1, 40)]
    assert nominal[0] == minimum
    for before, after in itertools.pairwise(nominal):
        assert after == min(maximum, before * 2)  # doubling until the cap
    assert nominal[-1] == maximum
    assert set(asked) == {(0.75, 1.25)}  # jitter of ±25%

    for where, factor in (("low", 0.75), ("high", 1.25)):
        pin_jitter(monkeypatch, where, asked)
        for failures, base in enumerate(nominal, start=1):
            value = backoff_seconds(node, failures)
            assert value <= maximum, (failures, value)  # a cap is a cap, jitter included
            assert value == pytest.approx(min(maximum, base * factor))


def test_backoff_jitter_stays_within_a_quarter(make_node: NodeFactory) -> None:
    node = make_node("Stadt A")
    settings = node.config.delivery
    for failures in (1, 2, 5, 12, 100):
        base = min(settings.max_backoff, settings.min_backoff * 2 ** (failures - 1))
        values = [backoff_seconds(node, failures) for _ in range(200)]
        assert all(0.75 * base <= v <= min(1.25 * base, settings.max_backoff) for v in values), failures
        assert len(set(values)) > 1  # jittered, not fixed


def test_record_failure_persists_and_record_success_resets(make_node: NodeFactory) -> None:
    node = make_node("Stadt A")
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    before = time.time()
    record_failure(node, peer.node_id, "cannot reach http://127.0.0.1:9: refused")
    record_failure(node, peer.node_id, "http://127.0.0.1:9 answered HTTP 503: busy")
    reopened = Node.open(node.home)  # persisted, as after a restart
    try:
        state = peer_row(reopened, peer.node_id)
    finally:
        reopened.close()
    assert state["failures"] == 2
    settings = node.config.delivery
    assert (
        before + 0.75 * 2 * settings.min_backoff
        <= state["next_attempt"]
        <= time.time() + 1.25 * 2 * settings.min_backoff
    )
    assert state["last_error"].endswith(" http://127.0.0.1:9 answered HTTP 503: busy")
    assert state["last_error"][:4].isdigit()  # timestamped
    assert state["last_success"] is None

    record_success(node, peer.node_id)
    state = peer_row(node, peer.node_id)
    assert (state["failures"], state["next_attempt"], state["last_error"]) == (0, 0, None)
    assert state["last_success"] is not None


def test_record_failure_for_an_unknown_peer_changes_nothing(make_node: NodeFactory) -> None:
    node = make_node("Stadt A")
    FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    before = dump(node)
    record_failure(node, FakePeer("Stadt X", "http://127.0.0.1:9").node_id, "whatever")
    assert dump(node) == before


# --- contact ends the backoff ---------------------------------------------------------------------------


@pytest.mark.parametrize("request_kind", ["outbox", "inbox"])
async def test_an_authenticated_request_ends_the_peers_backoff(
    served: Served, peer_b: FakePeer, request_kind: str
) -> None:
    node = served.node
    share(node, "Bericht X", peer_b.node_id)
    in_backoff(node, peer_b.node_id)
    assert due_peers(node) == []
    if request_kind == "outbox":
        response, _ = await served.signed(peer_b, "GET", "/fed/v1/outbox")
    else:
        body = canonical_bytes({"envelopes": [peer_b.envelope()]})
        response, _ = await served.put_inbox(peer_b, "txn-1", body)
    assert response.status == 200, await response.text()
    assert peer_row(node, peer_b.node_id)["next_attempt"] == 0
    assert due_peers(node) == [peer_b.node_id]


async def test_contact_without_backoff_changes_nothing(served: Served, peer_b: FakePeer) -> None:
    before = peer_row(served.node, peer_b.node_id)
    contacted(served.node, peer_b.node_id)
    contacted(served.node, FakePeer("Stadt X", "http://127.0.0.1:9").node_id)
    assert peer_row(served.node, peer_b.node_id) == before


@pytest.mark.parametrize("how", ["unsigned", "untrusted", "replayed", "signed for another url", "bad signature"])
async def test_an_unauthenticated_or_untrusted_request_does_not_end_the_backoff(
    served: Served, peer_b: FakePeer, how: str
) -> None:
    node = served.node
    path = "/fed/v1/outbox"
    first, headers = await served.signed(peer_b, "GET", path)  # an earlier, genuine request
    assert first.status == 200
    in_backoff(node, peer_b.node_id)
    before = [row for row in dump(node) if "nonces" not in row]
    peers_before = peer_row(node, peer_b.node_id)
    if how == "unsigned":
        response = await served.client.get(path)
    elif how == "untrusted":
        response, _ = await served.signed(FakePeer("Stadt X", "http://127.0.0.1:9"), "GET", path)
    elif how == "replayed":
        response = await served.client.get(path, headers=headers)
    elif how == "signed for another url":
        other = peer_b.signed_headers("GET", served.url("/fed/v1/outbox?since=5"), b"")
        response = await served.client.get(path, headers=other)
    else:
        forged = peer_b.signed_headers("GET", served.url(path), b"")
        signature = forged["Signature"]
        forged["Signature"] = signature[:-4] + ("AAA=" if not signature.endswith("AAA=") else "BBB=")
        response = await served.client.get(path, headers=forged)
    assert response.status == 401, await response.text()
    assert peer_row(node, peer_b.node_id) == peers_before
    assert [row for row in dump(node) if "nonces" not in row] == before
    assert due_peers(node) == []


# --- peers status and retry -----------------------------------------------------------------------------


def test_status_of_a_fresh_peer_and_of_no_peers(make_node: NodeFactory) -> None:
    node = make_node("Stadt A")
    assert peer_status(node) == []
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    assert status_of(node, peer.node_id) == {
        "node_id": peer.node_id,
        "name": "Stadt B",
        "url": "http://127.0.0.1:9",
        "pull_only": False,
        "queued": 0,
        "in_flight": 0,
        "delivered": 0,
        "refused": 0,
        "failures": 0,
        "last_success": None,
        "last_error": None,
        "next_retry": None,
        "our_cursor_in_their_outbox": 0,
        "their_cursor_in_our_outbox": 0,
        "our_outbox_end_for_them": 0,
        "forks_refused": 0,
        "chain_fork": None,
    }


async def test_status_counts_outcomes_cursors_and_forks(fed: Federation) -> None:
    a, b, c = nodes(fed)
    for n in range(3):
        share(a, f"Bericht {n}", b.node_id)
    share(a, "Nur für Chemnitz", c.node_id)
    stored = json.loads(a.db.execute("SELECT envelope FROM envelopes WHERE seq = 2").fetchone()[0])
    stored["content"]["title"] = "Nachträglich geändert"  # Bonn will refuse it: the hash no longer matches
    a.db.execute("UPDATE envelopes SET envelope = ? WHERE seq = 2", (json.dumps(stored),))

    before = status_of(a, b.node_id)
    assert (before["queued"], before["in_flight"], before["delivered"], before["refused"]) == (3, 0, 0, 0)
    assert before["our_outbox_end_for_them"] == 3
    assert status_of(a, c.node_id)["our_outbox_end_for_them"] == 4  # cursors are shared between peers

    await fed.deliver(a)
    after = status_of(a, b.node_id)
    assert (after["queued"], after["in_flight"], after["delivered"], after["refused"]) == (0, 0, 2, 1)
    assert (after["failures"], after["last_error"], after["next_retry"]) == (0, None, None)
    assert after["last_success"] is not None

    share(b, "Aus Bonn 1", a.node_id)
    share(b, "Aus Bonn 2", a.node_id)
    await fed.pull(a, b)
    assert status_of(a, b.node_id)["our_cursor_in_their_outbox"] == 2
    seen_by_b = status_of(b, a.node_id)
    assert seen_by_b["our_outbox_end_for_them"] == 2
    assert seen_by_b["their_cursor_in_our_outbox"] == 0  # the cursor Augsburg asked with
    await fed.pull(a, b)
    assert status_of(b, a.node_id)["their_cursor_in_our_outbox"] == 2  # Augsburg's stored cursor, seen next time

    fork = build_envelope(
        b.key,
        origin=b.node_id,
        kind="experience",
        record_id="f" * 32,
        version=1,
        tlp="TLP:AMBER",
        seq=1,
        prev=None,
        created=datetime.now(UTC),
        content={"title": "Anderer Bericht", "summary": "Gleiche Nummer"},
    )
    [entry] = ingest(a, b.node_id, [fork])["results"]
    assert entry["status"] == "refused"
    assert status_of(a, b.node_id)["forks_refused"] == 1


@pytest.mark.usefixtures("quick")
async def test_status_of_a_peer_in_backoff_and_retry_now(make_node: NodeFactory) -> None:
    a = make_node("Stadt A")
    peer = FakePeer("Stadt B", unreachable_url()).trusted_by(a)
    share(a, "Bericht X", peer.node_id)
    share(a, "Bericht Y", peer.node_id)
    assert await push(a, peer.node_id) == 0
    status = status_of(a, peer.node_id)
    assert (status["queued"], status["in_flight"], status["failures"]) == (2, 2, 1)
    assert "cannot reach" in status["last_error"]
    assert status["last_success"] is None
    retry_at = datetime.fromisoformat(status["next_retry"].replace("Z", "+00:00"))
    assert datetime.now(UTC) < retry_at <= datetime.now(UTC) + timedelta(seconds=10)
    assert due_peers(a) == []

    assert retry_now(a, peer.node_id) == 2
    status = status_of(a, peer.node_id)
    assert status["next_retry"] is None
    assert (status["queued"], status["failures"]) == (2, 1)  # only the wait ends; the record stays
    assert due_peers(a) == [peer.node_id]


@pytest.mark.parametrize("peer_id", ["pn" + "a" * 32, "nobody", "", "'; DROP TABLE peers; --"])
def test_retry_now_for_an_unknown_peer_is_refused_and_changes_nothing(make_node: NodeFactory, peer_id: str) -> None:
    node = make_node("Stadt A")
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    share(node, "Bericht X", peer.node_id)
    in_backoff(node, peer.node_id)
    before = dump(node)
    with pytest.raises(NotFound, match="not a trusted peer"):
        retry_now(node, peer_id)
    assert dump(node) == before


# --- pull-only peers ------------------------------------------------------------------------------------


async def test_a_pull_only_peer_is_never_pushed_to_but_its_outbox_serves_it(fed: Federation) -> None:
    a, b, c = nodes(fed)
    trust_descriptor(a, b.config.url, b.fingerprint, b.descriptor(), pull_only=True)
    first = share(a, "Bericht X", b.node_id)
    second = share(a, "Bericht Y", b.node_id)
    assert due_peers(a) == []
    in_backoff(a, b.node_id, -10.0)  # even with its wait over
    assert retry_now(a, b.node_id) == 0  # nothing is queued for pushing
    assert due_peers(a) == []
    for_c = share(a, "Bericht für C", c.node_id)  # an ordinary peer: shows when the send loop has looked

    worker = Worker(a)
    await worker.start()
    try:
        await eventually(lambda: held(c, for_c) and not worker.inflight, "the send loop to push to Chemnitz")
    finally:
        await worker.stop()
    assert [w.receiver for w in fed.bytes_from(a) if w.kind == "push"] == [c.node_id]
    assert [row for row in deliveries(a) if row["peer_id"] == b.node_id] == []  # never queued for a pull-only peer
    status = status_of(a, b.node_id)
    assert (status["pull_only"], status["queued"]) == (True, 2)

    report = await fed.pull(b, a)
    assert report["accepted"] == 2
    assert sorted(r[0] for r in b.db.execute("SELECT id FROM inbox")) == sorted([first, second])
    assert status_of(a, b.node_id)["our_outbox_end_for_them"] == 2
    await fed.pull(b, a)  # its next request says it holds everything up to the end
    assert status_of(a, b.node_id)["queued"] == 0


async def test_the_same_peer_not_pull_only_is_pushed_to_by_the_worker(fed: Federation) -> None:
    """The control for the test above: the worker does push to an ordinary peer."""
    a, b, _ = nodes(fed)
    share(a, "Bericht X", b.node_id)
    assert due_peers(a) == [b.node_id]
    worker = Worker(a)
    await worker.start()
    try:
        await eventually(lambda: deliveries(a)[0]["state"] == "delivered", "the worker to push to Bonn")
    finally:
        await worker.stop()
    assert [w.kind for w in fed.bytes_from(a) if w.receiver == b.node_id] == ["push"]


def test_trust_descriptor_pull_only(make_node: NodeFactory) -> None:
    a = make_node("Stadt A")
    b = make_node("Stadt B")
    peer = trust_descriptor(a, b.config.url, b.fingerprint, b.descriptor(), pull_only=True)
    assert peer["pull_only"] is True
    assert [p["pull_only"] for p in list_peers(a)] == [True]
    assert get_peer(a, b.node_id)["pull_only"] is True


def test_add_peer_from_file_with_the_right_fingerprint(make_node: NodeFactory, tmp_path: Path) -> None:
    a = make_node("Stadt A")
    b = make_node("Stadt B")
    path = tmp_path / "bonn.json"
    path.write_text(json.dumps(b.descriptor(), indent=2), encoding="utf-8")
    peer = add_peer_from_file(a, path, f"  {b.fingerprint}\n", pull_only=True)
    assert (peer["node_id"], peer["url"], peer["fingerprint"], peer["pull_only"]) == (
        b.node_id,
        b.config.url,
        b.fingerprint,
        True,
    )
    assert [p["node_id"] for p in list_peers(a)] == [b.node_id]


def _bad_descriptor_file(case: str, a: Node, b: Node, path: Path) -> tuple[str, str]:
    """Write a bad descriptor file for `case`; return the fingerprint to give and a word of the refusal."""
    descriptor = b.descriptor()
    fp = b.fingerprint
    if case == "wrong fingerprint":
        fp, word = FakePeer("Stadt X", "http://127.0.0.1:9").fingerprint, "fingerprint mismatch"
    elif case == "malformed fingerprint":
        fp, word = "SHA256:short", "is not a fingerprint"
    elif case == "tampered name":
        descriptor["name"], word = "Stadt Fälschung", "signature"
    elif case == "tampered url":
        descriptor["url"], word = "http://127.0.0.1:1", "signature"
    elif case == "tampered keys":
        descriptor["keys"] = {"ed25519:1": FakePeer("Stadt X", "http://x").key.public_b64}
        fp, word = FakePeer("Stadt X", "http://x").fingerprint, "node_id"
    elif case == "expired":
        descriptor = build_descriptor(
            [b.key],
            node_id=b.node_id,
            name=b.config.name,
            url=b.config.url,
            valid_until=datetime.now(UTC) - timedelta(minutes=1),
        )
        word = "expired"
    elif case == "own descriptor":
        descriptor, fp, word = a.descriptor(), a.fingerprint, "this node itself"
    elif case == "not a descriptor":
        descriptor, word = {"node_id": b.node_id}, "missing"
    else:
        raise AssertionError(case)
    path.write_text(json.dumps(descriptor), encoding="utf-8")
    return fp, word


BAD_FILES = [
    "wrong fingerprint",
    "malformed fingerprint",
    "tampered name",
    "tampered url",
    "tampered keys",
    "expired",
    "own descriptor",
    "not a descriptor",
]


@pytest.mark.parametrize("already_trusted", [False, True], ids=["new", "existing"])
@pytest.mark.parametrize("case", BAD_FILES)
def test_add_peer_from_a_bad_descriptor_file_is_refused_and_changes_nothing(
    make_node: NodeFactory, tmp_path: Path, case: str, already_trusted: bool
) -> None:
    a = make_node("Stadt A")
    b = make_node("Stadt B")
    if already_trusted:  # a failed re-pairing must not touch the stored keys, URL or mode
        trust_descriptor(a, b.config.url, b.fingerprint, b.descriptor())
    path = tmp_path / "bonn.json"
    fp, word = _bad_descriptor_file(case, a, b, path)
    before = dump(a)
    with pytest.raises(NodeError, match=word):
        add_peer_from_file(a, path, fp, pull_only=True)
    assert dump(a) == before


@pytest.mark.parametrize(
    ("content", "word"),
    [(b"not json at all", "bonn.json"), (b"", "bonn.json"), (b"\xff\xfe{", "bonn.json"), (b"[1, 2]", "object")],
)
def test_add_peer_from_a_file_that_is_not_json_is_refused(
    make_node: NodeFactory, tmp_path: Path, content: bytes, word: str
) -> None:
    a = make_node("Stadt A")
    b = make_node("Stadt B")
    path = tmp_path / "bonn.json"
    path.write_bytes(content)
    before = dump(a)
    with pytest.raises(NodeError, match=word):
        add_peer_from_file(a, path, b.fingerprint, pull_only=True)
    assert dump(a) == before


def test_add_peer_from_a_missing_file_is_refused(make_node: NodeFactory, tmp_path: Path) -> None:
    a = make_node("Stadt A")
    before = dump(a)
    with pytest.raises(NodeError, match="cannot read"):
        add_peer_from_file(a, tmp_path / "missing.json", FakePeer("X", "http://x").fingerprint)
    assert dump(a) == before


# --- gaps and catch-up ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "gap"),
    [
        ([1], False),
        ([1, 2], False),
        ([1, 2, 3], False),
        ([2, 1, 3], True),  # seen when 2 came first; only a pull clears it
        ([1, 3], True),
        ([2], True),
        ([3], True),
        ([1, 2, 4], True),
    ],
)
def test_an_envelope_whose_prev_is_missing_requests_a_catch_up(
    make_node: NodeFactory, sent: list[int], gap: bool
) -> None:
    node = make_node("Stadt A")
    origin = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    bystander = FakePeer("Stadt C", "http://127.0.0.1:10").trusted_by(node)
    chain = [origin.envelope() for _ in range(4)]
    for seq in sent:
        [entry] = ingest(node, origin.node_id, [chain[seq - 1]])["results"]
        assert entry["status"] == "accepted"  # a gap is normal; the envelope is stored all the same
    assert peer_row(node, origin.node_id)["catch_up"] == int(gap)
    assert peer_row(node, bystander.node_id)["catch_up"] == 0
    assert catch_up_requested(node) == ([origin.node_id] if gap else [])


@dataclass
class FakeOutbox:
    """A FakePeer's outbox: serves its chain as signed pages, as a node's outbox does (cursor = index + 1)."""

    peer: FakePeer
    chain: list[dict[str, Any]]
    requests: list[str] = field(default_factory=list)
    override: dict[str, Any] = field(default_factory=dict)
    status: int = 200

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        since = int(request.query.get("since", "0"))
        limit = int(request.query.get("limit", "100"))
        after = self.chain[since:]
        page = after[:limit]
        answer = {
            "envelopes": page,
            "next": since + len(page),
            "more": len(after) > len(page),
            "remaining": len(after) - len(page),
            **self.override,
        }
        body = canonical_bytes(answer if self.status == 200 else {"error": "error", "message": "down"})
        response = web.Response(body=body, status=self.status, content_type="application/json")
        req = HttpRequest(request.method, self.peer.url + request.raw_path, dict(request.headers.items()))
        signed = HttpResponse(status_code=response.status, headers={}, request=req)
        sign_response(signed, body, self.peer.key, self.peer.node_id)
        response.headers.update(signed.headers)
        return response


@pytest.fixture
async def outbox(make_node: NodeFactory, serve_on: ServeOn) -> tuple[Node, FakeOutbox]:
    """Stadt A trusting Stadt F, a fake peer whose outbox holds a chain of four envelopes for A."""
    port = hold_port()
    peer = FakePeer("Stadt F", port.url)
    node = make_node("Stadt A")
    peer.trusted_by(node)
    fake = FakeOutbox(peer, [peer.envelope() for _ in range(4)])
    app = web.Application()
    app.router.add_get("/fed/v1/outbox", fake.handle)
    await serve_on(app, port)
    return node, fake


def inbox_seqs(node: Node) -> list[int]:
    return [row[0] for row in node.db.execute("SELECT seq FROM inbox ORDER BY seq")]


async def test_a_pull_fills_the_gap_and_clears_the_catch_up_request(outbox: tuple[Node, FakeOutbox]) -> None:
    node, fake = outbox
    ingest(node, fake.peer.node_id, [fake.chain[0]])
    ingest(node, fake.peer.node_id, [fake.chain[2]])
    assert catch_up_requested(node) == [fake.peer.node_id]

    fake.status = 503  # a failed pull leaves the request standing
    async with new_session(node) as session:
        with pytest.raises(PeerError, match="HTTP 503"):
            await pull_from(node, session, get_peer(node, fake.peer.node_id))
    assert catch_up_requested(node) == [fake.peer.node_id]

    fake.status = 200
    async with new_session(node) as session:
        report = await pull_from(node, session, get_peer(node, fake.peer.node_id))
    assert (report["accepted"], report["duplicate"], report["cursor"]) == (2, 2, 4)
    assert inbox_seqs(node) == [1, 2, 3, 4]
    assert peer_row(node, fake.peer.node_id)["catch_up"] == 0
    assert catch_up_requested(node) == []


async def test_the_worker_pulls_soon_after_a_gap(
    outbox: tuple[Node, FakeOutbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    node, fake = outbox
    monkeypatch.setattr("node.exchange.worker.CATCH_UP_CHECK", 0.05)
    chain = fake.chain
    fake.chain = chain[:1]  # at start, the outbox has only the first envelope
    worker = Worker(node)
    await worker.start()
    try:
        await eventually(lambda: inbox_seqs(node) == [1], "the full pull at start")
        full_pulls = len(fake.requests)
        ingest(node, fake.peer.node_id, [chain[2]])  # pushed: seq 3 without seq 2
        fake.chain = chain[:3]
        await eventually(lambda: inbox_seqs(node) == [1, 2, 3], "a pull that fills the gap")
    finally:
        await worker.stop()
    assert inbox_seqs(node) == [1, 2, 3]
    assert len(fake.requests) > full_pulls
    assert catch_up_requested(node) == []


# --- forks ----------------------------------------------------------------------------------------------


def forked(peer: FakePeer) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two different envelopes with the same origin and seq 1."""
    first = peer.envelope()
    peer.seq, peer.prev = 0, None
    second = peer.envelope({"title": "Ein anderer Bericht", "summary": "Gleiche Nummer, anderer Inhalt"})
    assert (first["seq"], first["origin"]) == (second["seq"], second["origin"])
    assert first != second
    return first, second


@pytest.mark.parametrize("same_batch", [False, True])
def test_a_fork_is_refused_counted_and_audited(make_node: NodeFactory, same_batch: bool) -> None:
    node = make_node("Stadt A")
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    first, second = forked(peer)
    if same_batch:
        results = ingest(node, peer.node_id, [first, second])["results"]
    else:
        results = ingest(node, peer.node_id, [first])["results"] + ingest(node, peer.node_id, [second])["results"]
    assert [r["status"] for r in results] == ["accepted", "refused"]
    assert results[1]["reason"].startswith("fork")
    assert peer_row(node, peer.node_id)["forks"] == 1
    [stored] = node.db.execute("SELECT envelope FROM inbox").fetchall()
    assert json.loads(stored[0]) == first
    [entry] = audit_actions(node, "fork.refused")
    assert entry["digest"] == audit.digest_of(canonical_bytes(second))
    assert entry["digest"] != audit.digest_of(canonical_bytes(first))
    assert (entry["record_id"], entry["version"], entry["recipients"]) == (second["id"], 1, [peer.node_id])
    assert audit.verify(node) == []

    assert ingest(node, peer.node_id, [first])["results"][0]["status"] == "duplicate"  # the held one: no fork
    assert peer_row(node, peer.node_id)["forks"] == 1
    assert ingest(node, peer.node_id, [second])["results"][0]["status"] == "refused"  # again: counted again
    assert peer_row(node, peer.node_id)["forks"] == 2
    assert len(audit_actions(node, "fork.refused")) == 2
    assert status_of(node, peer.node_id)["forks_refused"] == 2


# --- outbox `remaining` and pull progress ---------------------------------------------------------------


async def test_outbox_remaining_counts_down_across_pages(served: Served, peer_b: FakePeer) -> None:
    node = served.node
    peer_c = FakePeer("Stadt C", "http://127.0.0.1:10").trusted_by(node)
    for n in range(7):
        share(node, f"Bericht {n}", peer_b.node_id)
        if n % 2:
            share(node, f"Nur für C {n}", peer_c.node_id)  # not counted for B
    since, seen = 0, []
    served_cursors = []
    while True:
        response, _ = await served.signed(peer_b, "GET", f"/fed/v1/outbox?since={since}&limit=3")
        answer = json.loads(await response.read())
        assert response.status == 200, answer
        assert page_remaining(answer) == answer["remaining"]
        seen.append((len(answer["envelopes"]), answer["remaining"], answer["more"]))
        served_cursors.append(status_of(node, peer_b.node_id)["their_cursor_in_our_outbox"])
        assert served_cursors[-1] == since
        since = answer["next"]
        if not answer["more"]:
            break
    assert seen == [(3, 4, True), (3, 1, True), (1, 0, False)]
    assert since == status_of(node, peer_b.node_id)["our_outbox_end_for_them"]


@pytest.mark.parametrize("value", [-1, True, False, 1.5, "3", [3], {"n": 3}])
def test_page_remaining_refuses_what_is_not_a_non_negative_integer(value: object) -> None:
    with pytest.raises(SchemaError, match="remaining"):
        page_remaining({"envelopes": [], "next": 0, "more": False, "remaining": value})


@pytest.mark.parametrize(("body", "expected"), [({}, None), ({"remaining": None}, None), ({"remaining": 0}, 0)])
def test_page_remaining_accepts_a_count_or_nothing(body: dict[str, Any], expected: int | None) -> None:
    assert page_remaining({"envelopes": [], "next": 0, "more": False, **body}) == expected


async def test_pull_from_reports_progress_after_every_page(fed: Federation, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, _ = nodes(fed)
    for n in range(7):
        share(b, f"Aus Bonn {n}", a.node_id)
    monkeypatch.setattr(pull, "PAGE_SIZE", 3)
    calls: list[tuple[str, int, int]] = []
    async with new_session(a) as session:
        report = await pull_from(a, session, get_peer(a, b.node_id), lambda *args: calls.append(args))
    assert calls == [("bonn", 3, 4), ("bonn", 6, 1), ("bonn", 7, 0)]
    assert (report["accepted"], report["cursor"]) == (7, 7)
    pages = [json.loads(w.body) for w in fed.bytes_from(b) if w.kind == "pull"]
    assert [(len(p["envelopes"]), p["remaining"], p["more"]) for p in pages] == [
        (3, 4, True),
        (3, 1, True),
        (1, 0, False),
    ]

    calls.clear()
    async with new_session(a) as session:
        await pull_from(a, session, get_peer(a, b.node_id), lambda *args: calls.append(args))
    assert calls == [("bonn", 0, 0)]  # nothing new: one page, one call


@pytest.mark.parametrize("remaining", [-1, True, "4", [4]])
async def test_a_page_with_a_malformed_remaining_is_refused_and_nothing_is_stored(
    outbox: tuple[Node, FakeOutbox], remaining: object
) -> None:
    node, fake = outbox
    fake.override = {"remaining": remaining}
    before = dump(node)
    peer_before = peer_row(node, fake.peer.node_id)
    calls: list[tuple[str, int, int]] = []
    async with new_session(node) as session:
        with pytest.raises(PeerError, match="malformed outbox page"):
            await pull_from(node, session, get_peer(node, fake.peer.node_id), lambda *args: calls.append(args))
    assert calls == []
    peer_after = peer_row(node, fake.peer.node_id)
    assert "malformed outbox page" in peer_after.pop("last_error")  # the failed pull is shown; nothing else changes
    assert peer_before.pop("last_error") is None
    assert peer_after == peer_before

    def kept(rows: list[str]) -> list[str]:
        return [row for row in rows if "nonces" not in row and not row.startswith('INSERT INTO "peers"')]

    assert kept(dump(node)) == kept(before)


# --- alerts first ---------------------------------------------------------------------------------------


async def test_alerts_go_ahead_of_records_in_every_queue(fed: Federation) -> None:
    a, b, c = nodes(fed)
    for n in range(3):
        record_id = add_record(a, "experience", {**RECORD, "title": f"Bericht {n}"}, by=ADMIN)
        share_record(a, record_id, [b.node_id, c.node_id], all_peers=False, by=ADMIN)
    alert_id = send_alert(a, alert_content(), [b.node_id, c.node_id], all_peers=False, by=ADMIN)["id"]
    await fed.deliver(a)
    for receiver in (b, c):
        pushes = [w for w in fed.bytes_from(a) if w.kind == "push" and w.receiver == receiver.node_id]
        assert pushes, receiver.config.name
        first = pushes[0].envelopes()
        assert [e["type"] for e in first] == ["alert", "experience", "experience", "experience"]
        assert first[0]["id"] == alert_id
        assert [e["seq"] for e in first[1:]] == sorted(e["seq"] for e in first[1:])  # records in queue order
