"""Push delivery and pull catch-up between two real nodes, each with its own in-process server."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from node.errors import PeerError
from node.exchange.delivery import claim_batches, due_peers, send_batch
from node.exchange.pull import pull_all, pull_from
from node.exchange.received import list_inbox
from node.exchange.server import NODE, errors_and_signing
from node.home import Node
from node.sharing.records import add_record, send_alert
from node.sharing.shares import share_record
from node.transport.client import new_session
from node.trust.peers import get_peer, trust_descriptor
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from protocol.envelope import envelope_ref
from tests.conftest import RECORD, FakePeer, alert_content
from tests.node.conftest import NodeFactory, ServeOn, Two, count, pair, serve
from tests.ports import hold_port, unreachable_url

MARKER = "LOCAL-ONLY-7f3a"


def share(node: Node, title: str, *peer_ids: str) -> str:
    record_id = add_record(node, "experience", {**RECORD, "title": title}, by=ADMIN)
    share_record(node, record_id, list(peer_ids), all_peers=False, by=ADMIN)
    return record_id


async def push(sender: Node, peer_id: str) -> int:
    async with new_session(sender) as session:
        return await send_batch(sender, session, peer_id)


async def pull(receiver: Node, peer_id: str) -> dict[str, Any]:
    async with new_session(receiver) as session:
        return await pull_from(receiver, session, get_peer(receiver, peer_id))


def deliveries(node: Node) -> list[dict[str, Any]]:
    found = node.db.execute("SELECT id, peer_id, seq, state, txn_id, finished, reason FROM deliveries ORDER BY id")
    names = ("id", "peer_id", "seq", "state", "txn_id", "finished", "reason")
    return [dict(zip(names, row, strict=True)) for row in found.fetchall()]


def peer_state(node: Node, peer_id: str) -> dict[str, Any]:
    row = node.db.execute(
        "SELECT failures, next_attempt, last_error, last_success, pull_cursor FROM peers WHERE node_id = ?", (peer_id,)
    ).fetchone()
    return dict(zip(("failures", "next_attempt", "last_error", "last_success", "pull_cursor"), row, strict=True))


def inbox_ids(node: Node) -> list[str]:
    return [row[0] for row in node.db.execute("SELECT id FROM inbox ORDER BY rowid")]


def received_txns(node: Node) -> list[str]:
    """The ids of the inbound transactions `node` has stored, in the order they came."""
    return [row[0] for row in node.db.execute("SELECT txn_id FROM inbound_txns ORDER BY rowid")]


# --- push ---------------------------------------------------------------------------------------


async def test_push_delivers_a_shared_record(two: Two) -> None:
    a, b = two.a.node, two.b.node
    record_id = share(a, "Bericht X", b.node_id)
    assert due_peers(a) == [b.node_id]
    assert await push(a, b.node_id) == 1
    [item] = list_inbox(b)
    assert (item["id"], item["origin"], item["origin_name"], item["verified"]) == (
        record_id,
        a.node_id,
        "Stadt A",
        True,
    )
    assert item["content"]["title"] == "Bericht X"
    assert "internal_notes" not in item["content"]
    assert MARKER not in b.db.execute("SELECT group_concat(envelope) FROM inbox").fetchone()[0]
    [row] = deliveries(a)
    assert (row["state"], row["reason"]) == ("delivered", None)
    assert row["finished"] is not None
    assert b.db.execute("SELECT sender, txn_id FROM inbound_txns").fetchall() == [(a.node_id, row["txn_id"])]
    state = peer_state(a, b.node_id)
    assert (state["failures"], state["last_error"]) == (0, None)
    assert state["last_success"] is not None
    assert due_peers(a) == []


async def test_sending_again_sends_nothing(two: Two) -> None:
    a, b = two.a.node, two.b.node
    share(a, "Bericht X", b.node_id)
    assert await push(a, b.node_id) == 1
    assert await push(a, b.node_id) == 0
    assert count(b, "inbox") == 1
    assert count(b, "inbound_txns") == 1


async def test_a_resent_transaction_after_a_lost_answer_is_not_stored_twice(two: Two) -> None:
    """B stored the batch but A never heard back: A repeats the same txn id, B answers from its log."""
    a, b = two.a.node, two.b.node
    share(a, "Bericht X", b.node_id)
    assert await push(a, b.node_id) == 1
    a.db.execute("UPDATE deliveries SET state = 'pending', finished = NULL")  # as if the answer was lost
    assert await push(a, b.node_id) == 1
    assert [row["state"] for row in deliveries(a)] == ["delivered"]
    assert count(b, "inbox") == 1
    assert count(b, "inbound_txns") == 1


async def test_unreachable_peer_backs_off(make_node: NodeFactory) -> None:
    a = make_node("Stadt A")
    b = make_node("Stadt B", url=unreachable_url())  # no server started for B
    pair(a, b)
    share(a, "Bericht X", b.node_id)
    before = time.time()
    assert await push(a, b.node_id) == 0
    state = peer_state(a, b.node_id)
    assert state["failures"] == 1
    assert state["next_attempt"] > before
    assert "cannot reach" in state["last_error"]
    assert state["last_success"] is None
    [row] = deliveries(a)
    assert (row["state"], row["finished"]) == ("pending", None)
    assert row["txn_id"] is not None  # kept for the retry
    assert due_peers(a) == []  # not due again before the backoff has run out
    assert await push(a, b.node_id) == 0
    assert peer_state(a, b.node_id)["failures"] == 2
    assert deliveries(a)[0]["txn_id"] == row["txn_id"]


async def test_a_peer_that_does_not_trust_us_is_retried_later(
    make_node: NodeFactory, serve_on: ServeOn, aiohttp_client: AiohttpClient
) -> None:
    a = make_node("Stadt A")
    b = await serve("Stadt B", make_node, serve_on, aiohttp_client)
    trust_descriptor(a, b.node.config.url, b.node.fingerprint, b.node.descriptor())  # B does not trust A
    share(a, "Bericht X", b.node.node_id)
    assert await push(a, b.node.node_id) == 0
    state = peer_state(a, b.node.node_id)
    assert state["failures"] == 1
    assert "HTTP 401" in state["last_error"]
    assert [row["state"] for row in deliveries(a)] == ["pending"]  # 401 is retryable
    assert count(b.node, "inbox") == 0


async def test_an_envelope_the_peer_refuses_is_marked_refused(two: Two) -> None:
    a, b = two.a.node, two.b.node
    good = share(a, "Bericht X", b.node_id)
    share(a, "Bericht Y", b.node_id)
    stored = json.loads(a.db.execute("SELECT envelope FROM envelopes WHERE seq = 2").fetchone()[0])
    stored["content"]["title"] = "Nachträglich geändert"  # no longer matches the signed hash
    a.db.execute("UPDATE envelopes SET envelope = ? WHERE seq = 2", (json.dumps(stored),))
    assert await push(a, b.node_id) == 1
    first, second = deliveries(a)
    assert first["state"] == "delivered"
    assert second["state"] == "refused"
    assert "content does not match" in second["reason"]
    assert inbox_ids(b) == [good]


async def test_an_envelope_no_longer_shared_is_withheld(two: Two) -> None:
    a, b = two.a.node, two.b.node
    share(a, "Bericht X", b.node_id)
    a.db.execute("DELETE FROM grants")  # the envelope is queued, but the peer may no longer receive it
    assert await push(a, b.node_id) == 0
    [row] = deliveries(a)
    assert (row["state"], row["reason"]) == ("refused", "no longer shared with this peer")
    assert count(b, "inbox") == 0
    assert count(b, "inbound_txns") == 0


async def test_alerts_go_first(two: Two) -> None:
    """An alert queued behind a full batch of records goes out in the first batch, ahead of them."""
    a, b = two.a.node, two.b.node
    records = [share(a, f"Bericht {n}", b.node_id) for n in range(50)]
    alert_id = send_alert(a, alert_content(), [b.node_id], all_peers=False, by=ADMIN)["id"]
    assert await push(a, b.node_id) == 50
    assert inbox_ids(b) == [alert_id, *records[:49]]
    assert await push(a, b.node_id) == 1
    assert inbox_ids(b) == [alert_id, *records]


async def test_a_batch_holds_at_most_50(two: Two) -> None:
    a, b = two.a.node, two.b.node
    for n in range(60):
        share(a, f"Bericht {n}", b.node_id)
    assert await push(a, b.node_id) == 50
    assert await push(a, b.node_id) == 10
    assert await push(a, b.node_id) == 0
    assert count(b, "inbox") == 60
    assert count(b, "inbound_txns") == 2
    txns = {row["txn_id"] for row in deliveries(a)}
    assert len(txns) == 2
    received = [row[0] for row in b.db.execute("SELECT seq FROM inbox ORDER BY rowid")]
    assert received == list(range(1, 61))


async def test_large_records_go_in_batches_the_receiver_accepts(two: Two) -> None:
    """50 envelopes of up to 20000 characters per field can exceed the 1 MiB inbox limit: split by size too."""
    a, b = two.a.node, two.b.node
    long = "ä" * 20000
    big = {**RECORD, "problem": long, "causes": long, "goals": long, "measures": long}
    for n in range(8):  # about 160 kB each, 1.3 MB together
        record_id = add_record(a, "experience", {**big, "title": f"Bericht {n}"}, by=ADMIN)
        share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN)
    sent = []
    while True:
        taken = await push(a, b.node_id)
        if not taken:
            break
        sent.append(taken)
    assert sum(sent) == 8
    assert len(sent) > 1
    assert [row["state"] for row in deliveries(a)] == ["delivered"] * 8
    assert count(b, "inbox") == 8


async def test_a_claimed_batch_is_sent_as_claimed_under_its_transaction_id(two: Two) -> None:
    """Claiming again hands out the same transaction until it is answered; what was queued since waits."""
    a, b = two.a.node, two.b.node
    first = [share(a, f"Bericht {n}", b.node_id) for n in range(3)]
    txn_id = claim_batches(a, [b.node_id])[b.node_id]
    later = share(a, "Später geteilt", b.node_id)  # queued while the first batch is in flight
    assert claim_batches(a, [b.node_id]) == {b.node_id: txn_id}
    assert await push(a, b.node_id) == 3
    assert inbox_ids(b) == first
    assert received_txns(b) == [txn_id]
    following = claim_batches(a, [b.node_id])[b.node_id]
    assert following != txn_id
    assert await push(a, b.node_id) == 1
    assert inbox_ids(b) == [*first, later]
    assert received_txns(b) == [txn_id, following]


async def test_a_fan_out_claim_is_on_disk_before_anything_is_sent(
    make_node: NodeFactory, serve_on: ServeOn, aiohttp_client: AiohttpClient
) -> None:
    """One call claims every peer's batch; a crash before sending loses none, and none is sent under a new id."""
    a = make_node("Stadt A")
    peers = [(await serve(f"Stadt {n}", make_node, serve_on, aiohttp_client)).node for n in range(3)]
    for peer in peers:
        pair(a, peer)
    alert_id = send_alert(a, alert_content(), [], all_peers=True, by=ADMIN)["id"]
    claimed = claim_batches(a, [peer.node_id for peer in peers])
    assert set(claimed) == {peer.node_id for peer in peers}
    assert len(set(claimed.values())) == len(peers)
    assert claim_batches(a, []) == {}
    a.close()  # the process dies before sending: only what was committed to the file is left
    restarted = Node.open(a.home)
    try:
        for peer in peers:
            assert await push(restarted, peer.node_id) == 1
            assert inbox_ids(peer) == [alert_id]
            assert received_txns(peer) == [claimed[peer.node_id]]
    finally:
        restarted.close()


# --- pull ---------------------------------------------------------------------------------------


async def test_pull_gets_what_was_shared_with_the_puller(two: Two) -> None:
    a, b = two.a.node, two.b.node
    other = FakePeer("Stadt C", "http://127.0.0.1:10").trusted_by(a)
    x = share(a, "Bericht X", b.node_id)
    share(a, "Nur für C", other.node_id)
    report = await pull(b, a.node_id)
    assert report["accepted"] == 1
    assert report["name"] == "Stadt A"
    assert inbox_ids(b) == [x]
    cursor = a.db.execute("SELECT cursor FROM grants WHERE peer_id = ?", (b.node_id,)).fetchone()[0]
    assert report["cursor"] == cursor
    assert peer_state(b, a.node_id)["pull_cursor"] == cursor
    assert list_inbox(b)[0]["verified"] is True
    assert MARKER not in b.db.execute("SELECT group_concat(envelope) FROM inbox").fetchone()[0]


async def test_pulling_again_gets_nothing_new(two: Two) -> None:
    a, b = two.a.node, two.b.node
    share(a, "Bericht X", b.node_id)
    first = await pull(b, a.node_id)
    again = await pull(b, a.node_id)
    assert "accepted" not in again
    assert again["cursor"] == first["cursor"]
    assert count(b, "inbox") == 1
    y = share(a, "Bericht Y", b.node_id)
    later = await pull(b, a.node_id)
    assert later["accepted"] == 1
    assert later["cursor"] > first["cursor"]
    assert inbox_ids(b)[-1] == y


async def test_pull_after_push_passes_over_what_was_pushed(two: Two) -> None:
    a, b = two.a.node, two.b.node
    share(a, "Bericht X", b.node_id)
    assert await push(a, b.node_id) == 1
    report = await pull(b, a.node_id)
    assert (report.get("accepted"), report.get("duplicate"), report["cursor"]) == (None, None, 1)
    assert count(b, "inbox") == 1


async def test_pull_follows_many_pages(two: Two, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = two.a.node, two.b.node
    monkeypatch.setattr("node.exchange.pull.PAGE_SIZE", 3)
    for n in range(7):
        share(a, f"Bericht {n}", b.node_id)
    report = await pull(b, a.node_id)
    assert report["accepted"] == 7
    assert [row[0] for row in b.db.execute("SELECT seq FROM inbox ORDER BY rowid")] == list(range(1, 8))


async def test_pull_from_an_unreachable_peer_is_reported(two: Two, make_node: NodeFactory) -> None:
    a, b = two.a.node, two.b.node
    dead = make_node("Stadt D", url=unreachable_url())
    pair(b, dead)
    share(a, "Bericht X", b.node_id)
    async with new_session(b) as session:
        reports = {report["name"]: report for report in await pull_all(b, session)}
    assert reports["Stadt A"]["accepted"] == 1
    assert "cannot reach" in reports["Stadt D"]["error"]


def raw_outbox(node: Node, body: bytes) -> web.Application:
    """A server that speaks for `node` (signed answers) but serves `body` as its outbox page."""

    async def outbox(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application(middlewares=[errors_and_signing])
    app[NODE] = node
    app.router.add_get("/fed/v1/outbox", outbox)
    return app


def fake_outbox(node: Node, page: Any) -> web.Application:
    """A server that speaks for `node` (signed answers) but serves `page` as its outbox."""
    return raw_outbox(node, canonical_bytes(page))


@pytest.mark.parametrize(
    ("page", "problem"),
    [
        ({"envelopes": "none", "next": 1, "more": False}, "malformed outbox page"),
        ({"envelopes": [], "next": -1, "more": False}, "malformed outbox page"),
        ({"envelopes": [], "next": 0, "more": "no"}, "malformed outbox page"),
        (["not", "a", "page"], "malformed outbox page"),
        ({"envelopes": [], "next": 0, "more": False, "extra": 1}, None),
    ],
)
async def test_a_malformed_outbox_page_is_reported(
    make_node: NodeFactory,
    serve_on: ServeOn,
    page: Any,
    problem: str | None,
) -> None:
    port = hold_port()
    a = make_node("Stadt A", url=port.url)
    b = make_node("Stadt B")
    pair(a, b)
    await serve_on(fake_outbox(a, page), port)
    async with new_session(b) as session:
        [report] = await pull_all(b, session)
    if problem is None:  # unknown page fields are tolerated
        assert "error" not in report
    else:
        assert problem in report["error"]
        assert peer_state(b, a.node_id)["pull_cursor"] == 0
    assert count(b, "inbox") == 0


async def test_an_outbox_whose_cursor_goes_backwards_is_reported(make_node: NodeFactory, serve_on: ServeOn) -> None:
    port = hold_port()
    a = make_node("Stadt A", url=port.url)
    b = make_node("Stadt B")
    pair(a, b)
    b.db.execute("UPDATE peers SET pull_cursor = 5")
    await serve_on(fake_outbox(a, {"envelopes": [], "next": 2, "more": False}), port)
    with pytest.raises(PeerError, match="backwards"):
        await pull(b, a.node_id)
    assert peer_state(b, a.node_id)["pull_cursor"] == 5


async def test_an_outbox_answer_signed_by_somebody_else_is_refused(make_node: NodeFactory, serve_on: ServeOn) -> None:
    port = hold_port()
    a = make_node("Stadt A", url=port.url)
    b = make_node("Stadt B")
    impostor = make_node("Stadt I")
    pair(a, b)
    pair(impostor, b)  # even a peer B trusts cannot answer in A's name
    own = share(a, "Bericht X", b.node_id)
    envelope = json.loads(a.db.execute("SELECT envelope FROM envelopes").fetchone()[0])
    await serve_on(fake_outbox(impostor, {"envelopes": [envelope], "next": 1, "more": False}), port)
    with pytest.raises(PeerError, match="refusing the answer"):
        await pull(b, a.node_id)
    assert count(b, "inbox") == 0
    assert own == envelope["id"]


async def test_the_chain_links_pushed_envelopes(two: Two) -> None:
    a, b = two.a.node, two.b.node
    share(a, "Bericht X", b.node_id)
    share(a, "Bericht Y", b.node_id)
    assert await push(a, b.node_id) == 2
    first, second = (json.loads(row[0]) for row in b.db.execute("SELECT envelope FROM inbox ORDER BY seq"))
    assert second["prev"] == envelope_ref(first)
