"""Canonical JSON: RFC 8785 bytes under praevnet's strict profile, and a strict parser.

The profile admits only null, booleans, integers within +-(2^53-1), strings without lone
surrogates, arrays and objects with string keys. Parsing rejects duplicate keys, floats, NaN and
Infinity, so that exactly one canonical form exists for every accepted document.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import orjson
import rfc8785

from protocol.errors import CanonicalError

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 64

JSONValue = Any
"""A value inside the strict profile (checked at run time, not by the type system)."""


def _reject_float(text: str) -> NoReturn:
    raise CanonicalError(f"floating-point number {text} is not allowed; use an integer or a string")


def _reject_constant(text: str) -> NoReturn:
    raise CanonicalError(f"{text} is not allowed in JSON")


def _parse_int(text: str) -> int:
    if len(text) > len(str(-MAX_SAFE_INTEGER)):  # before int(): Python refuses over 4300 digits with ValueError
        raise CanonicalError(f"integer {text[:20]}... is outside +-(2^53-1)")
    value = int(text)
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise CanonicalError(f"integer {text} is outside +-(2^53-1)")
    return value


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise CanonicalError(f"duplicate key {key!r}")
            seen.add(key)
    return result


class _ProfileError(Exception):
    """Raised deep in a scan; carries the path back up as it unwinds."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.path: list[str] = []


def _check_string(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _ProfileError("string contains a lone surrogate") from None


def _scan(value: JSONValue, depth: int) -> bool:
    """Check the profile; return True if some object key lies outside the BMP (JCS then sorts differently)."""
    kind = type(value)
    if value is None or kind is bool or kind is str:
        if kind is str:
            _check_string(value)
        return False
    if kind is int:
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise _ProfileError(f"integer {value} is outside +-(2^53-1)")
        return False
    if depth >= MAX_DEPTH:
        raise _ProfileError(f"nesting deeper than {MAX_DEPTH} levels")
    astral = False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise _ProfileError(f"object key {key!r} is not a string")
            if not key.isascii():
                _check_string(key)
                astral = astral or max(key) > "\uffff"
            try:
                astral = _scan(item, depth + 1) or astral
            except _ProfileError as exc:
                exc.path.append(f".{key}")
                raise
        return astral
    if kind is list or kind is tuple:
        for index, item in enumerate(value):
            try:
                astral = _scan(item, depth + 1) or astral
            except _ProfileError as exc:
                exc.path.append(f"[{index}]")
                raise
        return astral
    if isinstance(value, float):
        raise _ProfileError("floating-point numbers are not allowed")
    if isinstance(value, int):  # an int subclass other than bool
        return _scan(int(value), depth)
    raise _ProfileError(f"{type(value).__name__} is not a JSON value")


def scan(value: JSONValue) -> bool:
    """Check that `value` lies inside the strict profile (else CanonicalError naming the path).

    Returns whether some object key lies outside the Basic Multilingual Plane, where JCS key order
    (UTF-16 code units) differs from Python's (code points); pass it on to `encode_scanned`.
    """
    try:
        return _scan(value, 0)
    except _ProfileError as exc:
        raise CanonicalError(f"${''.join(reversed(exc.path))}: {exc.message}") from None


def check_profile(value: JSONValue) -> None:
    """Raise CanonicalError unless `value` lies inside the strict profile; the message names the path."""
    scan(value)


def encode_scanned(value: JSONValue, astral: bool) -> bytes:
    """Canonical bytes of a value inside a document already checked by `scan`, which returned `astral`.

    Within the profile, orjson with sorted keys produces exactly the JCS bytes (UTF-8, no whitespace, the
    same escapes, integers as digits) unless an object key lies outside the BMP, where code point order
    and JCS's UTF-16 order differ; such documents go through rfc8785 itself. Property tests hold the
    two to identity. A value that was not scanned and holds a lone surrogate raises CanonicalError.
    """
    if astral:
        return rfc8785.dumps(value)
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise CanonicalError(f"cannot encode: {exc}") from None


def canonical_bytes(value: JSONValue) -> bytes:
    """Return the RFC 8785 canonical bytes of `value`, which must lie inside the strict profile."""
    return encode_scanned(value, scan(value))


def parse(data: bytes | str) -> JSONValue:
    """Parse JSON text strictly: UTF-8 only, no duplicate keys, floats, NaN or big integers."""
    return parse_scanned(data)[0]


def _parse_canonical(data: bytes) -> tuple[JSONValue, bool] | None:
    """The fast path for a document already in canonical form (as nodes send them): parsed by orjson, and
    accepted only if encoding the result gives `data` back byte for byte, and `scan` passes it. Then the text
    has no duplicate key, float, escape or whitespace a strict parse could read otherwise; for any other
    document, None, and the strict parser decides (and names what is wrong)."""
    try:
        value = orjson.loads(data)
        if orjson.dumps(value, option=orjson.OPT_SORT_KEYS) != data:
            return None
        return value, scan(value)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, CanonicalError):
        return None


def parse_scanned(data: bytes | str) -> tuple[JSONValue, bool]:
    """Parse like `parse`; also return what `scan` returned for the document (pass it to `encode_scanned`
    for any value inside it, which then need not be scanned again)."""
    if isinstance(data, bytes):
        canonical = _parse_canonical(data)
        if canonical is not None:
            return canonical
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CanonicalError(f"body is not valid UTF-8 (byte {exc.start})") from None
    else:
        text = data
    try:
        value = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_float=_reject_float,
            parse_int=_parse_int,
            parse_constant=_reject_constant,
        )
    except CanonicalError:
        raise
    except RecursionError:
        raise CanonicalError(f"nesting deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise CanonicalError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return value, scan(value)
