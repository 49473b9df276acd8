"""Issue 13, doctor: the checks of an opened node (audit chain, queues, forks, network keys and certificates),
each shown failing on a node broken on purpose."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from node.exchange import delivery
from node.exchange.delivery import send_batch
from node.exchange.server import create_app
from node.home import DB_FILE, Node
from node.networks.operator import create_network
from node.networks.registry import network_key_path
from node.ops.backup import snapshot_database
from node.ops.doctor import examine
from node.ops.findings import FAIL, OK, WARN, Finding, Limits
from node.sharing.records import add_record
from node.sharing.shares import share_record
from node.store import write_private
from node.transport.client import new_session
from node.trust.peers import trust_descriptor
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from tests.conftest import FakePeer, SetClock
from tests.node.conftest import NodeFactory, Served, ServeOn, pair
from tests.ports import hold_port, unreachable_url

RECORD = {"title": "Nachbarschaftsbegehungen", "summary": "Gemeinsame Begehungen mit Anwohnern."}


def only(findings: list[Finding], check: str) -> Finding:
    [found] = [finding for finding in findings if finding.check == check]
    return found


def test_a_tampered_audit_row_fails_the_audit_chain(make_node: NodeFactory) -> None:
    node = make_node("Stadt A")
    for number in range(3):
        add_record(node, "experience", {**RECORD, "title": f"Bericht {number}"}, by=ADMIN)
    assert only(examine(node.home), "audit") == Finding(
        "audit", OK, "hash chain intact: 3 entries, 0 signed checkpoint(s) hold"
    )
    with closing(sqlite3.connect(node.home / DB_FILE, isolation_level=None)) as conn:  # someone with the file
        triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
        for name, _ in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("UPDATE audit SET user = 'erika' WHERE seq = 2")
        for _, sql in triggers:
            conn.execute(sql)
    audit = only(examine(node.home), "audit")
    assert audit.status == FAIL
    assert audit.message.startswith("the audit log is not intact: ")
    assert "2" in audit.message
    assert "praevnet audit verify" in audit.advice


@pytest.fixture
def no_quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed push is not retried at once (its pauses would only slow the test down)."""
    monkeypatch.setattr(delivery, "QUICK_RETRIES", ())


def share_with_a_peer_that_is_down(node: Node) -> FakePeer:
    peer = FakePeer("Stadt B", unreachable_url()).trusted_by(node)
    record_id = add_record(node, "experience", RECORD, by=ADMIN)
    share_record(node, record_id, [peer.node_id], all_peers=False, by=ADMIN)
    return peer


async def attempts(node: Node, peer: FakePeer, count: int) -> None:
    """`count` pushes to the peer, each as soon as the last one failed."""
    async with new_session(node) as session:
        for _ in range(count):
            node.db.execute("UPDATE peers SET next_attempt = 0 WHERE node_id = ?", (peer.node_id,))
            assert await send_batch(node, session, peer.node_id) == 0


@pytest.mark.usefixtures("no_quick_retries")
def test_a_queue_that_does_not_drain_warns_then_fails(make_node: NodeFactory, clock: SetClock) -> None:
    node = make_node("Stadt A")
    start = clock.set(clock.now())
    share_with_a_peer_that_is_down(node)
    queue = only(examine(node.home), "queue Stadt B")
    assert queue.status == OK
    assert queue.message == "1 waiting, the oldest for 0 min (0 delivered, 0 refused by it)"
    clock.set(start + timedelta(hours=2))
    queue = only(examine(node.home), "queue Stadt B")
    assert (queue.status, queue.message) == (WARN, "1 waiting, the oldest for 2 h (0 delivered, 0 refused by it)")
    assert "praevnet peers retry" in queue.advice
    clock.set(start + timedelta(days=3))
    assert only(examine(node.home), "queue Stadt B").status == FAIL
    assert only(examine(node.home, Limits(queue_fail=timedelta(days=4))), "queue Stadt B").status == WARN


@pytest.mark.usefixtures("no_quick_retries")
def test_failed_attempts_in_a_row_warn_with_the_last_error(make_node: NodeFactory) -> None:
    node = make_node("Stadt A")
    peer = share_with_a_peer_that_is_down(node)
    asyncio.run(attempts(node, peer, 2))
    assert only(examine(node.home), "queue Stadt B").status == OK
    asyncio.run(attempts(node, peer, 1))
    queue = only(examine(node.home), "queue Stadt B")
    assert queue.status == WARN
    assert "; 3 failed attempts in a row, the last: " in queue.message
    assert "cannot reach" in queue.message
    assert only(examine(node.home, Limits(failures_warn=4)), "queue Stadt B").status == OK


def test_a_pull_only_peer_that_does_not_fetch_warns(make_node: NodeFactory, clock: SetClock) -> None:
    node = make_node("Stadt A")
    start = clock.set(clock.now())
    peer = FakePeer("Stadt P", unreachable_url())
    trust_descriptor(node, peer.url, peer.fingerprint, peer.descriptor(), pull_only=True)
    record_id = add_record(node, "experience", RECORD, by=ADMIN)
    share_record(node, record_id, [peer.node_id], all_peers=False, by=ADMIN)
    clock.set(start + timedelta(hours=5))
    findings = examine(node.home)
    queue = only(findings, "queue Stadt P")
    assert queue.status == WARN
    assert queue.message == "1 waiting, the oldest for 5 h (pull-only: it fetches from this node)"
    assert "has not fetched" in queue.advice
    reach = only(findings, "peer Stadt P")
    assert (reach.status, reach.message) == (OK, "pull-only: this node never connects to it, it fetches from this node")


async def test_forks_a_peer_sent_warn(served: Served, peer_b: FakePeer) -> None:
    assert only(await asyncio.to_thread(examine, served.node.home), "forks").status == OK
    first = peer_b.envelope()
    await served.put_inbox(peer_b, "t1", canonical_bytes({"envelopes": [first]}))
    peer_b.seq, peer_b.prev = 0, None  # B signs another seq 1: a fork of what A holds
    await served.put_inbox(
        peer_b, "t2", canonical_bytes({"envelopes": [peer_b.envelope({"title": "Andere", "summary": "x"})]})
    )
    found = only(await asyncio.to_thread(examine, served.node.home), "forks from Stadt B")
    assert found.status == WARN
    assert found.message == "this node refused 1 envelope(s) from Stadt B as forks of what it holds of that chain"
    assert "older copy" in found.advice


def test_an_expiring_network_certificate_warns_then_fails(make_node: NodeFactory, clock: SetClock) -> None:
    node = make_node("Stadt O")
    start = clock.set(clock.now())
    create_network(node, "DEFUS", by=ADMIN)
    findings = examine(node.home)
    assert only(findings, "certificate DEFUS").status == OK
    assert only(findings, "revocations DEFUS").status == OK
    assert only(findings, "network key DEFUS").status == OK
    clock.set(start + timedelta(days=28))  # the revocation list lasts 30 days
    revocations = only(examine(node.home), "revocations DEFUS")
    assert revocations.status == WARN
    assert revocations.message.startswith("the revocation list expires in 48 h, at ")
    assert "praevnet network refresh" in revocations.advice
    clock.set(start + timedelta(days=340))  # the operator's own certificate lasts a year
    findings = examine(node.home)
    certificate = only(findings, "certificate DEFUS")
    assert certificate.status == WARN
    assert certificate.message.startswith("this node's membership certificate expires in 25 days, at ")
    assert "renews it by itself" in certificate.advice
    assert only(findings, "revocations DEFUS").status == FAIL
    clock.set(start + timedelta(days=366))
    certificate = only(examine(node.home), "certificate DEFUS")
    assert certificate.status == FAIL
    assert certificate.message.startswith("this node's membership certificate expired at ")


def test_a_missing_network_key_fails(make_node: NodeFactory) -> None:
    node = make_node("Stadt O")
    network = create_network(node, "DEFUS", by=ADMIN)
    network_key_path(node.home, network["id"]).unlink()
    key = only(examine(node.home), "network key DEFUS")
    assert key.status == FAIL
    assert "is missing" in key.message
    assert "backup" in key.advice


async def test_a_peer_refusing_our_envelopes_as_forks_fails_and_the_held_chain_warns(
    make_node: NodeFactory, serve_on: ServeOn, tmp_path: Path
) -> None:
    """Stadt A comes back from an older copy of its home: its next share reuses a seq Stadt B holds."""
    port_a, port_b = hold_port(), hold_port()
    a, b = make_node("Stadt A", url=port_a.url), make_node("Stadt B", url=port_b.url)
    server_a = await serve_on(create_app(a, background=False), port_a)
    await serve_on(create_app(b, background=False), port_b)
    pair(a, b)
    older, _, _ = snapshot_database(a.home / DB_FILE)
    first = add_record(a, "experience", RECORD, by=ADMIN)
    share_record(a, first, [b.node_id], all_peers=False, by=ADMIN)
    async with new_session(a) as session:
        assert await send_batch(a, session, b.node_id) == 1
    assert only(await asyncio.to_thread(examine, a.home), "forks").status == OK

    home = tmp_path / "stadt-a-again"  # the copy, put back by hand under the same URL
    home.mkdir(mode=0o700)
    for name in ("praevnet.toml", "node.key"):
        write_private(home / name, (a.home / name).read_bytes())
    write_private(home / DB_FILE, older)
    await server_a.close()
    port_a.reclaim()
    again = Node.open(home)
    try:
        await serve_on(create_app(again, background=False), port_a)
        second = add_record(again, "experience", {**RECORD, "title": "Bericht Y"}, by=ADMIN)
        share_record(again, second, [b.node_id], all_peers=False, by=ADMIN)
        async with new_session(again) as session:
            assert await send_batch(again, session, b.node_id) == 0  # refused as a fork of seq 1
        findings = await asyncio.to_thread(examine, home)
    finally:
        again.close()
    fork = only(findings, "fork Stadt B")
    assert fork.status == FAIL
    assert fork.message.startswith("Stadt B refuses this node's envelopes as forks: ")
    assert "seq 1: fork:" in fork.message
    assert "learns its chain head from its peers" in fork.advice
    chain = only(findings, "chain")
    assert chain.status == WARN
    assert chain.message.startswith("this node's own envelopes after seq 0 wait until a peer has said")
