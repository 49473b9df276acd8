"""protocol.structured: our serialiser gives http_sf's bytes and refuses what http_sf refuses; parsing is http_sf's."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import http_sf
import pytest
from http_sf import DisplayString, Token
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.structured import (
    Member,
    parse_dictionary,
    parse_item,
    ser_bare,
    ser_dictionary,
    ser_inner_list,
    ser_item,
    ser_key,
)

_keys = st.from_regex(r"[a-z*][a-z0-9_\-.*]{0,8}", fullmatch=True) | st.sampled_from(["created", "keyid", "req"])
_strings = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
_bare = (
    _strings
    | st.integers(-999_999_999_999_999, 999_999_999_999_999)
    | st.booleans()
    | st.binary(max_size=40)
    | st.from_regex(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]{0,8}", fullmatch=True).map(Token)
    | st.decimals(min_value=-999_999_999_999, max_value=999_999_999_999, places=3).map(Decimal)
    | st.text(max_size=10).map(DisplayString)
)
_params = st.dictionaries(_keys, _bare, max_size=4)
_items = st.tuples(_bare, _params)
_inner_lists = st.tuples(st.lists(_items, max_size=5), _params)
_dictionaries = st.dictionaries(_keys, _items | _inner_lists, min_size=1, max_size=4)


@settings(max_examples=300)
@given(_bare, _params)
def test_items_serialise_as_http_sf_does(value: Any, params: dict[str, Any]) -> None:
    assert ser_item(value, params) == http_sf.ser((value, params))


@settings(max_examples=300)
@given(_inner_lists)
def test_inner_lists_serialise_as_http_sf_does(inner: Any) -> None:
    assert ser_inner_list(*inner) == http_sf.ser({"x": inner})[2:]


@settings(max_examples=300)
@given(_dictionaries)
def test_dictionaries_serialise_as_http_sf_does_and_parse_back(members: dict[str, Member]) -> None:
    text = ser_dictionary(members)
    assert text == http_sf.ser(members)  # type: ignore[arg-type]
    assert ser_dictionary(parse_dictionary(text)) == text


@settings(max_examples=300)
@given(st.text(max_size=12) | st.integers() | st.none())
def test_what_http_sf_cannot_serialise_we_refuse_too(value: Any) -> None:
    try:
        expected = http_sf.ser((value, {}))
    except (ValueError, TypeError):
        with pytest.raises((ValueError, TypeError)):
            ser_bare(value)
    else:
        assert ser_bare(value) == expected


@pytest.mark.parametrize("key", ["", "Upper", "1st", "a b", "ä", "a=b"])
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="not a structured field key"):
        ser_key(key)
    with pytest.raises(ValueError, match=r"[Kk]ey"):
        http_sf.ser({key: 1})


@pytest.mark.parametrize(
    ("text", "unique", "problem"),
    [
        ("a=1, a=2", True, "'a' appears twice"),
        ("a=(1", False, "inner list"),
        ("a=1,", False, "trailing comma"),
        ("A=1", False, "uppercase"),
        ('a="\u00e4"', False, "disallowed character"),
    ],
)
def test_malformed_dictionaries_are_refused(text: str, unique: bool, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_dictionary(text, unique=unique)


def test_a_repeated_key_wins_last_unless_unique_is_asked() -> None:
    assert parse_dictionary("a=1, a=2") == {"a": (2, {})}


def test_items_parse_with_their_parameters() -> None:
    assert parse_item('"@method";req;key="x"') == ("@method", {"req": True, "key": "x"})
    with pytest.raises(ValueError, match="Trailing characters"):
        parse_item('"@method" trailing')


def test_an_empty_dictionary_is_not_serialised() -> None:
    with pytest.raises(ValueError, match="empty dictionary"):
        ser_dictionary({})
