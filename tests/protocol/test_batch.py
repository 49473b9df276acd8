"""Verifying many envelopes at once (protocol.batch), and the canonical bytes a verification returns."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.batch import table_resolver, verify_each, verify_outbox_body
from protocol.canonical import canonical_bytes
from protocol.envelope import VerifiedEnvelope, envelope_ref, redact, verify_envelope
from protocol.errors import ProtocolError
from protocol.wire import outbox_page_body
from tests.protocol.test_envelope import ALERT, CONTENT, KEY, ORIGIN, OTHER, OTHER_ORIGIN, TRUSTED, make, resign

KEYS = {ORIGIN: {KEY.key_id: KEY.public}, OTHER_ORIGIN: {OTHER.key_id: OTHER.public}}
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)  # any text JSON can carry, astral too


@settings(max_examples=150, deadline=None)
@given(
    title=TEXT.filter(str.strip),
    extra_key=TEXT,
    network=st.booleans(),
    tombstone=st.booleans(),
    unsigned=st.none() | st.fixed_dictionaries({"crossing": st.dictionaries(TEXT, TEXT, max_size=2)}),
)
def test_verified_canonical_bytes_are_the_envelopes_canonical_bytes(
    title: str, extra_key: str, network: bool, tombstone: bool, unsigned: dict[str, dict[str, str]] | None
) -> None:
    content: dict[str, Any] = copy.deepcopy(CONTENT)
    content["title"] = title
    content["implementation"]["duration"] = extra_key
    envelope: dict[str, Any] = make(content=content, network="nw" + "a" * 32 if network else None)
    if tombstone:
        envelope = redact(envelope)
    if unsigned is not None:
        envelope["unsigned"] = unsigned
    verified = verify_envelope(envelope, TRUSTED)
    assert verified.canonical == canonical_bytes(envelope)


def test_alert_canonical_bytes() -> None:
    envelope = make(kind="alert", content=ALERT)
    assert verify_envelope(envelope, TRUSTED).canonical == canonical_bytes(envelope)


def test_verified_envelope_survives_pickling_for_worker_processes() -> None:
    verified = verify_envelope(make(), TRUSTED)
    again = pickle.loads(pickle.dumps(verified))
    assert again == verified
    assert again.envelope == verified.envelope


def _page(envelopes: list[dict[str, Any]], cursor: int = 9, more: bool = False) -> bytes:
    return outbox_page_body([canonical_bytes(e) for e in envelopes], cursor, more, 0)


def test_outbox_page_body_is_the_canonical_page() -> None:
    first = make()
    second = make(seq=2, prev=envelope_ref(first), record_id="rec-0002abcd")
    for envelopes, more in (([], False), ([first], True), ([first, second], False)):
        page = {"envelopes": envelopes, "next": 7, "more": more, "remaining": 3}
        expected = canonical_bytes(page)
        assert outbox_page_body([canonical_bytes(e) for e in envelopes], 7, more, 3) == expected


def test_verify_outbox_body_gives_one_result_per_envelope() -> None:
    good = make()
    forged = resign(make(record_id="rec-0003abcd"), OTHER)  # signed by another node under the origin's name
    unknown = make(record_id="rec-0004abcd", origin=OTHER_ORIGIN)
    results = verify_outbox_body(_page([good, forged, unknown]), {ORIGIN: KEYS[ORIGIN]})
    assert isinstance(results[0], VerifiedEnvelope)
    assert results[0].canonical == canonical_bytes(good)
    assert isinstance(results[1], str)
    assert "signature" in results[1]
    assert results[2] == f"no signature by a known key of origin {OTHER_ORIGIN}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "outbox page must be a JSON object"),
        (b'{"envelopes": [], "next": 1, "more": false, "more": true}', "duplicate key 'more'"),
        (b'{"envelopes": [], "next": 1.5, "more": false}', "floating-point"),
        (b'{"envelopes": [], "next": -1, "more": false}', "next"),
        (b'{"envelopes": [], "next": 1, "more": "no"}', "more"),
        (b"\xff", "UTF-8"),
        (b'{"envelopes": [' * 70 + b"]" * 70, "nesting|malformed"),
    ],
)
def test_malformed_outbox_bodies_are_refused_whole(body: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        verify_outbox_body(body, KEYS)


def test_table_resolver_and_verify_each() -> None:
    resolve = table_resolver(KEYS)
    assert resolve(ORIGIN, KEY.key_id) == KEY.public
    assert resolve(ORIGIN, "ed25519:9") is None
    assert resolve("pnbunknown", KEY.key_id) is None
    results = verify_each([make(), "not an envelope"], resolve)
    assert isinstance(results[0], VerifiedEnvelope)
    assert results[1] == "an envelope must be a JSON object"
