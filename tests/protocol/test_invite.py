"""Invitation codes: round trip, every kind of malformed code refused, the pairing body, the pair safety number."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from protocol.canonical import canonical_bytes
from protocol.encoding import b64url, b64url_decode
from protocol.errors import ProtocolError
from protocol.invite import (
    PREFIX,
    Invitation,
    check_secret,
    make_code,
    new_secret,
    pair_request,
    pair_safety_number,
    parse_code,
    parse_pair_request,
    secret_hash,
)
from protocol.keys import NodeKey, fingerprint, node_id_for, safety_number

SPEC = Path(__file__).resolve().parents[2] / "protocol" / "SPEC.md"
KEY = NodeKey.from_seed(bytes(range(32)))
OTHER = NodeKey.from_seed(bytes(range(32, 64)))
SECRET = b64url(bytes(range(64, 96)))
EXPIRES = datetime(2026, 1, 22, 9, 30, tzinfo=UTC)


def fields(**changes: Any) -> dict[str, Any]:
    """The JSON inside a valid code, with `changes` applied (a value of ... removes the field)."""
    value: dict[str, Any] = {
        "v": 1,
        "url": "https://praevnet.stadt-a.de",
        "node_id": node_id_for(KEY.public),
        "fingerprint": fingerprint(KEY.public),
        "secret": SECRET,
        "expires": "2026-01-22T09:30:00Z",
    }
    for name, new in changes.items():
        if new is ...:
            del value[name]
        else:
            value[name] = new
    return value


def encode(value: Any) -> str:
    """A code holding `value` as canonical JSON, whatever it is."""
    return PREFIX + b64url(canonical_bytes(value))


def raw_code(data: bytes) -> str:
    return PREFIX + b64url(data)


def good_code() -> str:
    return make_code(
        url="https://praevnet.stadt-a.de",
        node_id=node_id_for(KEY.public),
        fingerprint=fingerprint(KEY.public),
        secret=SECRET,
        expires=EXPIRES,
    )


def test_round_trip() -> None:
    code = good_code()
    assert code.startswith("pvinv1.")
    assert code == encode(fields())
    assert parse_code(code) == Invitation(
        url="https://praevnet.stadt-a.de",
        node_id=node_id_for(KEY.public),
        fingerprint=fingerprint(KEY.public),
        secret=SECRET,
        expires=EXPIRES,
    )
    assert parse_code(code).expires_text == "2026-01-22T09:30:00Z"


def test_surrounding_whitespace_is_ignored() -> None:
    code = good_code()
    assert parse_code(f"  {code}\n") == parse_code(code)


def test_make_code_normalizes_url_and_time() -> None:
    code = make_code(
        url="HTTPS://Praevnet.Stadt-A.de:443/",
        node_id=node_id_for(KEY.public),
        fingerprint=fingerprint(KEY.public),
        secret=SECRET,
        expires=datetime(2026, 1, 22, 10, 30, 0, 999, tzinfo=timezone(timedelta(hours=1))),
    )
    assert code == good_code()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"url": "ftp://x.de"}, "http"),
        ({"node_id": "PN" + "a" * 32}, "node id"),
        ({"fingerprint": "SHA256:short"}, "fingerprint"),
        ({"secret": b64url(bytes(31))}, "32 bytes"),
    ],
)
def test_make_code_refuses_bad_values(kwargs: dict[str, str], words: str) -> None:
    values: dict[str, Any] = {
        "url": "https://praevnet.stadt-a.de",
        "node_id": node_id_for(KEY.public),
        "fingerprint": fingerprint(KEY.public),
        "secret": SECRET,
        "expires": EXPIRES,
        **kwargs,
    }
    with pytest.raises(ProtocolError, match=words):
        make_code(**values)


def test_fresh_codes_differ_by_their_secret() -> None:
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert len(secret) == 43
        assert len(b64url_decode(secret)) == 32


MALFORMED: list[tuple[str, object, str]] = [
    ("not text", 42, "is text"),
    ("empty", "", "must start with pvinv1."),
    ("no prefix", good_code()[len(PREFIX) :], "must start with pvinv1."),
    ("other version prefix", "pvinv2." + good_code()[len(PREFIX) :], "must start with pvinv1."),
    ("upper-case prefix", "PVINV1." + good_code()[len(PREFIX) :], "must start with pvinv1."),
    ("too long", PREFIX + "A" * 3000, "longer than"),
    ("space inside", good_code()[:40] + " " + good_code()[40:], "damaged"),
    ("line break inside", good_code()[:40] + "\n" + good_code()[40:], "damaged"),
    ("padding", good_code() + "=", "damaged"),
    ("standard base64 alphabet", PREFIX + base64.b64encode(b'{"a":"??>"}').decode().rstrip("="), "damaged"),
    ("truncated", good_code()[:-5], "damaged"),
    ("non-canonical base64 trailing bits", PREFIX + "eyJ9", "damaged"),
    ("not JSON", raw_code(b"hello"), "damaged"),
    ("not UTF-8", raw_code(b'{"v":"\xff"}'), "damaged"),
    ("duplicate key", raw_code(canonical_bytes(fields())[:-1] + b',"v":1}'), "duplicate"),
    ("float", raw_code(canonical_bytes(fields())[:-2] + b"1.0}"), "floating-point"),
    ("array", encode([fields()]), "JSON object"),
    ("string", encode("pvinv1"), "JSON object"),
    *[(f"missing {name}", encode(fields(**{name: ...})), f"lacks the field '{name}'") for name in sorted(fields())],
    ("unknown field", encode({**fields(), "name": "Stadt A"}), "unknown field 'name'"),
    ("version 2", encode(fields(v=2)), "unsupported invitation version"),
    ("version true", encode(fields(v=True)), "unsupported invitation version"),
    ("version as text", encode(fields(v="1")), "unsupported invitation version"),
    ("not canonical: spaces", raw_code(b" " + canonical_bytes(fields())), "canonical form"),
    (
        "not canonical: key order",
        raw_code(b'{"v":1,' + canonical_bytes({k: v for k, v in fields().items() if k != "v"})[1:]),
        "canonical form",
    ),
    ("url not text", encode(fields(url=1)), "url"),
    ("url with trailing slash", encode(fields(url="https://praevnet.stadt-a.de/")), "normal form"),
    ("url with upper case", encode(fields(url="https://Praevnet.stadt-a.de")), "normal form"),
    ("url with default port", encode(fields(url="https://praevnet.stadt-a.de:443")), "normal form"),
    ("url without scheme", encode(fields(url="praevnet.stadt-a.de")), "http"),
    ("url with query", encode(fields(url="https://praevnet.stadt-a.de?x=1")), "query"),
    ("url with user", encode(fields(url="https://u@praevnet.stadt-a.de")), "user"),
    ("node id upper case", encode(fields(node_id=node_id_for(KEY.public).upper())), "node id"),
    ("node id short", encode(fields(node_id="pnabc")), "node id"),
    ("node id not text", encode(fields(node_id=None)), "node id"),
    ("fingerprint without prefix", encode(fields(fingerprint=fingerprint(KEY.public)[7:])), "fingerprint"),
    ("fingerprint too short", encode(fields(fingerprint=fingerprint(KEY.public)[:-1])), "fingerprint"),
    ("fingerprint with newline", encode(fields(fingerprint=fingerprint(KEY.public) + "\n")), "fingerprint"),
    ("secret 31 bytes", encode(fields(secret=b64url(bytes(31)))), "32 bytes"),
    ("secret 33 bytes", encode(fields(secret=b64url(bytes(33)))), "32 bytes"),
    ("secret padded", encode(fields(secret=SECRET + "=")), "secret"),
    ("secret with + and /", encode(fields(secret=base64.b64encode(bytes([251] * 32)).decode())), "secret"),
    ("secret not text", encode(fields(secret=[SECRET])), "secret"),
    ("expires not a time", encode(fields(expires="next week")), "date-time"),
    ("expires without offset", encode(fields(expires="2026-01-22T09:30:00")), "date-time"),
    ("expires with an offset", encode(fields(expires="2026-01-22T10:30:00+01:00")), "UTC"),
    ("expires with fractions", encode(fields(expires="2026-01-22T09:30:00.5Z")), "UTC"),
    ("expires impossible date", encode(fields(expires="2026-02-30T09:30:00Z")), "date-time"),
    ("expires as a number", encode(fields(expires=1769074200)), "date-time"),
]


@pytest.mark.parametrize(("text", "words"), [(t, w) for _, t, w in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_malformed_codes_are_refused(text: object, words: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_code(text)
    assert words.lower() in str(caught.value).lower(), str(caught.value)


def test_secret_hash() -> None:
    assert secret_hash(SECRET) == secret_hash(SECRET)
    assert len(secret_hash(SECRET)) == 43
    assert secret_hash(SECRET) != secret_hash(new_secret())
    assert SECRET not in secret_hash(SECRET)
    for bad in ("", "abc", SECRET + "=", b64url(bytes(16))):
        with pytest.raises(ProtocolError):
            secret_hash(bad)
    with pytest.raises(ProtocolError):
        check_secret(None)


def descriptor() -> dict[str, Any]:
    return {"node_id": node_id_for(OTHER.public)}  # the structure only; the node verifies it


def test_pair_request_round_trip() -> None:
    body = pair_request(SECRET, descriptor(), pull_only=True)
    assert body == {"secret": SECRET, "descriptor": descriptor(), "pull_only": True}
    assert parse_pair_request(body) == (SECRET, descriptor(), True)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "JSON object"),
        ({"descriptor": {}, "pull_only": False}, "'secret' is missing"),
        ({"secret": SECRET, "pull_only": False}, "'descriptor' is missing"),
        ({"secret": SECRET, "descriptor": {}}, "'pull_only' is missing"),
        ({"secret": SECRET, "descriptor": {}, "pull_only": False, "name": "x"}, "unknown pairing request field"),
        ({"secret": SECRET, "descriptor": [], "pull_only": False}, "descriptor must be"),
        ({"secret": SECRET, "descriptor": {}, "pull_only": 0}, "pull_only"),
        ({"secret": SECRET, "descriptor": {}, "pull_only": "false"}, "pull_only"),
        ({"secret": "short", "descriptor": {}, "pull_only": False}, "secret"),
        ({"secret": 5, "descriptor": {}, "pull_only": False}, "secret"),
    ],
)
def test_malformed_pair_requests(body: object, words: str) -> None:
    with pytest.raises(ProtocolError, match=re.escape(words)):
        parse_pair_request(body)


def test_pair_safety_number_is_the_same_on_both_sides() -> None:
    number = pair_safety_number(KEY.public, OTHER.public)
    assert number == pair_safety_number(OTHER.public, KEY.public)
    groups = number.split(" ")
    assert len(groups) == 12
    assert all(re.fullmatch(r"[0-9]{5}", group) for group in groups)
    halves = {" ".join(groups[:6]), " ".join(groups[6:])}
    assert halves == {safety_number(KEY.public), safety_number(OTHER.public)}
    assert " ".join(groups[:6]) < " ".join(groups[6:])


def test_pair_safety_number_differs_for_other_pairs() -> None:
    third = NodeKey.generate()
    numbers = {
        pair_safety_number(KEY.public, OTHER.public),
        pair_safety_number(KEY.public, third.public),
        pair_safety_number(OTHER.public, third.public),
    }
    assert len(numbers) == 3


def spec_example(name: str) -> str:
    match = re.search(
        rf"^```text example={re.escape(name)}\n(.*?)\n```$", SPEC.read_text(encoding="utf-8"), re.M | re.S
    )
    assert match is not None, f"SPEC.md has no example {name}"
    return match.group(1)


def test_the_spec_examples_hold() -> None:
    code = spec_example("invite.code")
    assert code == good_code()
    assert spec_example("invite.secret_hash") == secret_hash(parse_code(code).secret)
    assert spec_example("invite.pair_safety_number") == pair_safety_number(KEY.public, OTHER.public)
