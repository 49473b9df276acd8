"""Bodies and parameters of the federation endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.errors import SchemaError
from protocol.wire import (
    MAX_ENVELOPES,
    MAX_OUTBOX_LIMIT,
    check_page_advances,
    check_txn_id,
    parse_chain_head,
    parse_cursor,
    parse_limit,
    parse_outbox_page,
    parse_results,
    parse_transaction,
    result,
)


@pytest.mark.parametrize("count", [1, 2, 49, 50])
def test_parse_transaction_accepts_1_to_50(count: int) -> None:
    envelopes = [{"n": i} for i in range(count)]
    assert parse_transaction({"envelopes": envelopes}) == envelopes
    assert MAX_ENVELOPES == 50


def test_parse_transaction_refuses_empty() -> None:
    with pytest.raises(SchemaError, match="at least one") as info:
        parse_transaction({"envelopes": []})
    assert info.value.field == "envelopes"


@pytest.mark.parametrize("count", [51, 100, 1000])
def test_parse_transaction_refuses_more_than_50(count: int) -> None:
    with pytest.raises(SchemaError, match=f"holds {count} envelopes; at most 50") as info:
        parse_transaction({"envelopes": [{}] * count})
    assert info.value.field == "envelopes"


@pytest.mark.parametrize("envelopes", [None, {}, "[]", 5, {"0": {}}])
def test_parse_transaction_refuses_non_list(envelopes: Any) -> None:
    with pytest.raises(SchemaError, match="not an array") as info:
        parse_transaction({"envelopes": envelopes})
    assert info.value.field == "envelopes"


def test_parse_transaction_refuses_missing_envelopes() -> None:
    with pytest.raises(SchemaError, match="missing") as info:
        parse_transaction({})
    assert info.value.field == "envelopes"


@pytest.mark.parametrize("body", [None, [], [{}], "envelopes", 1])
def test_parse_transaction_refuses_non_object(body: Any) -> None:
    with pytest.raises(SchemaError, match="JSON object"):
        parse_transaction(body)


def test_parse_transaction_refuses_unknown_field() -> None:
    with pytest.raises(SchemaError, match="unknown field") as info:
        parse_transaction({"envelopes": [{}], "origin": "x"})
    assert info.value.field == "origin"


@pytest.mark.parametrize("txn_id", ["1", "txn-0001", "a.b_c~d-e", "A" * 64, "1732262400000.0"])
def test_check_txn_id_accepts(txn_id: str) -> None:
    assert check_txn_id(txn_id) == txn_id


@pytest.mark.parametrize(
    "txn_id", ["", "A" * 65, "a/b", "a b", "a%20b", "ä", "a?b", "a#b", "txn\n", "txn-1\r\n", "..\\x"]
)
def test_check_txn_id_refuses(txn_id: str) -> None:
    with pytest.raises(SchemaError, match="1 to 64 characters") as info:
        check_txn_id(txn_id)
    assert info.value.field == "txn_id"


@pytest.mark.parametrize(
    ("text", "cursor"), [(None, 0), ("", 0), ("0", 0), ("7", 7), ("0042", 42), ("9" * 16, 10**16 - 1)]
)
def test_parse_cursor(text: str | None, cursor: int) -> None:
    assert parse_cursor(text) == cursor


@pytest.mark.parametrize("text", ["-1", "+1", "1.0", "1e3", "abc", " 1", "1 ", "9" * 17, "١٢", "²", "0x10"])
def test_parse_cursor_refuses(text: str) -> None:
    with pytest.raises(SchemaError, match="non-negative integer") as info:
        parse_cursor(text)
    assert info.value.field == "since"


@pytest.mark.parametrize(("text", "limit"), [(None, 100), ("", 100), ("1", 1), ("100", 100), ("500", 500)])
def test_parse_limit(text: str | None, limit: int) -> None:
    assert parse_limit(text) == limit
    assert MAX_OUTBOX_LIMIT == 500


def test_parse_limit_default() -> None:
    assert parse_limit(None, default=20) == 20


@pytest.mark.parametrize("text", ["0", "501", "1000", "-1", "abc", "10.5", "١٢", "²", "1" * 5000])
def test_parse_limit_refuses(text: str) -> None:
    with pytest.raises(SchemaError, match="from 1 to 500") as info:
        parse_limit(text)
    assert info.value.field == "limit"


def test_result_entries() -> None:
    envelope = {"id": "rec-0001abcd", "origin": "pnx", "seq": 3, "content": {}}
    assert result(0, envelope, "accepted") == {
        "index": 0,
        "status": "accepted",
        "id": "rec-0001abcd",
        "origin": "pnx",
        "seq": 3,
    }
    assert result(4, "garbage", "refused", "an envelope must be a JSON object") == {
        "index": 4,
        "status": "refused",
        "reason": "an envelope must be a JSON object",
    }
    # Values of the wrong type are left out rather than echoed.
    assert result(1, {"id": ["x"], "seq": True, "origin": None}, "duplicate") == {"index": 1, "status": "duplicate"}


def test_parse_results() -> None:
    body = {"results": [{"index": 0, "status": "accepted"}, "junk"]}
    assert parse_results(body) == [{"index": 0, "status": "accepted"}]
    bad_bodies: list[Any] = [None, {}, {"results": {}}, []]
    for bad in bad_bodies:
        with pytest.raises(SchemaError):
            parse_results(bad)


def test_parse_outbox_page() -> None:
    assert parse_outbox_page({"envelopes": [{}], "next": 5, "more": False}) == ([{}], 5, False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (None, "(body)"),
        ({"next": 0, "more": False}, "envelopes"),
        ({"envelopes": [{}] * 501, "next": 0, "more": False}, "envelopes"),
        ({"envelopes": [], "next": -1, "more": False}, "next"),
        ({"envelopes": [], "next": True, "more": False}, "next"),
        ({"envelopes": [], "next": "5", "more": False}, "next"),
        ({"envelopes": [], "next": 5, "more": 1}, "more"),
        ({"envelopes": [], "next": 5}, "more"),
    ],
)
def test_parse_outbox_page_refuses(body: Any, field: str) -> None:
    with pytest.raises(SchemaError) as info:
        parse_outbox_page(body)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("since", "envelopes", "following", "more"),
    [
        (0, [], 0, False),  # nothing there
        (5, [], 5, False),  # nothing new
        (5, [{}], 6, False),
        (5, [{}, {}], 9, True),
        (5, [], 8, True),  # all it passed over was withheld; more follows
        (5, [], 8, False),
    ],
)
def test_a_page_that_advances_or_ends_is_pulled(since: int, envelopes: list[Any], following: int, more: bool) -> None:
    check_page_advances(since, envelopes, following, more)


@pytest.mark.parametrize(
    ("since", "envelopes", "following", "more", "problem"),
    [
        (5, [], 4, False, "moved backwards: 4 is before since 5"),
        (5, [{}], 2, True, "moved backwards: 2 is before since 5"),
        (5, [], 5, True, "does not advance past since 5 although more is true"),
        (0, [], 0, True, "does not advance past since 0 although more is true"),
        (5, [{}], 5, False, "does not advance past since 5 although the page holds envelopes"),
        (5, [{}], 5, True, "does not advance past since 5 although more is true"),
    ],
)
def test_a_page_that_neither_advances_nor_ends_is_refused(
    since: int, envelopes: list[Any], following: int, more: bool, problem: str
) -> None:
    with pytest.raises(SchemaError) as info:
        check_page_advances(since, envelopes, following, more)
    assert (info.value.field, info.value.reason) == ("next", problem)


def test_parse_chain_head_takes_a_tombstone_or_null() -> None:
    tombstone = {"type": "experience", "seq": 3, "signatures": {}}
    assert parse_chain_head({"envelope": tombstone}) == tombstone
    assert parse_chain_head({"envelope": None}) is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "must be a JSON object"),
        ({}, "envelope: required field is missing"),
        ({"envelope": None, "seq": 5}, "seq: unknown field"),
        ({"envelope": 7}, "must be an envelope object or null"),
        ({"envelope": "x"}, "must be an envelope object or null"),
        ({"envelope": {"seq": 1, "content": {}}}, "must be a tombstone"),
        ({"envelope": {"seq": 1, "unsigned": {"crossing": {}}}}, "must be a tombstone"),
    ],
)
def test_parse_chain_head_refuses_other_answers(body: Any, words: str) -> None:
    with pytest.raises(SchemaError, match=words):
        parse_chain_head(body)
