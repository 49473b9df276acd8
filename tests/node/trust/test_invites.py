"""Pairing by invitation between real nodes with real servers: success, one use only, expiry, and every refusal.

Every refusal leaves both nodes' peers tables as they were, and an invitation that a bad request
presented stays usable for the right node.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.audit import list_entries
from node.errors import NodeError, NotFound, PeerError
from node.home import Node
from node.sharing.records import add_record
from node.sharing.shares import share_record
from node.trust.invites import (
    accept_invitation,
    create_invitation,
    list_invitations,
    parse_lifetime,
    peer_pair_safety_number,
)
from node.trust.peers import get_peer, list_peers, mark_verified, trust_descriptor
from node.users import ADMIN, Actor
from protocol.canonical import canonical_bytes, parse
from protocol.descriptor import build_descriptor, verify_descriptor
from protocol.encoding import b64url
from protocol.httpsig import HttpRequest, sign_request, verify_response
from protocol.invite import PAIR_PATH, make_code, new_secret, pair_request, parse_code
from protocol.keys import NodeKey, fingerprint
from protocol.timestamps import format_timestamp
from tests.conftest import RECORD, FakePeer, SetClock, free_port
from tests.node.conftest import Served, refusal
from tests.node.federation import Federation

WEEK = timedelta(days=7)
OFFICER = Actor("erika", "officer")


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path)
    yield federation
    await federation.close()


@pytest.fixture
async def inviter(fed: Federation) -> Node:
    return await fed.add("Stadt A")


@pytest.fixture
async def accepter(fed: Federation) -> Node:
    return await fed.add("Stadt B")


def peer_rows(node: Node) -> list[tuple[Any, ...]]:
    """The whole peers table, to prove that a refusal changed nothing."""
    return list(node.db.execute("SELECT * FROM peers ORDER BY node_id"))


def invitation_rows(node: Node) -> list[tuple[Any, ...]]:
    return list(node.db.execute("SELECT * FROM invitations ORDER BY id"))


def actions(node: Node) -> list[tuple[str, str, list[str]]]:
    return [(e["action"], e["user"], e["recipients"]) for e in list_entries(node)]


def nonces(node: Node) -> int:
    return int(node.db.execute("SELECT count(*) FROM nonces").fetchone()[0])


class Unchanged:
    """Snapshots of the peers and invitations of some nodes, compared again on exit."""

    def __init__(self, *nodes: Node) -> None:
        self.nodes = nodes

    def __enter__(self) -> Unchanged:
        self.before = [(peer_rows(n), invitation_rows(n)) for n in self.nodes]
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert [(peer_rows(n), invitation_rows(n)) for n in self.nodes] == self.before


async def post_pair(
    inviter: Node,
    signer: FakePeer,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    **sign: Any,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST a pairing request to `inviter`, signed by `signer` unless `headers` are given."""
    url = inviter.config.url + PAIR_PATH
    sent = headers if headers is not None else signer.signed_headers("POST", url, body, **sign)
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=sent) as response:
        return response.status, json.loads(await response.read()), dict(response.headers)


def pair_body(peer: FakePeer, code: str, *, pull_only: bool = False, descriptor: dict[str, Any] | None = None) -> bytes:
    secret = parse_code(code).secret
    return canonical_bytes(pair_request(secret, descriptor or peer.descriptor(), pull_only=pull_only))


def expect(status: int, answer: dict[str, Any], code: int, *words: str) -> None:
    assert status == code, answer
    assert set(answer) == {"error", "message"}
    for word in words:
        assert word.lower() in answer["message"].lower(), answer["message"]


# --- lifetimes and the inviting node's records -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "lifetime"),
    [
        ("1m", timedelta(minutes=1)),
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        (" 7d ", timedelta(days=7)),
        ("30d", timedelta(days=30)),
        ("720h", timedelta(days=30)),
    ],
)
def test_lifetimes(text: str, lifetime: timedelta) -> None:
    assert parse_lifetime(text) == lifetime


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("0m", "not a duration"),
        ("59s", "not a duration"),
        ("7", "not a duration"),
        ("d", "not a duration"),
        ("7D", "not a duration"),
        ("-1d", "not a duration"),
        ("1.5h", "not a duration"),
        ("07d", "not a duration"),
        ("31d", "from 1 minute to 30 days"),
        ("721h", "from 1 minute to 30 days"),
        ("1000000d", "not a duration"),
    ],
)
def test_bad_lifetimes(text: str, words: str) -> None:
    with pytest.raises(NodeError, match=words):
        parse_lifetime(text)


def test_create_stores_only_the_hash_and_audits(make_node: Any) -> None:
    node: Node = make_node("Stadt A")
    code = create_invitation(node, timedelta(hours=12), by=OFFICER)
    invitation = parse_code(code)
    assert (invitation.url, invitation.node_id, invitation.fingerprint) == (
        node.config.url,
        node.node_id,
        node.fingerprint,
    )
    assert timedelta(hours=11, minutes=59) < invitation.expires - datetime.now(UTC) <= timedelta(hours=12)
    dump = "\n".join(node.db.conn.iterdump())
    assert invitation.secret not in dump
    assert code not in dump
    [listed] = list_invitations(node)
    assert listed["state"] == "open"
    assert listed["created_by"] == "erika"
    assert listed["expires"] == invitation.expires_text
    assert (listed["used_by"], listed["used_at"]) == (None, None)
    assert "secret" not in listed
    assert ("invite.create", "erika", []) in actions(node)
    for bad in (timedelta(seconds=59), timedelta(days=30, seconds=1)):
        with pytest.raises(NodeError):
            create_invitation(node, bad, by=ADMIN)
    assert len(list_invitations(node)) == 1


def test_list_shows_expired_invitations(make_node: Any, clock: SetClock) -> None:
    node: Node = make_node("Stadt A")
    create_invitation(node, timedelta(minutes=1), by=ADMIN)
    create_invitation(node, WEEK, by=ADMIN)
    clock.advance(timedelta(minutes=2))
    assert [i["state"] for i in list_invitations(node)] == ["open", "expired"]


# --- pairing end to end ----------------------------------------------------------------------


async def test_accept_pairs_both_nodes(fed: Federation, inviter: Node, accepter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=OFFICER)
    peer = await accept_invitation(accepter, code, by=ADMIN)

    assert peer["node_id"] == inviter.node_id
    [a_at_b] = list_peers(accepter)
    assert (a_at_b["node_id"], a_at_b["url"], a_at_b["fingerprint"], a_at_b["pull_only"]) == (
        inviter.node_id,
        inviter.config.url,
        inviter.fingerprint,
        False,
    )
    assert a_at_b["verified"] is None
    [b_at_a] = list_peers(inviter)
    assert (b_at_a["node_id"], b_at_a["url"], b_at_a["fingerprint"], b_at_a["pull_only"]) == (
        accepter.node_id,
        accepter.config.url,
        accepter.fingerprint,
        False,
    )
    assert b_at_a["keys"] == {"ed25519:1": accepter.key.public_b64}

    [used] = list_invitations(inviter)
    assert used["state"] == "used"
    assert used["used_by"] == accepter.node_id
    assert used["used_at"] is not None

    assert ("peer.pair", "node", [accepter.node_id]) in actions(inviter)
    [pair_entry] = [e for e in list_entries(inviter) if e["action"] == "peer.pair"]
    assert "made by erika" in pair_entry["detail"]
    assert accepter.fingerprint in pair_entry["detail"]
    assert ("peer.pair", "admin", [inviter.node_id]) in actions(accepter)

    # both directions work: each node pushes to the other and the other accepts it
    for sender, receiver in ((inviter, accepter), (accepter, inviter)):
        record_id = add_record(sender, "experience", dict(RECORD), by=ADMIN)
        share_record(sender, record_id, [receiver.node_id], all_peers=False, by=ADMIN)
        await fed.deliver(sender)
        got = receiver.db.execute("SELECT origin, id FROM inbox").fetchall()
        assert (sender.node_id, record_id) in got


async def test_pull_only_accepter(inviter: Node, accepter: Node) -> None:
    await accept_invitation(accepter, create_invitation(inviter, WEEK, by=ADMIN), pull_only=True, by=ADMIN)
    assert get_peer(inviter, accepter.node_id)["pull_only"] is True
    assert get_peer(accepter, inviter.node_id)["pull_only"] is False


async def test_an_invitation_works_only_once(fed: Federation, inviter: Node, accepter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    await accept_invitation(accepter, code, by=ADMIN)
    third = await fed.add("Stadt C")
    with Unchanged(inviter, accepter, third), pytest.raises(PeerError, match="unknown, used, revoked or expired"):
        await accept_invitation(third, code, by=ADMIN)
    assert list_peers(third) == []
    assert [p["node_id"] for p in list_peers(inviter)] == [accepter.node_id]
    assert [a for a, _, _ in actions(inviter)].count("peer.pair") == 1


async def test_two_nodes_racing_for_one_invitation(fed: Federation, inviter: Node, accepter: Node) -> None:
    third = await fed.add("Stadt C")
    code = create_invitation(inviter, WEEK, by=ADMIN)
    results = await asyncio.gather(
        accept_invitation(accepter, code, by=ADMIN), accept_invitation(third, code, by=ADMIN), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1
    assert isinstance(failures[0], PeerError)
    assert "invitation unknown, used, revoked or expired" in str(failures[0])
    assert len(list_peers(inviter)) == 1
    assert sorted(len(list_peers(n)) for n in (accepter, third)) == [0, 1]


async def test_expired_code_is_refused_before_contacting(inviter: Node, accepter: Node, clock: SetClock) -> None:
    code = create_invitation(inviter, timedelta(minutes=1), by=ADMIN)
    clock.advance(timedelta(minutes=1, seconds=1))
    with Unchanged(inviter, accepter), pytest.raises(NodeError, match="expired"):
        await accept_invitation(accepter, code, by=ADMIN)
    assert nonces(inviter) == 0  # no request reached the inviting node


async def test_expired_invitation_is_refused_by_the_inviter(inviter: Node, accepter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    past = format_timestamp(datetime.now(UTC) - timedelta(seconds=1))
    inviter.db.execute("UPDATE invitations SET expires = ?", (past,))  # the code itself still claims a week
    with Unchanged(inviter, accepter), pytest.raises(PeerError, match="invitation unknown, used, revoked or expired"):
        await accept_invitation(accepter, code, by=ADMIN)
    crafted = FakePeer("Stadt X", "http://127.0.0.1:9")
    with Unchanged(inviter):
        status, answer, _ = await post_pair(inviter, crafted, pair_body(crafted, code))
    expect(status, answer, 401, "invitation unknown, used, revoked or expired")


async def test_a_direct_pairing_request_gets_a_signed_descriptor(inviter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    peer = FakePeer("Stadt X", "http://127.0.0.1:9")
    url = inviter.config.url + PAIR_PATH
    body = pair_body(peer, code, pull_only=True)
    request = HttpRequest(method="POST", url=url, headers=peer.signed_headers("POST", url, body))
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=request.headers) as response:
        raw = await response.read()
        status, headers = response.status, list(response.headers.items())
    assert status == 200, raw
    answer = verify_descriptor(parse(raw), now=datetime.now(UTC))
    assert answer["node_id"] == inviter.node_id

    def inviter_key(node_id: str, key_id: str) -> bytes | None:
        return inviter.key.public if (node_id, key_id) == (inviter.node_id, "ed25519:1") else None

    verify_response(status, headers, raw, request, inviter_key)
    stored = get_peer(inviter, peer.node_id)
    assert (stored["fingerprint"], stored["url"], stored["pull_only"]) == (peer.fingerprint, peer.url, True)


# --- the inviting node refuses bad requests and keeps the invitation -------------------------


async def test_wrong_secret(inviter: Node, accepter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    peer = FakePeer("Stadt X", "http://127.0.0.1:9")
    wrong = canonical_bytes(pair_request(new_secret(), peer.descriptor(), pull_only=False))
    with Unchanged(inviter):
        status, answer, headers = await post_pair(inviter, peer, wrong)
    expect(status, answer, 401, "invitation unknown, used, revoked or expired")
    assert "Signature" in headers  # error answers to signed requests are signed too
    await accept_invitation(accepter, code, by=ADMIN)  # the real invitation is still there


async def test_signed_by_a_key_the_descriptor_does_not_hold(inviter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    victim = FakePeer("Stadt V", "http://127.0.0.1:9")
    attacker = FakePeer("Stadt X", "http://127.0.0.1:8")
    body = pair_body(victim, code)
    with Unchanged(inviter):
        status, answer, _ = await post_pair(inviter, attacker, body)
    expect(status, answer, 401, "unknown key id", attacker.node_id)

    url = inviter.config.url + PAIR_PATH
    forged = HttpRequest(method="POST", url=url, headers={"Content-Type": "application/json"})
    sign_request(forged, body, attacker.key, victim.node_id)  # claims the victim's key id
    with Unchanged(inviter):
        status, answer, _ = await post_pair(inviter, attacker, body, headers=forged.headers)
    expect(status, answer, 401, "does not verify")
    assert list_invitations(inviter)[0]["state"] == "open"


def _tampered_name(peer: FakePeer) -> dict[str, Any]:
    descriptor = peer.descriptor()
    descriptor["name"] = "Stadt Y"
    return descriptor


def _expired(peer: FakePeer) -> dict[str, Any]:
    return build_descriptor(
        [peer.key],
        node_id=peer.node_id,
        name=peer.name,
        url=peer.url,
        valid_until=datetime.now(UTC) - timedelta(seconds=1),
    )


def _foreign_key(peer: FakePeer) -> dict[str, Any]:
    descriptor = peer.descriptor()
    descriptor["keys"] = {"ed25519:1": NodeKey.generate().public_b64}
    return descriptor


def _missing_field(peer: FakePeer) -> dict[str, Any]:
    descriptor = peer.descriptor()
    del descriptor["protocols"]
    return descriptor


@pytest.mark.parametrize(
    ("tamper", "words"),
    [
        (_tampered_name, "signature"),
        (_expired, "expired"),
        (_foreign_key, "not derived"),
        (_missing_field, "missing"),
    ],
)
async def test_descriptor_in_the_body_that_does_not_verify(inviter: Node, tamper: Any, words: str) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    peer = FakePeer("Stadt X", "http://127.0.0.1:9")
    with Unchanged(inviter):
        status, answer, _ = await post_pair(inviter, peer, pair_body(peer, code, descriptor=tamper(peer)))
    expect(status, answer, 401, "descriptor", words)
    assert list_invitations(inviter)[0]["state"] == "open"


async def test_own_descriptor_is_refused(inviter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    me = FakePeer(inviter.config.name, inviter.config.url, key=inviter.key)
    with Unchanged(inviter):
        status, answer, _ = await post_pair(inviter, me, pair_body(me, code, descriptor=inviter.descriptor()))
    expect(status, answer, 400, "this node itself")
    assert list_invitations(inviter)[0]["state"] == "open"


async def test_replayed_request(inviter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    peer = FakePeer("Stadt X", "http://127.0.0.1:9")
    body = pair_body(peer, code, pull_only=True)  # pull-only: nobody serves its URL to check (test_invite_url.py)
    headers = peer.signed_headers("POST", inviter.config.url + PAIR_PATH, body)
    status, _, _ = await post_pair(inviter, peer, body, headers=headers)
    assert status == 200
    with Unchanged(inviter):
        status, answer, _ = await post_pair(inviter, peer, body, headers=headers)
    expect(status, answer, 401, "replayed")


async def test_stale_signature(inviter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    peer = FakePeer("Stadt X", "http://127.0.0.1:9")
    with Unchanged(inviter):
        status, answer, _ = await post_pair(
            inviter, peer, pair_body(peer, code), created=datetime.now(UTC) - timedelta(minutes=10)
        )
    expect(status, answer, 401)


async def test_unsigned_request(inviter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    peer = FakePeer("Stadt X", "http://127.0.0.1:9")
    with Unchanged(inviter):
        status, answer, _ = await post_pair(inviter, peer, pair_body(peer, code), headers={})
    expect(status, answer, 401, "not signed")
    with Unchanged(inviter):  # unsigned and malformed: the signature is checked first
        status, answer, _ = await post_pair(inviter, peer, b"{", headers={})
    expect(status, answer, 401, "not signed")


@pytest.mark.parametrize("chunked", [False, True], ids=["with length", "chunked"])
async def test_body_over_one_mebibyte(served: Served, chunked: bool) -> None:
    """Served without the federation's wire tap, which reads every body before the node does."""
    inviter = served.node
    code = create_invitation(inviter, WEEK, by=ADMIN)
    peer = FakePeer("Stadt X", "http://127.0.0.1:9")
    body = pair_body(peer, code) + b" " * (1024 * 1024)
    headers = peer.signed_headers("POST", served.url(PAIR_PATH), body)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    with Unchanged(inviter):
        data: Any = chunks() if chunked else io.BytesIO(body)
        response = await served.client.post(PAIR_PATH, data=data, headers=headers)
        await refusal(response, 413, "too_large", "larger than")
    assert list_invitations(inviter)[0]["state"] == "open"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{", "malformed JSON"),
        (b"\xff", "UTF-8"),
        (b"[]", "JSON object"),
        (b'{"secret":"a","secret":"b"}', "duplicate"),
        (b'{"pull_only":1.0}', "floating-point"),
        (b'{"descriptor":{},"pull_only":false}', "secret"),
        (b'{"descriptor":{},"pull_only":"no","secret":"' + b64url(bytes(32)).encode() + b'"}', "pull_only"),
    ],
)
async def test_malformed_body(inviter: Node, body: bytes, words: str) -> None:
    create_invitation(inviter, WEEK, by=ADMIN)
    peer = FakePeer("Stadt X", "http://127.0.0.1:9")
    with Unchanged(inviter):
        status, answer, _ = await post_pair(inviter, peer, body)
    expect(status, answer, 400, words)
    assert answer["error"] == "bad_request"


async def test_wrong_method(inviter: Node) -> None:
    async with aiohttp.ClientSession() as session, session.get(inviter.config.url + PAIR_PATH) as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST"


# --- the accepting node refuses before sending anything --------------------------------------


async def test_inviter_unreachable(accepter: Node, make_node: Any) -> None:
    offline = make_node("Stadt Offline")  # a node with no server
    code = create_invitation(offline, WEEK, by=ADMIN)
    with Unchanged(accepter, offline), pytest.raises(PeerError, match="cannot reach"):
        await accept_invitation(accepter, code, by=ADMIN)
    assert list_invitations(offline)[0]["state"] == "open"


def forged_code(inviter: Node, **changes: str) -> str:
    values: dict[str, Any] = {
        "url": inviter.config.url,
        "node_id": inviter.node_id,
        "fingerprint": inviter.fingerprint,
        "secret": new_secret(),
        "expires": datetime.now(UTC) + WEEK,
        **changes,
    }
    return make_code(**values)


async def test_fingerprint_mismatch_is_refused_before_posting(inviter: Node, accepter: Node) -> None:
    code = forged_code(inviter, fingerprint=fingerprint(NodeKey.generate().public))
    with Unchanged(inviter, accepter), pytest.raises(PeerError, match="fingerprint mismatch") as caught:
        await accept_invitation(accepter, code, by=ADMIN)
    assert inviter.fingerprint in str(caught.value)
    assert nonces(inviter) == 0  # no pairing request arrived


async def test_node_id_mismatch_is_refused_before_posting(inviter: Node, accepter: Node) -> None:
    code = forged_code(inviter, node_id=FakePeer("Stadt X", "http://127.0.0.1:9").node_id)
    with Unchanged(inviter, accepter), pytest.raises(PeerError, match="but the invitation names"):
        await accept_invitation(accepter, code, by=ADMIN)
    assert nonces(inviter) == 0


async def test_url_the_node_does_not_claim(inviter: Node, accepter: Node) -> None:
    claimed = inviter.config.url
    real = claimed.replace("127.0.0.1", "localhost")
    code = forged_code(inviter, url=real)
    with Unchanged(inviter, accepter), pytest.raises(PeerError, match="says its URL is"):
        await accept_invitation(accepter, code, by=ADMIN)
    assert nonces(inviter) == 0


async def test_own_invitation(inviter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    with Unchanged(inviter), pytest.raises(NodeError, match="made by this node"):
        await accept_invitation(inviter, code, by=ADMIN)


@pytest.mark.parametrize("code", ["", "pvinv1.", "pvinv1.!!", "hello", "pvinv1." + b64url(b"{}")])
async def test_malformed_code(accepter: Node, code: str) -> None:
    with Unchanged(accepter), pytest.raises(NodeError, match="not a valid invitation"):
        await accept_invitation(accepter, code, by=ADMIN)


async def test_code_for_a_closed_port_that_has_expired(accepter: Node) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    key = NodeKey.generate()
    peer = FakePeer("Stadt X", url, key=key)
    code = make_code(
        url=url,
        node_id=peer.node_id,
        fingerprint=peer.fingerprint,
        secret=new_secret(),
        expires=datetime.now(UTC) - timedelta(seconds=1),
    )
    with Unchanged(accepter), pytest.raises(NodeError, match="expired"):  # not "cannot reach": never contacted
        await accept_invitation(accepter, code, by=ADMIN)


# --- the pair safety number and marking a peer verified --------------------------------------


async def test_both_sides_see_the_same_pair_safety_number(inviter: Node, accepter: Node, fed: Federation) -> None:
    await accept_invitation(accepter, create_invitation(inviter, WEEK, by=ADMIN), by=ADMIN)
    at_inviter, shown_b = peer_pair_safety_number(inviter, accepter.node_id)
    at_accepter, shown_a = peer_pair_safety_number(accepter, inviter.node_id)
    assert at_inviter == at_accepter
    assert (shown_a, shown_b) == (inviter.fingerprint, accepter.fingerprint)
    third = await fed.add("Stadt C")
    fed.pair(inviter, third)
    assert peer_pair_safety_number(inviter, third.node_id)[0] != at_inviter


def test_mark_verified(make_node: Any) -> None:
    node: Node = make_node("Stadt A")
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    _, shown = peer_pair_safety_number(node, peer.node_id)
    assert shown == peer.fingerprint
    marked = mark_verified(node, peer.node_id, shown, by=OFFICER)
    assert marked["verified"] is not None
    assert marked["verified_by"] == "erika"
    assert ("peer.verify", "erika", [peer.node_id]) in actions(node)

    with pytest.raises(NodeError, match="changed while you compared"):
        mark_verified(node, peer.node_id, fingerprint(NodeKey.generate().public), by=OFFICER)
    with pytest.raises(NotFound):
        mark_verified(node, FakePeer("Stadt X", "http://127.0.0.1:8").node_id, shown, by=OFFICER)


def test_verification_lapses_when_the_peer_key_changes(make_node: Any) -> None:
    node: Node = make_node("Stadt A")
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    mark_verified(node, peer.node_id, peer.fingerprint, by=ADMIN)
    assert get_peer(node, peer.node_id)["verified"] is not None
    new_key = NodeKey.generate(version=2)
    rotated = build_descriptor(
        [new_key],
        node_id=peer.node_id,
        name=peer.name,
        url=peer.url,
        valid_until=datetime.now(UTC) + WEEK,
        old_keys={"ed25519:1": {"key": peer.key.public_b64, "expired": format_timestamp(datetime.now(UTC))}},
    )
    trust_descriptor(node, peer.url, fingerprint(new_key.public), verify_descriptor(rotated, now=datetime.now(UTC)))
    after = get_peer(node, peer.node_id)
    assert (after["verified"], after["verified_by"]) == (None, None)
    number, shown = peer_pair_safety_number(node, peer.node_id)
    assert shown == fingerprint(new_key.public)
    assert number
