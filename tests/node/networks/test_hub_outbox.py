"""A small town through one hub: the hub's outbox serves relays, and a via-hub member sends to hubs only.

Real nodes with servers on loopback (tests/node/federation.py): operator and hub O of network DEFUS,
members M and N that joined first, and a small town T that joined last, admitted pull-only (O never
pushes to it) and joined --via-hub (it sends its network shares to O only). M and N never learn of T.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from node import audit
from node.errors import NodeError
from node.exchange.worker import Worker
from node.home import Node
from node.networks.operator import admit_member, create_network
from node.networks.registry import list_networks, set_via_hub
from node.networks.sync import join_network
from node.sharing.records import add_record
from node.sharing.shares import retract, share_record
from node.transport.client import HttpFailure, new_session, signed_request_bytes
from node.trust.peers import get_peer
from node.users import ADMIN
from protocol.canonical import canonical_bytes, parse
from protocol.tlp import CLEAR
from tests.conftest import RECORD
from tests.node.conftest import eventually
from tests.node.federation import Federation
from tests.node.networks.test_registry import YEAR


@dataclass
class Town:
    fed: Federation
    o: Node
    m: Node
    n: Node
    t: Node
    network: str


async def join(operator: Node, member: Node, *, pull_only: bool = False, via_hub: bool = False, **kw: Any) -> None:
    admitted = await admit_member(
        operator, member.config.url, member.fingerprint, lifetime=YEAR, pull_only=pull_only, by=ADMIN, **kw
    )
    await join_network(member, admitted["code"], via_hub=via_hub, by=ADMIN)


@pytest.fixture
async def town(federation: Federation) -> Town:
    fed = federation
    o, m, n = [await fed.add(name) for name in ("O", "M", "N")]
    t = await fed.add("T", {"delivery": {"pull_interval": 0.5}})
    network = create_network(o, "DEFUS", by=ADMIN)["id"]
    await join(o, m)
    await join(o, n)
    await join(o, t, pull_only=True, via_hub=True)  # T learns M and N; M and N never learn T
    fed.wire.clear()
    fed.requests.clear()
    return Town(fed, o, m, n, t, network)


def signed_text(node: Node, record_id: str) -> bytes:
    """The newest envelope `node` signed for a record, as stored (canonical)."""
    (text,) = node.db.execute(
        "SELECT envelope FROM envelopes WHERE id = ? ORDER BY seq DESC LIMIT 1", (record_id,)
    ).fetchone()
    return str(text).encode()


async def network_share(node: Node, tlp: str = CLEAR) -> str:
    record = add_record(node, "experience", RECORD, by=ADMIN, tlp=tlp)
    share_record(node, record, [], False, network="DEFUS", by=ADMIN)
    return record


async def outbox(node: Node, of: Node, query: str) -> tuple[int, Any]:
    """`node` asks `of` for `GET /fed/v1/outbox?QUERY`; the status and the parsed answer."""
    async with new_session(node) as session:
        try:
            peer = get_peer(node, of.node_id)
            body = await signed_request_bytes(node, session, peer, "GET", f"/fed/v1/outbox?{query}")
        except HttpFailure as exc:
            return exc.status, str(exc)
    return 200, parse(body)


def relays(node: Node, peer: Node) -> list[tuple[str, str | None]]:
    found = node.db.execute("SELECT state, reason FROM relays WHERE peer_id = ? ORDER BY id", (peer.node_id,))
    return [tuple(row) for row in found]


def held_from(node: Node, origin: Node) -> list[bytes]:
    rows = node.db.execute("SELECT envelope FROM inbox WHERE origin = ? ORDER BY seq", (origin.node_id,))
    return [str(row[0]).encode() for row in rows]


# --- 1. the hub's outbox serves relays --------------------------------------------------------------


async def test_a_pull_only_town_pulls_relays_from_the_hub_exactly_as_signed(town: Town) -> None:
    h = town
    record = await network_share(h.m)
    await h.fed.deliver(h.m)  # M joined first and never refreshed: it knows O only
    assert {w.receiver for w in h.fed.bytes_from(h.m)} == {h.o.node_id}
    assert relays(h.o, h.t) == [("pending", None)]
    await h.fed.deliver(h.o)  # O pushes its relays, but never to the pull-only town
    assert not [w for w in h.fed.wire if w.receiver == h.t.node_id]
    assert relays(h.o, h.t) == [("pending", None)]

    report = await h.fed.pull(h.t, h.o)
    assert report["accepted"] == 1
    assert held_from(h.t, h.m) == [signed_text(h.m, record)]  # byte for byte what M signed
    (page,) = [w for w in h.fed.bytes_from(h.o) if w.receiver == h.t.node_id and w.kind == "pull"]
    assert [canonical_bytes(e) for e in page.envelopes()] == [signed_text(h.m, record)]
    assert relays(h.o, h.t) == [("delivered", "pulled")]
    sender = h.t.db.execute("SELECT sender FROM inbox WHERE origin = ?", (h.m.node_id,)).fetchone()[0]
    assert sender == h.o.node_id
    served = [e["detail"] for e in audit.per_record(audit.list_entries(h.o)) if e["action"] == "served"]
    assert served == [f"experience of {h.m.node_id} (relayed) pulled by the peer"]

    again = await h.fed.pull(h.t, h.o)  # the cursor moved on: nothing twice
    assert again.get("accepted", 0) == 0
    assert again.get("duplicate", 0) == 0


async def test_grants_and_relays_come_in_one_ascending_cursor_order(town: Town) -> None:
    h = town
    await network_share(h.m)
    await h.fed.deliver(h.m)  # relay for T: cursor 1 in O's sequence
    own = add_record(h.o, "experience", RECORD, by=ADMIN, tlp=CLEAR)
    share_record(h.o, own, [h.t.node_id], False, by=ADMIN)  # a grant after it
    await network_share(h.n)
    await h.fed.deliver(h.n)  # another relay after the grant

    seen, since, cursors = [], 0, []
    for _ in range(5):
        status, page = await outbox(h.t, h.o, f"since={since}&limit=1")
        assert status == 200
        seen += [e["origin"] for e in page["envelopes"]]
        cursors.append(page["next"])
        since = page["next"]
        if not page["more"]:
            break
    assert seen == [h.m.node_id, h.o.node_id, h.n.node_id]
    assert cursors == sorted(set(cursors))
    status, first = await outbox(h.t, h.o, "since=0&limit=500")  # a page asked for again still holds them
    assert [e["origin"] for e in first["envelopes"]] == [h.m.node_id, h.o.node_id, h.n.node_id]
    assert first["remaining"] == 0


async def test_a_relay_leaves_once_by_push_or_by_pull(town: Town) -> None:
    h = town
    await network_share(h.m)
    await h.fed.deliver(h.m)  # relays for N (reachable) and T (pull-only)
    _, page = await outbox(h.n, h.o, "since=0")  # N pulls first: served, and marked delivered
    assert [e["origin"] for e in page["envelopes"]] == [h.m.node_id]
    assert relays(h.o, h.n) == [("delivered", "pulled")]
    await h.fed.deliver(h.o)  # so nothing is pushed
    assert not [w for w in h.fed.bytes_from(h.o) if w.kind == "push"]

    await network_share(h.m)
    await h.fed.deliver(h.m)
    await h.fed.deliver(h.o)  # this one is pushed to N
    assert {w.receiver for w in h.fed.bytes_from(h.o) if w.kind == "push"} == {h.n.node_id}
    assert relays(h.o, h.n) == [("delivered", "pulled"), ("delivered", None)]
    _status, page = await outbox(h.n, h.o, f"since={page['next']}")  # pushed: not served again
    assert page["envelopes"] == []
    assert page["remaining"] == 0


async def test_the_town_gets_a_record_within_its_polling_interval_and_receives_no_connection(town: Town) -> None:
    h = town
    worker = Worker(h.t)
    await worker.start()
    try:
        mine = await network_share(h.t)
        theirs = await network_share(h.m)
        await h.fed.deliver(h.m)
        await eventually(
            lambda: (
                held_from(h.t, h.m)
                and relays(h.o, h.n)
                and not h.t.db.execute("SELECT 1 FROM deliveries WHERE state = 'pending'").fetchone()
            ),
            "the town to pull M's record and push its own to the hub (it pulls every 0.5 s)",
        )
    finally:
        await worker.stop()
    assert held_from(h.t, h.m) == [signed_text(h.m, theirs)]
    assert {w.receiver for w in h.fed.bytes_from(h.t)} == {h.o.node_id}  # the town sent to its hub only
    assert [canonical_bytes(e) for w in h.fed.bytes_from(h.t) for e in w.envelopes()] == [signed_text(h.t, mine)]
    assert [path for receiver, path in h.fed.requests if receiver == h.t.node_id] == []  # never connected to
    assert held_from(h.o, h.t) == [signed_text(h.t, mine)]  # the hub holds the town's record, and relays it on
    assert relays(h.o, h.m) == [("pending", None)]


async def test_a_via_hub_member_shares_with_every_hub_of_the_network(federation: Federation) -> None:
    fed = federation
    o, n, t = [await fed.add(name) for name in ("O", "N", "T")]
    create_network(o, "DEFUS", by=ADMIN)
    await join(o, n, roles=("member", "hub"))
    m = await fed.add("M")
    await join(o, m)
    await join(o, t, via_hub=True)
    record = add_record(t, "experience", RECORD, by=ADMIN, tlp=CLEAR)
    assert share_record(t, record, [], False, network="DEFUS", by=ADMIN)["recipients"] == sorted([o.node_id, n.node_id])
    set_via_hub(t, "DEFUS", False, by=ADMIN)
    other = add_record(t, "experience", RECORD, by=ADMIN, tlp=CLEAR)
    assert share_record(t, other, [], False, network="DEFUS", by=ADMIN)["recipients"] == sorted(
        [o.node_id, n.node_id, m.node_id]
    )
    assert [item["via_hub"] for item in list_networks(t)] == [False]


# --- hostile input: a clear 4xx, nothing stored or sent ----------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["since=-1", "since=1e3", "since=99999999999999999", "limit=0", "limit=501", "since=0&evil=1", "since=%00"],
)
async def test_a_malformed_outbox_request_is_refused_and_serves_no_relay(town: Town, query: str) -> None:
    h = town
    await network_share(h.m)
    await h.fed.deliver(h.m)
    status, message = await outbox(h.t, h.o, query)
    assert status == 400
    assert "since" in message or "limit" in message or "evil" in message
    assert relays(h.o, h.t) == [("pending", None)]
    assert not [e for e in audit.per_record(audit.list_entries(h.o)) if e["action"] == "served"]


async def test_a_stranger_gets_no_relay(town: Town) -> None:
    fed = town.fed
    h = town
    await network_share(h.m)
    await h.fed.deliver(h.m)
    stranger = await fed.add("X")
    fed.pair(stranger, h.o)  # a directly paired peer, no member: nothing of the network is queued for it
    status, page = await outbox(stranger, h.o, "since=0")
    assert status == 200
    assert page["envelopes"] == []
    h.o.db.execute("DELETE FROM peers WHERE node_id = ?", (stranger.node_id,))  # untrusted now
    status, _message = await outbox(stranger, h.o, "since=0")
    assert status == 401
    assert relays(h.o, h.t) == [("pending", None)]


async def test_a_retracted_relay_is_withheld_from_the_outbox(town: Town) -> None:
    h = town
    record = await network_share(h.m)
    await h.fed.deliver(h.m)
    retract(h.m, record, by=ADMIN)
    await h.fed.deliver(h.m)  # the retraction reaches O and erases the content there
    status, page = await outbox(h.t, h.o, "since=0")
    assert status == 200
    assert [(e["id"], e["type"]) for e in page["envelopes"]] == [(record, "retraction")]
    assert ("refused", "not relayable now") in relays(h.o, h.t)


async def test_via_hub_settings_refuse_nonsense_and_change_nothing(town: Town) -> None:
    h = town
    with pytest.raises(NodeError, match="no network called"):
        set_via_hub(h.t, "NOPE", True, by=ADMIN)
    with pytest.raises(NodeError, match="is its hub"):
        set_via_hub(h.o, "DEFUS", True, by=ADMIN)
    assert [item["via_hub"] for item in list_networks(h.o)] == [False]
    assert [item["via_hub"] for item in list_networks(h.t)] == [True]
    fresh = await h.fed.add("F")
    with pytest.raises(NodeError, match="not a valid network join code"):
        await join_network(fresh, "pvnet1.garbage", via_hub=True, by=ADMIN)
    assert list_networks(fresh) == []
    assert json.loads(json.dumps(list_networks(h.t)))[0]["name"] == "DEFUS"
