"""PUT /fed/v1/inbox/{txn_id}: strict bodies, per-envelope results, idempotency and signed answers."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientResponse

from node.transport.auth import MAX_BODY
from protocol.encoding import b64url, b64url_decode
from protocol.envelope import content_hash, signed_bytes
from protocol.errors import SignatureError
from protocol.httpsig import HttpRequest, verify_response
from protocol.timestamps import format_timestamp
from tests.conftest import FakePeer, body_of
from tests.node.conftest import Served, refusal, stored


async def bad_request(served: Served, response: ClientResponse, *words: str) -> None:
    """A 400 JSON answer naming the problem, and nothing in the inbox or the transaction log."""
    await refusal(response, 400, "bad_request", *words)
    assert stored(served.node) == (0, 0)


async def results_of(response: ClientResponse) -> list[dict[str, Any]]:
    raw = await response.read()
    assert response.status == 200, raw
    answer = json.loads(raw)
    assert set(answer) == {"results"}
    return list(answer["results"])


def inbox_rows(served: Served) -> list[tuple[str, int, str]]:
    """(origin, seq, ref) of every stored envelope, in the order they were stored."""
    found = served.node.db.execute("SELECT origin, seq, ref FROM inbox ORDER BY rowid").fetchall()
    return [(row[0], row[1], row[2]) for row in found]


def hand_signed(
    peer: FakePeer, content: dict[str, Any], *, seq: int = 1, prev: str | None = None, **fields: Any
) -> dict[str, Any]:
    """An envelope built and signed without build_envelope, which would refuse local fields.

    `fields` replace signed fields (e.g. version, tlp); a value of None leaves the field out.
    """
    envelope: dict[str, Any] = {
        "type": "experience",
        "id": f"hand{seq:08d}",
        "version": 1,
        "tlp": "TLP:AMBER",
        "origin": peer.node_id,
        "seq": seq,
        "prev": prev,
        "created": format_timestamp(datetime.now(UTC)),
        "content": content,
        "hashes": {"sha256": content_hash(content)},
    }
    for name, value in fields.items():
        if value is None:
            envelope.pop(name, None)
        else:
            envelope[name] = value
    envelope["signatures"] = {peer.key.key_id: b64url(peer.key.sign(signed_bytes(envelope)))}
    return envelope


# --- bodies refused as a whole ----------------------------------------------------------------


async def test_malformed_json(served: Served, peer_b: FakePeer) -> None:
    text = body_of({"envelopes": [peer_b.envelope()]})
    response, _ = await served.put_inbox(peer_b, "t1", text[:-5])
    await bad_request(served, response, "malformed JSON")


async def test_body_not_utf8(served: Served, peer_b: FakePeer) -> None:
    response, _ = await served.put_inbox(peer_b, "t1", b'{"envelopes": ["\xff"]}')
    await bad_request(served, response, "UTF-8")


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        # duplicate keys at every level
        ('{"envelopes":', '{"envelopes":[],"envelopes":', "duplicate key 'envelopes'"),
        ('"seq":1,', '"seq":1,"seq":1,', "duplicate key 'seq'"),
        ('"summary":"Kurzfassung"', '"summary":"Kurzfassung","summary":"anders"', "duplicate key 'summary'"),
        # floats anywhere
        ('"seq":1,', '"seq":1.0,', "floating-point"),
        ('"seq":1,', '"seq":1e0,', "floating-point"),
        ('"summary":"Kurzfassung"', '"summary":"Kurzfassung","share":0.5', "floating-point"),
        ('{"envelopes":', '{"x":-2.5,"envelopes":', "floating-point"),
        # NaN and the infinities
        ('"seq":1,', '"seq":NaN,', "NaN"),
        ('"seq":1,', '"seq":Infinity,', "Infinity"),
        ('"summary":"Kurzfassung"', '"summary":"Kurzfassung","n":-Infinity', "Infinity"),
        # integers beyond +-(2^53 - 1)
        ('"seq":1,', '"seq":9007199254740992,', "outside"),
        ('"summary":"Kurzfassung"', '"summary":"Kurzfassung","n":-9007199254740992', "outside"),
        ('"seq":1,', '"seq":1' + "0" * 400 + ",", "outside"),
    ],
)
async def test_body_outside_the_strict_profile(
    served: Served, peer_b: FakePeer, old: str, new: str, problem: str
) -> None:
    text = body_of({"envelopes": [peer_b.envelope()]}).decode()
    assert text.count(old) == 1
    response, _ = await served.put_inbox(peer_b, "t1", text.replace(old, new).encode())
    await bad_request(served, response, problem)


async def test_the_largest_safe_integer_passes_parsing(served: Served, peer_b: FakePeer) -> None:
    """Control for the test above: 2^53 - 1 is parsed; the envelope is then refused on its own."""
    text = body_of({"envelopes": [peer_b.envelope()]}).decode()
    response, _ = await served.put_inbox(peer_b, "t1", text.replace('"seq":1,', '"seq":9007199254740991,').encode())
    [entry] = await results_of(response)
    assert entry["status"] == "refused"
    assert entry["seq"] == 2**53 - 1
    assert "prev must be" in entry["reason"]
    assert stored(served.node) == (0, 1)


async def test_51_envelopes(served: Served, peer_b: FakePeer) -> None:
    body = body_of({"envelopes": [peer_b.envelope() for _ in range(51)]})
    response, _ = await served.put_inbox(peer_b, "t1", body)
    await bad_request(served, response, "51 envelopes", "at most 50")


async def test_50_envelopes_are_accepted(served: Served, peer_b: FakePeer) -> None:
    body = body_of({"envelopes": [peer_b.envelope() for _ in range(50)]})
    response, _ = await served.put_inbox(peer_b, "t1", body)
    results = await results_of(response)
    assert [entry["status"] for entry in results] == ["accepted"] * 50
    assert stored(served.node) == (50, 1)


async def test_empty_envelope_list(served: Served, peer_b: FakePeer) -> None:
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": []}))
    await bad_request(served, response, "envelopes", "at least one")


@pytest.mark.parametrize("payload", [[], "envelopes", None, 7, True])
async def test_body_not_an_object(served: Served, peer_b: FakePeer, payload: Any) -> None:
    response, _ = await served.put_inbox(peer_b, "t1", json.dumps(payload).encode())
    await bad_request(served, response, "must be a JSON object")


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({}, "envelopes: required field is missing"),
        ({"envelopes": {"0": {}}}, "not an array"),
        ({"envelopes": "all"}, "not an array"),
    ],
)
async def test_envelopes_missing_or_not_a_list(served: Served, peer_b: FakePeer, payload: Any, problem: str) -> None:
    response, _ = await served.put_inbox(peer_b, "t1", body_of(payload))
    await bad_request(served, response, problem)


async def test_unknown_top_level_field(served: Served, peer_b: FakePeer) -> None:
    body = body_of({"envelopes": [peer_b.envelope()], "relay": True})
    response, _ = await served.put_inbox(peer_b, "t1", body)
    await bad_request(served, response, "relay", "unknown field")


@pytest.mark.parametrize("txn_id", ["a" * 65, "bad!id", "semi;colon", "at@sign"])
async def test_invalid_txn_id(served: Served, peer_b: FakePeer, txn_id: str) -> None:
    response, _ = await served.put_inbox(peer_b, txn_id, body_of({"envelopes": [peer_b.envelope()]}))
    await bad_request(served, response, "txn_id")


async def test_a_refused_transaction_id_can_be_used_again(served: Served, peer_b: FakePeer) -> None:
    """A 400 is not remembered as the transaction's answer: the sender may retry with a good body."""
    envelope = peer_b.envelope()
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [envelope], "x": 1}))
    await bad_request(served, response, "unknown field")
    retry, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [envelope]}))
    assert [entry["status"] for entry in await results_of(retry)] == ["accepted"]
    assert stored(served.node) == (1, 1)


def oversized(peer: FakePeer) -> bytes:
    """A well-formed transaction of 50 large envelopes, just over 1 MiB."""
    envelopes = [peer.envelope({"title": "Groß", "summary": "x" * 5000}) for _ in range(50)]
    body = body_of({"envelopes": envelopes})
    padded = b" " * (MAX_BODY + 1 - len(body)) + body
    assert len(padded) == MAX_BODY + 1
    return padded


async def test_body_over_one_mebibyte(served: Served, peer_b: FakePeer) -> None:
    body = oversized(peer_b)
    headers = peer_b.signed_headers("PUT", served.url("/fed/v1/inbox/t1"), body)
    response = await served.client.put("/fed/v1/inbox/t1", data=io.BytesIO(body), headers=headers)
    await refusal(response, 413, "too_large", "larger than", str(MAX_BODY))
    assert stored(served.node) == (0, 0)


async def test_body_over_one_mebibyte_without_content_length(served: Served, peer_b: FakePeer) -> None:
    """Sent chunked, the size is found out while reading: still 413, still nothing stored."""
    body = oversized(peer_b)
    headers = peer_b.signed_headers("PUT", served.url("/fed/v1/inbox/t1"), body)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = await served.client.put("/fed/v1/inbox/t1", data=chunks(), headers=headers)
    await refusal(response, 413, "too_large", "larger than", str(MAX_BODY))
    assert stored(served.node) == (0, 0)


async def test_body_of_exactly_one_mebibyte_is_read(served: Served, peer_b: FakePeer) -> None:
    """Control for the tests above: one byte less passes the size check (and parses, whitespace is JSON)."""
    body = oversized(peer_b)[1:]
    headers = peer_b.signed_headers("PUT", served.url("/fed/v1/inbox/t1"), body)
    response = await served.client.put("/fed/v1/inbox/t1", data=io.BytesIO(body), headers=headers)
    assert [entry["status"] for entry in await results_of(response)] == ["accepted"] * 50
    assert stored(served.node) == (50, 1)


# --- per-envelope results inside a 200 answer ---------------------------------------------------


def tampered_content(envelope: dict[str, Any]) -> dict[str, Any]:
    envelope["content"] = {**envelope["content"], "title": "Gefälscht"}
    return envelope


def tampered_hash(envelope: dict[str, Any]) -> dict[str, Any]:
    """Content and hash changed together: the hash matches, the origin signature no longer does."""
    envelope = tampered_content(envelope)
    envelope["hashes"] = {"sha256": content_hash(envelope["content"])}
    return envelope


def flipped_signature(envelope: dict[str, Any]) -> dict[str, Any]:
    [(kid, sig)] = envelope["signatures"].items()
    raw = bytearray(b64url_decode(sig))
    raw[10] ^= 0x01
    envelope["signatures"] = {kid: b64url(bytes(raw))}
    return envelope


def unknown_key_id(envelope: dict[str, Any]) -> dict[str, Any]:
    envelope["signatures"] = {"ed25519:2": next(iter(envelope["signatures"].values()))}
    return envelope


def unsigned(envelope: dict[str, Any]) -> dict[str, Any]:
    envelope["signatures"] = {}
    return envelope


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (tampered_content, "content does not match hashes.sha256"),
        (tampered_hash, "signature does not verify"),
        (flipped_signature, "signature does not verify"),
        (unknown_key_id, "no signature by a known key"),
        (unsigned, "not signed"),
    ],
)
async def test_envelope_whose_origin_signature_fails(
    served: Served, peer_b: FakePeer, spoil: Any, problem: str
) -> None:
    good_1, bad, good_3 = peer_b.envelope(), spoil(peer_b.envelope()), peer_b.envelope()
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [good_1, bad, good_3]}))
    results = await results_of(response)
    assert [entry["status"] for entry in results] == ["accepted", "refused", "accepted"]
    assert [entry["index"] for entry in results] == [0, 1, 2]
    assert problem in results[1]["reason"]
    assert results[1]["seq"] == 2
    assert [seq for _, seq, _ in inbox_rows(served)] == [1, 3]
    assert stored(served.node) == (2, 1)


@pytest.mark.parametrize("label", ["TLP:RED", "TLP:AMBER+STRICT", "TLP:AMBER", "TLP:GREEN"])
async def test_origin_is_not_the_sending_peer(served: Served, peer_b: FakePeer, label: str) -> None:
    """B relays C's envelope: only TLP:CLEAR may be forwarded, so every other label is refused."""
    peer_c = FakePeer("Stadt C", "http://127.0.0.1:10").trusted_by(served.node)
    own, foreign = peer_b.envelope(), peer_c.envelope(tlp=label)
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [foreign, own]}))
    results = await results_of(response)
    assert [entry["status"] for entry in results] == ["refused", "accepted"]
    assert results[0]["reason"] == (
        f"origin {peer_c.node_id} is not the sending peer {peer_b.node_id}, and {label} may not be forwarded"
    )
    assert [(origin, seq) for origin, seq, _ in inbox_rows(served)] == [(peer_b.node_id, own["seq"])]
    assert stored(served.node) == (1, 1)


async def test_a_relayed_clear_envelope_from_a_known_origin_is_accepted(served: Served, peer_b: FakePeer) -> None:
    """Counterpart of the test above: TLP:CLEAR may travel anywhere, and C's own signature still verifies."""
    peer_c = FakePeer("Stadt C", "http://127.0.0.1:10").trusted_by(served.node)
    foreign = peer_c.envelope(tlp="TLP:CLEAR")
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [foreign]}))
    assert [entry["status"] for entry in await results_of(response)] == ["accepted"]
    row = served.node.db.execute("SELECT origin, seq, tlp, sender FROM inbox").fetchone()
    assert tuple(row) == (peer_c.node_id, foreign["seq"], "TLP:CLEAR", peer_b.node_id)
    assert stored(served.node) == (1, 1)


async def test_a_relayed_clear_envelope_from_an_unknown_origin_is_refused(served: Served, peer_b: FakePeer) -> None:
    """TLP:CLEAR is forwarded only with an origin whose key this node trusts: else nothing verifies it."""
    stranger = FakePeer("Stadt X", "http://127.0.0.1:8")
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [stranger.envelope(tlp="TLP:CLEAR")]}))
    [entry] = await results_of(response)
    assert entry["status"] == "refused"
    assert f"no signature by a known key of origin {stranger.node_id}" in entry["reason"]
    assert stored(served.node) == (0, 1)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"version": None}, "envelope field 'version' is missing"),
        ({"tlp": None}, "envelope field 'tlp' is missing"),
        ({"version": 0}, "version must be a positive integer"),
        ({"version": "1"}, "version must be a positive integer"),
        ({"version": True}, "version must be a positive integer"),
        ({"tlp": "TLP:PURPLE"}, "tlp"),
        ({"tlp": "amber"}, "tlp"),
    ],
)
async def test_envelope_with_a_bad_version_or_label(
    served: Served, peer_b: FakePeer, fields: dict[str, Any], problem: str
) -> None:
    bad = hand_signed(peer_b, {"title": "T", "summary": "S"}, **fields)
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [bad]}))
    [entry] = await results_of(response)
    assert entry["status"] == "refused"
    assert problem in entry["reason"]
    assert stored(served.node) == (0, 1)


async def test_envelope_with_internal_notes(served: Served, peer_b: FakePeer) -> None:
    leaky = hand_signed(peer_b, {"title": "T", "summary": "S", "internal_notes": "LOCAL-ONLY-inbox-1d4e"})
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [leaky]}))
    [entry] = await results_of(response)
    assert entry["status"] == "refused"
    assert "internal_notes" in entry["reason"]
    assert "local field" in entry["reason"]
    assert stored(served.node) == (0, 1)
    # the refused seq 1 left no trace: B's real seq 1 is accepted, not taken for a fork
    response, _ = await served.put_inbox(peer_b, "t2", body_of({"envelopes": [peer_b.envelope()]}))
    assert [entry["status"] for entry in await results_of(response)] == ["accepted"]
    raw = served.node.db.execute("SELECT group_concat(envelope) FROM inbox").fetchone()[0]
    assert "LOCAL-ONLY-inbox-1d4e" not in raw


async def test_unsigned_member_holding_anything_but_a_crossing_attachment(served: Served, peer_b: FakePeer) -> None:
    """Issue 11, item 12: `unsigned` is covered by no signature; nothing but `crossing` is stored from it."""
    leaky = peer_b.envelope() | {"unsigned": {"internal_notes": "LOCAL-ONLY-unsigned-5c2b"}}
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [leaky]}))
    [entry] = await results_of(response)
    assert entry["status"] == "refused"
    assert "unsigned may hold only crossing" in entry["reason"]
    assert stored(served.node) == (0, 1)
    raw = served.node.db.execute("SELECT coalesce(group_concat(envelope), '') FROM inbox").fetchone()[0]
    assert "LOCAL-ONLY-unsigned-5c2b" not in raw


async def test_envelope_content_failing_its_schema(served: Served, peer_b: FakePeer) -> None:
    odd = hand_signed(peer_b, {"title": "T", "summary": "S", "colour": "red"})
    good = peer_b.envelope()
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [odd, good]}))
    results = await results_of(response)
    assert [entry["status"] for entry in results] == ["refused", "accepted"]
    assert "colour" in results[0]["reason"]
    assert stored(served.node) == (1, 1)


@pytest.mark.parametrize(
    ("junk", "problem"),
    [
        ("not an envelope", "must be a JSON object"),
        ({"type": "experience"}, "missing"),
        ({}, "missing"),
    ],
)
async def test_junk_in_the_envelope_list(served: Served, peer_b: FakePeer, junk: Any, problem: str) -> None:
    good = peer_b.envelope()
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [junk, good]}))
    results = await results_of(response)
    assert [entry["status"] for entry in results] == ["refused", "accepted"]
    assert problem in results[0]["reason"]
    assert stored(served.node) == (1, 1)


async def test_fork(served: Served, peer_b: FakePeer) -> None:
    first = peer_b.envelope()
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [first]}))
    assert [entry["status"] for entry in await results_of(response)] == ["accepted"]
    before = inbox_rows(served)
    peer_b.seq, peer_b.prev = 0, None  # B signs another seq 1
    fork = peer_b.envelope({"title": "Andere Fassung", "summary": "Kurzfassung"})
    good = peer_b.envelope()  # seq 2, stored alongside
    response, _ = await served.put_inbox(peer_b, "t2", body_of({"envelopes": [fork, good]}))
    results = await results_of(response)
    assert [entry["status"] for entry in results] == ["refused", "accepted"]
    assert "fork" in results[0]["reason"]
    assert inbox_rows(served)[0] == before[0]
    stored_content = json.loads(served.node.db.execute("SELECT envelope FROM inbox WHERE seq = 1").fetchone()[0])
    assert stored_content["content"] == first["content"]
    assert stored(served.node) == (2, 2)


async def test_duplicate_in_a_new_transaction(served: Served, peer_b: FakePeer) -> None:
    envelope = peer_b.envelope()
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [envelope]}))
    assert [entry["status"] for entry in await results_of(response)] == ["accepted"]
    newer = peer_b.envelope()
    response, _ = await served.put_inbox(peer_b, "t2", body_of({"envelopes": [envelope, newer]}))
    results = await results_of(response)
    assert [entry["status"] for entry in results] == ["duplicate", "accepted"]
    assert "reason" not in results[0]
    assert stored(served.node) == (2, 2)


async def test_duplicate_within_one_transaction(served: Served, peer_b: FakePeer) -> None:
    envelope = peer_b.envelope()
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [envelope, envelope]}))
    assert [entry["status"] for entry in await results_of(response)] == ["accepted", "duplicate"]
    assert stored(served.node) == (1, 1)


async def test_repeated_transaction_returns_the_stored_answer(served: Served, peer_b: FakePeer) -> None:
    first_envelope = peer_b.envelope()
    first, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [first_envelope, {"junk": 1}]}))
    first_raw = await first.read()
    assert first.status == 200
    assert stored(served.node) == (1, 1)
    other = peer_b.envelope()  # a different body under the same transaction id
    again, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [other]}))
    assert again.status == 200
    assert await again.read() == first_raw
    assert stored(served.node) == (1, 1)
    assert [seq for _, seq, _ in inbox_rows(served)] == [1]


async def test_the_same_transaction_id_from_another_peer_is_its_own(served: Served, peer_b: FakePeer) -> None:
    peer_c = FakePeer("Stadt C", "http://127.0.0.1:10").trusted_by(served.node)
    response, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [peer_b.envelope()]}))
    assert [entry["status"] for entry in await results_of(response)] == ["accepted"]
    response, _ = await served.put_inbox(peer_c, "t1", body_of({"envelopes": [peer_c.envelope()]}))
    results = await results_of(response)
    assert [(entry["status"], entry["origin"]) for entry in results] == [("accepted", peer_c.node_id)]
    assert stored(served.node) == (2, 2)


# --- signed answers -----------------------------------------------------------------------------


def answer_is_signed_by(served: Served, response: ClientResponse, raw: bytes, sent: dict[str, str], path: str) -> None:
    node = served.node
    request = HttpRequest(method="PUT", url=served.url(path), headers=sent)

    def resolve(node_id: str, key_id: str) -> bytes | None:
        return node.key.public if (node_id, key_id) == (node.node_id, node.key.key_id) else None

    info = verify_response(response.status, list(response.headers.items()), raw, request, resolve)
    assert info.node_id == node.node_id


async def test_answers_are_signed_by_the_node(served: Served, peer_b: FakePeer) -> None:
    response, sent = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [peer_b.envelope()]}))
    raw = await response.read()
    assert response.status == 200
    answer_is_signed_by(served, response, raw, sent, "/fed/v1/inbox/t1")


async def test_refusals_are_signed_too(served: Served, peer_b: FakePeer) -> None:
    response, sent = await served.put_inbox(peer_b, "t1", body_of({"envelopes": []}))
    raw = await response.read()
    assert response.status == 400
    answer_is_signed_by(served, response, raw, sent, "/fed/v1/inbox/t1")


async def test_answer_signature_is_bound_to_its_request(served: Served, peer_b: FakePeer) -> None:
    """The answer does not verify against another request (e.g. a replayed answer to a new request)."""
    response, sent = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [peer_b.envelope()]}))
    raw = await response.read()
    other = peer_b.signed_headers("PUT", served.url("/fed/v1/inbox/t1"), body_of({"envelopes": []}))
    with pytest.raises(SignatureError, match="does not verify"):
        answer_is_signed_by(served, response, raw, other, "/fed/v1/inbox/t1")
    with pytest.raises(SignatureError, match="does not verify"):
        answer_is_signed_by(served, response, raw, sent, "/fed/v1/inbox/t2")
    with pytest.raises(SignatureError, match="Content-Digest"):
        answer_is_signed_by(served, response, raw.replace(b"accepted", b"refused!"), sent, "/fed/v1/inbox/t1")
