"""Canonical JSON: RFC 8785 bytes under the strict profile, and the strict parser."""

from __future__ import annotations

import collections
import enum
import json
from types import MappingProxyType
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.canonical import (
    MAX_DEPTH,
    MAX_SAFE_INTEGER,
    canonical_bytes,
    check_profile,
    encode_scanned,
    parse,
    parse_scanned,
    scan,
)
from protocol.errors import CanonicalError

# --- RFC 8785 examples inside the profile -----------------------------------------------------

# RFC 8785, section 3.2.3: keys are sorted by their UTF-16 code units, so the emoji (surrogate pair
# D83D DE00) sorts before U+FB33 although its code point is larger.
RFC8785_SORTING_INPUT = """{
  "\\u20ac": "Euro Sign",
  "\\r": "Carriage Return",
  "\\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\\ud83d\\ude00": "Emoji: Grinning Face",
  "\\u0080": "Control",
  "\\u00f6": "Latin Small Letter O With Diaeresis"
}"""
RFC8785_SORTING_OUTPUT = (
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",'
    '"\u20ac":"Euro Sign","\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
).encode()

# RFC 8785, section 3.2.2: the sample without its "numbers" member (floats lie outside the profile).
RFC8785_SAMPLE_INPUT = """{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\"\\/",
  "literals": [null, true, false]
}"""
RFC8785_SAMPLE_OUTPUT = '{"literals":[null,true,false],"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'.encode()


def test_rfc8785_key_sorting_example() -> None:
    value = parse(RFC8785_SORTING_INPUT)
    assert canonical_bytes(value) == RFC8785_SORTING_OUTPUT


def test_rfc8785_key_sorting_is_by_utf16_code_units() -> None:
    value = {"\U0001f600": 1, "\ufb33": 2}
    assert canonical_bytes(value) == '{"\U0001f600":1,"\ufb33":2}'.encode()
    # Sorting by code points (what json.dumps(sort_keys=True) does) would give the other order.
    assert json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() != canonical_bytes(
        value
    )


def test_rfc8785_string_escaping_example() -> None:
    sample = RFC8785_SAMPLE_INPUT.replace(
        '  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n', ""
    )
    assert "numbers" not in sample
    value = parse(sample)
    assert value["string"] == '\u20ac$\x0f\nA\'B"\\\\"/'
    assert canonical_bytes(value) == RFC8785_SAMPLE_OUTPUT


def test_rfc8785_full_sample_is_refused_for_its_floats() -> None:
    with pytest.raises(CanonicalError, match="floating-point"):
        parse(RFC8785_SAMPLE_INPUT)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, b"null"),
        (True, b"true"),
        (False, b"false"),
        (0, b"0"),
        (-1, b"-1"),
        (MAX_SAFE_INTEGER, b"9007199254740991"),
        (-MAX_SAFE_INTEGER, b"-9007199254740991"),
        ("", b'""'),
        ("\x00\x1f\x7f", b'"\\u0000\\u001f\x7f"'),
        ("\b\t\n\f\r", b'"\\b\\t\\n\\f\\r"'),
        ("</script>", b'"</script>"'),
        ("\u2028\u2029", '"\u2028\u2029"'.encode()),
        ("äöü ß €", '"äöü ß €"'.encode()),
        ([], b"[]"),
        ({}, b"{}"),
        ({"b": [1, {"d": None, "c": True}], "a": "x"}, b'{"a":"x","b":[1,{"c":true,"d":null}]}'),
        ((1, 2), b"[1,2]"),
    ],
)
def test_canonical_bytes(value: Any, expected: bytes) -> None:
    assert canonical_bytes(value) == expected


# --- values outside the profile ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.0, "floating-point"),
        (float("nan"), "floating-point"),
        (float("inf"), "floating-point"),
        (2**53, "outside"),
        (-(2**53), "outside"),
        ("\ud800", "lone surrogate"),
        ({"\udc00": 1}, "lone surrogate"),
        ({1: "a"}, "not a string"),
        (b"bytes", "bytes is not a JSON value"),
        ({1, 2}, "set is not a JSON value"),
        (object(), "object is not a JSON value"),
        ({"a": [1, 2.5]}, r"\$\.a\[1\]: floating-point"),
    ],
)
def test_canonical_bytes_refuses(value: Any, message: str) -> None:
    with pytest.raises(CanonicalError, match=message):
        canonical_bytes(value)


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


class _Str(str):
    pass


class _Dict(dict[str, Any]):
    pass


class _List(list[Any]):
    pass


class _Mapping(collections.abc.Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


class _Level(enum.IntEnum):
    HIGH = 3


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (collections.OrderedDict(a=1), "OrderedDict"),
        (MappingProxyType({"a": 1}), "mappingproxy"),
        (collections.UserDict({"a": 1}), "UserDict"),
        (collections.defaultdict(list), "defaultdict"),
        (_Dict(a=1), "_Dict"),
        (_Mapping(), "_Mapping"),
        (collections.deque([1]), "deque"),
        (collections.UserList([1]), "UserList"),
        (_List([1]), "_List"),
        (range(3), "range"),
        (bytearray(b"x"), "bytearray"),
        (memoryview(b"x"), "memoryview"),
        (frozenset(), "frozenset"),
        (_Str("x"), "_Str"),
    ],
)
def test_only_dict_list_and_tuple_are_containers(value: Any, name: str) -> None:
    # Other Mapping and Sequence types (and subclasses of str, dict or list) are refused, so that
    # what is checked is exactly what the encoders serialize.
    for wrapped, path in ((value, r"\$"), ({"a": [value]}, r"\$\.a\[0\]")):
        with pytest.raises(CanonicalError, match=rf"^{path}: {name} is not a JSON value$"):
            check_profile(wrapped)
        with pytest.raises(CanonicalError, match=rf"^{path}: {name} is not a JSON value$"):
            scan(wrapped)
        with pytest.raises(CanonicalError, match=f"{name} is not a JSON value"):
            canonical_bytes(wrapped)


def test_str_subclass_key_is_refused() -> None:
    with pytest.raises(CanonicalError, match="object key 'k' is not a string"):
        canonical_bytes({_Str("k"): 1})


def test_tuples_are_arrays_and_int_subclasses_are_integers() -> None:
    assert canonical_bytes({"a": (1, (2, "x"))}) == b'{"a":[1,[2,"x"]]}'
    assert canonical_bytes({"\U0001f600": (1, _Level.HIGH)}) == '{"\U0001f600":[1,3]}'.encode()
    assert canonical_bytes([_Level.HIGH]) == b"[3]"


# --- scan and encode_scanned ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "astral"),
    [
        (None, False),
        ("\U0001f600", False),  # outside the BMP, but a value, not a key
        ({"a": "\U0001f600"}, False),
        ({"\uffff": 1, "\ufb33": 2, "\u00e9": 3}, False),
        ({"\U0001f600": 1}, True),
        ({"\U00010000": 1}, True),
        ({"a\U0001f600b": 1}, True),
        ({"a": {"b": [{"\U0001f600": 1}]}}, True),
        ([1, {"\U0001f600": None}], True),
        (({"\U0001f600": None},), True),
        ([{"a": 1}, {"\ud7ff": 2}], False),
    ],
)
def test_scan_says_whether_a_key_lies_outside_the_bmp(value: Any, astral: bool) -> None:
    assert scan(value) is astral
    assert encode_scanned(value, astral) == canonical_bytes(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, r"^\$: floating-point"),
        ({"a": [1, {"b": 2**53}]}, r"^\$\.a\[1\]\.b: integer 9007199254740992 is outside"),
        ({"\U0001f600": {"x": "\ud800"}}, r"^\$\.\U0001f600\.x: string contains a lone surrogate"),
        (_nested(MAX_DEPTH + 1, 1), "nesting deeper than 64"),
    ],
)
def test_scan_refuses_like_check_profile(value: Any, message: str) -> None:
    with pytest.raises(CanonicalError, match=message):
        scan(value)
    with pytest.raises(CanonicalError, match=message):
        check_profile(value)


def test_encode_scanned_needs_the_astral_flag() -> None:
    # With a key outside the BMP, the sorted-keys fast path orders by code point, which is wrong.
    value = {"\U0001f600": 1, "\ufb33": 2}
    assert scan(value) is True
    assert encode_scanned(value, True) == rfc8785.dumps(value) == '{"\U0001f600":1,"\ufb33":2}'.encode()
    assert encode_scanned(value, False) != rfc8785.dumps(value)


def test_encode_scanned_with_astral_is_always_correct() -> None:
    value = {"b": [1, "ü"], "a": {"z": None, "y": True}}
    assert scan(value) is False
    assert encode_scanned(value, True) == encode_scanned(value, False) == canonical_bytes(value)


def test_encode_scanned_of_an_unscanned_lone_surrogate_is_a_canonical_error() -> None:
    # Callers that build a value themselves (the audit log) rely on this error, not orjson's.
    with pytest.raises(CanonicalError, match="cannot encode"):
        encode_scanned({"detail": "lone \ud800"}, False)


def test_encode_scanned_of_a_part_uses_the_flag_of_the_whole() -> None:
    # verify_envelope scans the envelope once and encodes its parts with the same flag.
    whole = {"content": {"\U0001f600": 1, "\ufb33": 2}, "other": {"b": 1, "a": 2}}
    astral = scan(whole)
    assert astral is True
    for part in whole.values():
        assert encode_scanned(part, astral) == canonical_bytes(part) == rfc8785.dumps(part)


def test_check_profile_depth() -> None:
    # Arrays and objects nest at most MAX_DEPTH deep; scalars inside the innermost one are fine.
    check_profile(_nested(MAX_DEPTH, 1))
    check_profile(_nested(MAX_DEPTH - 1, []))
    check_profile(_nested(MAX_DEPTH - 1, {}))
    with pytest.raises(CanonicalError, match="nesting deeper than 64"):
        check_profile(_nested(MAX_DEPTH + 1, 1))
    with pytest.raises(CanonicalError, match="nesting deeper than 64"):
        check_profile(_nested(MAX_DEPTH, []))
    with pytest.raises(CanonicalError, match="nesting deeper than 64"):
        check_profile(_nested(MAX_DEPTH, {"a": 1}))


# --- the strict parser ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ('{"a": 1, "b": 2, "a": 1}', "duplicate key 'a'"),
        ('{"outer": {"x": 1, "x": 1}}', "duplicate key 'x'"),
        ('[{"k": [], "k": []}]', "duplicate key 'k'"),
        ('{"a": {"b": {"c": 1, "c": 2}}}', "duplicate key 'c'"),
        ('{"\\u0061": 1, "a": 2}', "duplicate key 'a'"),
        ("1.0", "floating-point number 1.0"),
        ("1e5", "floating-point number 1e5"),
        ("1E5", "floating-point number 1E5"),
        ("-0.5", "floating-point number -0.5"),
        ("0.0", "floating-point number 0.0"),
        ('{"x": [1, 2, 3.25]}', "floating-point number 3.25"),
        ("NaN", "NaN is not allowed"),
        ("Infinity", "Infinity is not allowed"),
        ("-Infinity", "-Infinity is not allowed"),
        ('{"n": NaN}', "NaN is not allowed"),
        (str(2**53), "integer 9007199254740992 is outside"),
        (str(-(2**53)), "integer -9007199254740992 is outside"),
        (str(2**64), "outside"),
        ("1" * 5000, "outside"),
        ("-" + "9" * 5000, "outside"),
        ('"\\ud800"', "lone surrogate"),
        ('"\\udfff"', "lone surrogate"),
        ('"a\\ud83d"', "lone surrogate"),
        ('["ok", "\\ud800"]', "lone surrogate"),
        ('{"\\ud800": 1}', "lone surrogate"),
        ('{"a": {"\\udc00": 1}}', "lone surrogate"),
        ("", "malformed JSON"),
        ("{", "malformed JSON"),
        ('{"a": 1,}', "malformed JSON"),
        ("[1, 2", "malformed JSON"),
        ("{'a': 1}", "malformed JSON"),
        ('{"a" 1}', "malformed JSON"),
        ("01", "malformed JSON"),
        ("true false", "malformed JSON"),
        ("\ufeff{}", "malformed JSON"),
        ("undefined", "malformed JSON"),
    ],
)
def test_parse_refuses(text: str, message: str) -> None:
    with pytest.raises(CanonicalError, match=message):
        parse(text)
    with pytest.raises(CanonicalError, match=message):
        parse(text.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize(
    "data",
    [
        b"\xff",
        b'"\xc3"',
        b'{"a": "\xc3\x28"}',
        b'"\xed\xa0\x80"',  # a surrogate encoded as UTF-8 (CESU-style), invalid in UTF-8
        b'"\xc0\xaf"',  # overlong encoding of "/"
        b'"\xf8\x88\x80\x80\x80"',
        b"\xfe\xff\x00{\x00}",  # UTF-16
    ],
)
def test_parse_refuses_invalid_utf8(data: bytes) -> None:
    with pytest.raises(CanonicalError, match="not valid UTF-8"):
        parse(data)


def test_parse_refuses_deep_nesting() -> None:
    with pytest.raises(CanonicalError, match="nesting deeper than 64"):
        parse("[" * (MAX_DEPTH + 1) + "1" + "]" * (MAX_DEPTH + 1))
    with pytest.raises(CanonicalError, match="nesting deeper than 64"):
        parse('{"a":' * (MAX_DEPTH + 2) + "{}" + "}" * (MAX_DEPTH + 2))
    # Far beyond Python's recursion limit: still a CanonicalError, not a RecursionError.
    with pytest.raises(CanonicalError, match="nesting deeper than 64"):
        parse("[" * 100_000 + "]" * 100_000)


def test_parse_accepts_depth_limit() -> None:
    assert parse("[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH) == _nested(MAX_DEPTH, 1)
    assert parse("[" * MAX_DEPTH + "]" * MAX_DEPTH) == _nested(MAX_DEPTH - 1, [])
    with pytest.raises(CanonicalError, match="nesting deeper than 64"):
        parse("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


@pytest.mark.parametrize("number", [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, 0, -0, 1, -1])
def test_parse_accepts_safe_integers(number: int) -> None:
    assert parse(str(number)) == number
    assert parse(f'{{"n": [{number}]}}'.encode()) == {"n": [number]}


def test_parse_accepts_negative_zero_as_zero() -> None:
    assert parse("-0") == 0
    assert canonical_bytes(parse("-0")) == b"0"


def test_parse_accepts_escaped_surrogate_pair() -> None:
    assert parse('"\\ud83d\\ude00"') == "\U0001f600"
    assert parse('{"\\ud83d\\ude00": 1}') == {"\U0001f600": 1}


def test_parse_accepts_whitespace_and_returns_plain_types() -> None:
    value = parse(b' \n\t{ "a" : [ 1 , true , null , "x" ] , "b" : { } }\r\n')
    assert value == {"a": [1, True, None, "x"], "b": {}}
    assert type(value) is dict
    assert type(value["a"]) is list


# Documents already in canonical form take a fast path (orjson, accepted only if it gives the same bytes
# back): whatever the strict parser refuses in such a document, the fast path must not accept.
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a":1,"a":1}', "duplicate key 'a'"),
        (b'{"a":1,"a":2}', "duplicate key 'a'"),
        (b'{"a":{"b":null,"b":null}}', "duplicate key 'b'"),
        (b'[{"x":"y","x":"y"}]', "duplicate key 'x'"),
        (b'{"a":1.5}', "floating-point number 1.5"),
        (b"[1e5]", "floating-point number 1e5"),
        (b'{"a":9007199254740992}', "integer 9007199254740992 is outside"),
        (b"[-9007199254740992]", "integer -9007199254740992 is outside"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nesting deeper than 64"),
        (b'{"b":1,"a":2}', None),  # not sorted: not canonical, but valid and accepted
    ],
)
def test_parse_of_canonical_looking_documents_is_as_strict(data: bytes, message: str | None) -> None:
    if message is None:
        assert parse_scanned(data) == (json.loads(data), False)
        return
    with pytest.raises(CanonicalError, match=message):
        parse_scanned(data)


@settings(max_examples=200)
@given(st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=5), st.integers(0, 9), min_size=1))
def test_a_duplicated_key_is_refused_in_canonical_form(value: dict[str, int]) -> None:
    data = canonical_bytes(value)
    first = next(iter(sorted(value)))
    member = canonical_bytes({first: value[first]})[1:-1]
    doubled = data[:1] + member + b"," + data[1:]
    with pytest.raises(CanonicalError, match="duplicate key"):
        parse_scanned(doubled)


# --- properties over the whole profile --------------------------------------------------------

_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)
_scalars = st.none() | st.booleans() | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER) | _text
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_text, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=200)
@given(_values)
def test_canonical_roundtrip_property(value: Any) -> None:
    data = canonical_bytes(value)
    assert parse(data) == value
    assert parse_scanned(data) == (value, scan(value))
    assert canonical_bytes(parse(data)) == data
    assert data == rfc8785.dumps(value)


# Keys built from characters on both sides of the BMP boundary, where UTF-16 order and code point
# order disagree: the fast serializer must hand such documents to rfc8785.
_tricky_keys = st.text(
    alphabet=st.sampled_from(["a", "\u00e9", "\ud7ff", "\ue000", "\ufb33", "\uffff", "\U00010000", "\U0001f600"]),
    max_size=3,
)


@settings(max_examples=200)
@given(st.recursive(_scalars, lambda c: st.dictionaries(_tricky_keys, c, max_size=6) | st.lists(c, max_size=3)))
def test_canonical_bytes_match_rfc8785_around_the_bmp_boundary(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)
    assert parse(canonical_bytes(value)) == value


@settings(max_examples=200)
@given(st.dictionaries(_text, _scalars, max_size=8))
def test_canonical_bytes_ignore_key_insertion_order(value: dict[str, Any]) -> None:
    reordered = dict(reversed(list(value.items())))
    assert canonical_bytes(reordered) == canonical_bytes(value)


@settings(max_examples=200)
@given(st.dictionaries(st.text(alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"])), _scalars))
def test_json_dumps_fast_path_matches_inside_the_bmp(value: dict[str, Any]) -> None:
    # The fast path named in the design notes gives identical bytes as long as keys stay in the BMP.
    fast = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert fast == canonical_bytes(value)


@settings(max_examples=200)
@given(st.recursive(_scalars, lambda c: st.dictionaries(_tricky_keys, c, max_size=6) | st.lists(c, max_size=3)))
def test_encode_scanned_equals_canonical_bytes(value: Any) -> None:
    astral = scan(value)
    assert encode_scanned(value, astral) == canonical_bytes(value) == rfc8785.dumps(value)
    assert encode_scanned(value, True) == rfc8785.dumps(value)
    if not astral:
        assert encode_scanned(value, False) == rfc8785.dumps(value)


@settings(max_examples=200)
@given(_values)
def test_scan_is_true_exactly_when_a_key_is_astral(value: Any) -> None:
    def keys(item: Any) -> list[str]:
        if isinstance(item, dict):
            return [k for key, child in item.items() for k in [key, *keys(child)]]
        if isinstance(item, list):
            return [k for child in item for k in keys(child)]
        return []

    assert scan(value) is any(ch > "\uffff" for key in keys(value) for ch in key)
