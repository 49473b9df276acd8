"""GET /fed/v1/outbox: a peer pulls exactly what was shared with it, in cursor order, without local fields."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import ClientResponse

from node.sharing.records import add_record, send_alert
from node.sharing.shares import share_record
from node.trust.peers import remove_peer
from node.users import ADMIN
from protocol.envelope import verify_envelope
from protocol.httpsig import HttpRequest, sign_request, verify_response
from tests.conftest import RECORD, FakePeer, alert_content
from tests.node.conftest import Served, refusal

MARKER = "LOCAL-ONLY-7f3a"


@pytest.fixture
def peer_c(served: Served) -> FakePeer:
    """Stadt C, trusted by the served node."""
    return FakePeer("Stadt C", "http://127.0.0.1:10").trusted_by(served.node)


def record(served: Served, title: str) -> str:
    return add_record(served.node, "experience", {**RECORD, "title": title}, by=ADMIN)


def shared(served: Served, title: str, *peers: FakePeer) -> str:
    record_id = record(served, title)
    share_record(served.node, record_id, [peer.node_id for peer in peers], all_peers=False, by=ADMIN)
    return record_id


async def pull(served: Served, peer: FakePeer, query: str = "") -> tuple[ClientResponse, bytes]:
    response, _ = await served.signed(peer, "GET", f"/fed/v1/outbox{query}")
    return response, await response.read()


async def page(served: Served, peer: FakePeer, query: str = "") -> tuple[list[dict[str, Any]], int, bool]:
    response, raw = await pull(served, peer, query)
    assert response.status == 200, raw
    answer = json.loads(raw)
    assert set(answer) == {"envelopes", "next", "more", "remaining"}
    assert answer["remaining"] == 0 or answer["more"]
    return answer["envelopes"], answer["next"], answer["more"]


def ids(envelopes: list[dict[str, Any]]) -> list[str]:
    return [envelope["id"] for envelope in envelopes]


async def test_each_peer_sees_only_what_was_shared_with_it(served: Served, peer_b: FakePeer, peer_c: FakePeer) -> None:
    x = shared(served, "Bericht X", peer_b)
    y = shared(served, "Bericht Y", peer_c)
    envelopes_b, _, more_b = await page(served, peer_b)
    envelopes_c, _, more_c = await page(served, peer_c)
    assert ids(envelopes_b) == [x]
    assert ids(envelopes_c) == [y]
    assert (more_b, more_c) == (False, False)
    assert envelopes_b[0]["content"]["title"] == "Bericht X"


async def test_pulled_envelopes_verify_against_the_nodes_key(served: Served, peer_b: FakePeer) -> None:
    x = shared(served, "Bericht X", peer_b)
    [envelope], _, _ = await page(served, peer_b)
    node = served.node

    def resolve(node_id: str, key_id: str) -> bytes | None:
        return node.key.public if (node_id, key_id) == (node.node_id, node.key.key_id) else None

    verified = verify_envelope(envelope, resolve)
    assert (verified.origin, verified.id, verified.seq, verified.has_content) == (node.node_id, x, 1, True)


async def test_a_record_shared_with_both_appears_for_both(served: Served, peer_b: FakePeer, peer_c: FakePeer) -> None:
    both = shared(served, "Für beide", peer_b, peer_c)
    assert ids((await page(served, peer_b))[0]) == [both]
    assert ids((await page(served, peer_c))[0]) == [both]


async def test_a_record_shared_with_nobody_never_appears(served: Served, peer_b: FakePeer, peer_c: FakePeer) -> None:
    record(served, "Nur lokal")
    x = shared(served, "Bericht X", peer_c)
    envelopes, cursor, more = await page(served, peer_b)
    assert (envelopes, cursor, more) == ([], 0, False)
    assert ids((await page(served, peer_c))[0]) == [x]
    _, raw = await pull(served, peer_b)
    assert b"Nur lokal" not in raw


async def test_no_local_fields_leave(served: Served, peer_b: FakePeer) -> None:
    shared(served, "Bericht X", peer_b)
    alert_id = send_alert(served.node, alert_content(), [peer_b.node_id], all_peers=False, by=ADMIN)["id"]
    response, raw = await pull(served, peer_b)
    assert response.status == 200
    envelopes = json.loads(raw)["envelopes"]
    assert [envelope["type"] for envelope in envelopes] == ["experience", "alert"]
    assert envelopes[1]["id"] == alert_id
    for envelope in envelopes:
        assert "internal_notes" not in envelope["content"]
    assert MARKER.encode() not in raw
    assert b"LOCAL-ONLY-alert-91c2" not in raw
    assert b"internal_notes" not in raw


async def test_cursor_ascends_and_pages_follow_limit(served: Served, peer_b: FakePeer, peer_c: FakePeer) -> None:
    expected = []
    for n in range(5):
        expected.append(shared(served, f"Bericht {n}", peer_b))
        shared(served, f"Nur für C {n}", peer_c)  # interleaved shares with somebody else
    seen: list[str] = []
    cursors: list[int] = []
    since = 0
    pages = []
    while True:
        envelopes, since, more = await page(served, peer_b, f"?since={since}&limit=2")
        pages.append(len(envelopes))
        seen += ids(envelopes)
        cursors.append(since)
        if not more:
            break
    assert pages == [2, 2, 1]
    assert seen == expected
    assert cursors == sorted(cursors)
    assert len(set(cursors)) == len(cursors)
    # beyond the end: nothing, and the cursor stays
    assert await page(served, peer_b, f"?since={since}") == ([], since, False)
    assert await page(served, peer_b, "?since=999999") == ([], 999999, False)


async def test_a_later_share_of_an_older_record_comes_after_the_cursor(
    served: Served, peer_b: FakePeer, peer_c: FakePeer
) -> None:
    old = shared(served, "Zuerst nur für C", peer_c)
    x = shared(served, "Bericht X", peer_b)
    envelopes, cursor, _ = await page(served, peer_b)
    assert ids(envelopes) == [x]
    share_record(served.node, old, [peer_b.node_id], all_peers=False, by=ADMIN)
    envelopes, following, more = await page(served, peer_b, f"?since={cursor}")
    assert ids(envelopes) == [old]
    assert following > cursor
    assert not more


async def test_limit_equal_to_the_count_says_no_more(served: Served, peer_b: FakePeer) -> None:
    for n in range(3):
        shared(served, f"Bericht {n}", peer_b)
    envelopes, _, more = await page(served, peer_b, "?limit=3")
    assert (len(envelopes), more) == (3, False)
    envelopes, _, more = await page(served, peer_b, "?limit=2")
    assert (len(envelopes), more) == (2, True)


async def test_the_answer_is_signed(served: Served, peer_b: FakePeer) -> None:
    shared(served, "Bericht X", peer_b)
    path = "/fed/v1/outbox?since=0&limit=5"
    response, sent = await served.signed(peer_b, "GET", path)
    raw = await response.read()
    node = served.node

    def resolve(node_id: str, key_id: str) -> bytes | None:
        return node.key.public if node_id == node.node_id and key_id == node.key.key_id else None

    request = HttpRequest(method="GET", url=served.url(path), headers=sent)
    assert verify_response(response.status, list(response.headers.items()), raw, request, resolve).node_id == (
        node.node_id
    )


async def test_untrusted_requester(served: Served, peer_b: FakePeer) -> None:
    shared(served, "Bericht X", peer_b)
    stranger = FakePeer("Stadt X", "http://127.0.0.1:8")
    response, raw = await pull(served, stranger)
    await refusal(response, 401, "unauthorized", "unknown key id")
    assert MARKER.encode() not in raw
    assert b"Bericht X" not in raw


async def test_unsigned_requester(served: Served, peer_b: FakePeer) -> None:
    shared(served, "Bericht X", peer_b)
    response = await served.client.get("/fed/v1/outbox")
    await refusal(response, 401, "unauthorized", "not signed")


async def test_requester_signing_with_another_peers_key_id(served: Served, peer_b: FakePeer) -> None:
    """An attacker naming B's node id cannot pull B's share with its own key."""
    shared(served, "Bericht X", peer_b)
    attacker = FakePeer("Stadt X", "http://127.0.0.1:8")
    request = HttpRequest(method="GET", url=served.url("/fed/v1/outbox"), headers={})
    sign_request(request, b"", attacker.key, peer_b.node_id)
    headers = request.headers
    response = await served.client.get("/fed/v1/outbox", headers=headers)
    raw = await response.read()
    await refusal(response, 401, "unauthorized", "does not verify")
    assert b"Bericht X" not in raw


async def test_removed_peer(served: Served, peer_b: FakePeer) -> None:
    shared(served, "Bericht X", peer_b)
    assert len((await page(served, peer_b))[0]) == 1
    remove_peer(served.node, peer_b.node_id)
    response, raw = await pull(served, peer_b)
    await refusal(response, 401, "unauthorized", "unknown key id")
    assert b"Bericht X" not in raw


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("?since=-1", "since"),
        ("?since=abc", "since"),
        ("?since=1.5", "since"),
        ("?since=%EF%BC%91", "since"),  # a full-width digit one: isdigit() but not ASCII
        ("?since=" + "9" * 17, "since"),
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?limit=-5", "limit"),
        ("?limit=ten", "limit"),
        ("?cursor=3", "'cursor'"),
        ("?since=0&limit=5&format=full", "'format'"),
    ],
)
async def test_bad_query(served: Served, peer_b: FakePeer, query: str, problem: str) -> None:
    shared(served, "Bericht X", peer_b)
    response, raw = await pull(served, peer_b, query)
    await refusal(response, 400, "bad_request", problem)
    assert b"Bericht X" not in raw


@pytest.mark.parametrize("query", ["?limit=1", "?limit=500", "?since=", "?since=0&limit=", ""])
async def test_edge_of_the_valid_query(served: Served, peer_b: FakePeer, query: str) -> None:
    shared(served, "Bericht X", peer_b)
    envelopes, _, _ = await page(served, peer_b, query)
    assert len(envelopes) == 1
