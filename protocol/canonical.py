"""Canonical JSON: RFC 8785 bytes under praevnet's strict profile, and a strict parser.

The profile admits only null, booleans, integers within +-(2^53-1), strings without lone
surrogates, arrays and objects with string keys. Parsing rejects duplicate keys, floats, NaN and
Infinity, so that exactly one canonical form exists for every accepted document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

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
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CanonicalError(f"duplicate key {key!r}")
        result[key] = value
    return result


def check_profile(value: JSONValue, path: str = "$", depth: int = 0) -> None:
    """Raise CanonicalError unless `value` lies inside the strict profile; the message names the path."""
    if depth > MAX_DEPTH:
        raise CanonicalError(f"{path}: nesting deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalError(f"{path}: integer {value} is outside +-(2^53-1)")
        return
    if isinstance(value, float):
        raise CanonicalError(f"{path}: floating-point numbers are not allowed")
    if isinstance(value, str):
        _check_string(value, path)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError(f"{path}: object key {key!r} is not a string")
            _check_string(key, path)
            check_profile(item, f"{path}.{key}", depth + 1)
        return
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        for index, item in enumerate(value):
            check_profile(item, f"{path}[{index}]", depth + 1)
        return
    raise CanonicalError(f"{path}: {type(value).__name__} is not a JSON value")


def _check_string(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalError(f"{path}: string contains a lone surrogate") from None


def canonical_bytes(value: JSONValue) -> bytes:
    """Return the RFC 8785 canonical bytes of `value`, which must lie inside the strict profile."""
    check_profile(value)
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:  # pragma: no cover - check_profile catches these first
        raise CanonicalError(str(exc)) from exc


def parse(data: bytes | str) -> JSONValue:
    """Parse JSON text strictly: UTF-8 only, no duplicate keys, floats, NaN or big integers."""
    if isinstance(data, bytes):
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
    check_profile(value)
    return value
