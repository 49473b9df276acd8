"""Hostile requests: each refused by protocol.httpsig with a message naming the problem, and by the reference.

Malformed Signature-Input and Signature, duplicate labels, wrong algorithm, wrong parameter types, extra
parameters, missing or unknown components, bad Content-Digest values (signed, so that only the digest
check can refuse them) and huge headers. The reference (http-message-signatures, as nodes before #14
verified) must refuse each too: the verdicts are the same, whatever the wording.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable

import pytest

from protocol.errors import SignatureError
from protocol.httpsig import (
    LABEL,
    TAG,
    HttpRequest,
    HttpResponse,
    http_key_id,
    sign_request,
    sign_response,
    verify_request,
    verify_response,
)
from protocol.keys import NodeKey, node_id_for
from protocol.sigbase import Request, field_lines, signature_base
from protocol.structured import parse_dictionary
from tests.protocol import httpsig_reference as reference

KEY = NodeKey.from_seed(bytes(range(32)))
NODE = node_id_for(KEY.public)
URL = "https://praevnet.musterstadt.de:8443/fed/v1/inbox/txn-0001?x=%2F1"
BODY = b'{"envelopes":[]}'
NONCE = "n0nce-0123456789abcdef"
COMPONENTS = '("@method" "@authority" "@target-uri" "content-digest")'

Pairs = list[tuple[str, str]]
Case = tuple[str, str, Pairs, bytes]


def _resolve(node_id: str, key_id: str) -> bytes | None:
    return KEY.public if (node_id, key_id) == (NODE, KEY.key_id) else None


def _signed() -> dict[str, str]:
    request = HttpRequest("PUT", URL, {"Content-Type": "application/json"})
    sign_request(request, BODY, KEY, NODE, nonce=NONCE)
    return request.headers


def _with(**changes: str) -> Case:
    """The signed request with some headers replaced (by their exact names)."""
    return "PUT", URL, list((_signed() | changes).items()), BODY


def _input(old: str, new: str) -> Case:
    """The signed request with a change to its Signature-Input text (the signature no longer matches)."""
    headers = _signed()
    assert old in headers["Signature-Input"]
    return _with(**{"Signature-Input": headers["Signature-Input"].replace(old, new, 1)})


def _by_hand(components: str, params: str, headers: dict[str, str], body: bytes = BODY) -> Case:
    """A request whose signature is valid over whatever components, parameters and headers it names."""
    fields = {"Content-Type": "application/json", "Content-Digest": f"sha-256=:{_digest(body)}:"} | headers
    member = f"{LABEL}=({components}){params}"
    items, sig_params = parse_dictionary(member)[LABEL]
    base = signature_base(items, sig_params, Request("PUT", URL, field_lines(fields.items()))).base
    signature = base64.b64encode(KEY.sign(base)).decode()
    return "PUT", URL, [*fields.items(), ("Signature-Input", member), ("Signature", f"{LABEL}=:{signature}:")], body


def _covering(component: str, **headers: str) -> Case:
    """The signed request with more headers, and one more component named in its Signature-Input."""
    signed = _signed()
    more = signed["Signature-Input"].replace('"content-digest")', f'"content-digest" {component})', 1)
    return "PUT", URL, list((signed | headers | {"Signature-Input": more}).items()), BODY


def _without(name: str) -> Case:
    return "PUT", URL, [(k, v) for k, v in _signed().items() if k != name], BODY


def _params(**extra: str) -> str:
    params = {"created": str(int(time.time())), "keyid": f'"{http_key_id(NODE, KEY.key_id)}"', "alg": '"ed25519"'}
    params |= {"nonce": f'"{NONCE}"', "tag": f'"{TAG}"'} | extra
    return "".join(f";{k}={v}" for k, v in params.items() if v)


def _digest(body: bytes, algorithm: str = "sha-256") -> str:
    return base64.b64encode(hashlib.new(algorithm.replace("-", ""), body).digest()).decode()


def _signed_digest(value: str) -> Case:
    return _by_hand(COMPONENTS[1:-1], _params(), {"Content-Digest": value})


def _two_lines_covered(name: str, component: str) -> Case:
    method, url, pairs, body = _covering(component, **{name: "a=1"})
    return method, url, [*pairs, (name, "b=2")], body


def _two_lines(name: str) -> Case:
    headers = _signed()
    pairs = [(k, v) for k, v in headers.items()]
    return "PUT", URL, [*pairs, (name, headers[name])], BODY


CASES: dict[str, tuple[Callable[[], Case], str]] = {
    # Signature-Input and Signature as structured fields
    "no Signature-Input": (lambda: _without("Signature-Input"), 'Expected "Signature-Input"'),
    "no Signature": (lambda: _without("Signature"), 'Expected "Signature"'),
    "garbage Signature-Input": (lambda: _with(**{"Signature-Input": "praevnet=not a list("}), "Signature-Input"),
    "unterminated inner list": (lambda: _with(**{"Signature-Input": 'praevnet=("@method"'}), "Signature-Input"),
    "empty Signature-Input": (lambda: _with(**{"Signature-Input": ""}), "No signatures"),
    "garbage Signature": (lambda: _with(Signature="praevnet=not a byte sequence"), "Malformed"),
    "Signature not base64": (lambda: _with(Signature="praevnet=:***:"), "Malformed"),
    "duplicate label in Signature-Input": (
        lambda: _with(**{"Signature-Input": ", ".join([_signed()["Signature-Input"]] * 2)}),
        "appears twice",
    ),
    "duplicate label in Signature": (lambda: _with(Signature=", ".join([_signed()["Signature"]] * 2)), "appears twice"),
    "Signature-Input twice": (lambda: _two_lines("Signature-Input"), "appears twice"),
    "Signature twice": (lambda: _two_lines("Signature"), "appears twice"),
    "labels differ": (lambda: _with(Signature=_signed()["Signature"].replace(LABEL, "other", 1)), "different labels"),
    "input not an inner list": (lambda: _with(**{"Signature-Input": 'praevnet="@method";created=1'}), "Inner List"),
    "signature a string": (lambda: _with(Signature='praevnet="abc"'), "Byte Sequence"),
    "signature an inner list": (lambda: _with(Signature="praevnet=(:AAAA:)"), "Byte Sequence"),
    # parameters
    "wrong alg": (lambda: _input('alg="ed25519"', 'alg="rsa-pss-sha512"'), "Unexpected algorithm"),
    "alg a token": (lambda: _input('alg="ed25519"', "alg=ed25519"), "Structured Field String"),
    "created a string": (lambda: _input(";created=", ';created="1";x='), "Structured Field Integer"),
    "created a decimal": (lambda: _input(";created=", ";created=1.5;x="), "Integer"),
    "created missing": (lambda: _by_hand(COMPONENTS[1:-1], _params(created=""), {}), 'required "created"'),
    "created out of range": (lambda: _input(";created=", ";created=99999"), 'Malformed "created"'),
    "expires out of range": (lambda: _input(";keyid=", ";expires=999999999999999;keyid="), 'Malformed "expires"'),
    "expires passed": (lambda: _input(";keyid=", ";expires=1;keyid="), "expires"),
    "keyid missing": (lambda: _by_hand(COMPONENTS[1:-1], _params(keyid=""), {}), 'required "keyid"'),
    "keyid an integer": (lambda: _input(';keyid="', ';keyid=1;x="'), "Structured Field String"),
    "extra parameter": (lambda: _input(";tag=", ';extra="1";tag='), 'metadata parameter "extra"'),
    "nonce missing": (lambda: _by_hand(COMPONENTS[1:-1], _params(nonce=""), {}), "nonce"),
    "nonce too long": (lambda: _by_hand(COMPONENTS[1:-1], _params(nonce='"' + "n" * 65 + '"'), {}), "nonce"),
    "nonce an integer": (lambda: _input(';nonce="', ';nonce=5;x="'), "Structured Field String"),
    "no praevnet tag": (lambda: _by_hand(COMPONENTS[1:-1], _params(tag='"other"'), {}), "tag"),
    "two praevnet signatures": (
        lambda: _with(
            **{
                "Signature-Input": _signed()["Signature-Input"] + ", second" + _signed()["Signature-Input"][8:],
                "Signature": _signed()["Signature"] + ", second" + _signed()["Signature"][8:],
            }
        ),
        "exactly one",
    ),
    # components
    "missing @authority": (lambda: _by_hand('"@method" "@target-uri" "content-digest"', _params(), {}), "not covered"),
    "missing content-digest": (lambda: _by_hand('"@method" "@authority" "@target-uri"', _params(), {}), "not covered"),
    "upper-case component": (lambda: _covering('"@Path"'), "lowercase"),
    "duplicate component": (lambda: _covering('"@method"'), "multiple times"),
    "@query-param": (lambda: _covering('"@query-param";name="x"'), "supported"),
    "content-digest;sf": (lambda: _covering('"content-digest";sf'), "supported"),
    "content-digest;bs": (lambda: _covering('"content-digest";bs'), "supported"),
    "@status in a request": (lambda: _covering('"@status"'), '"@status"'),
    "req in a request": (lambda: _covering('"@path";req'), '"req"'),
    "unknown derived": (lambda: _covering('"@origin"'), "Unknown"),
    "params on derived": (lambda: _covering('"@path";x=1'), "parameters"),
    "absent header": (lambda: _covering('"x-absent"'), '"x-absent" not found'),
    "unknown field param": (lambda: _covering('"content-type";y'), "Unknown"),
    "component not a string": (lambda: _covering("x-token"), "Strings"),
    "non-ASCII field": (lambda: _covering('"x-city"', **{"X-City": "München"}), "non-ASCII"),
    "control character": (lambda: _covering('"x-a"', **{"X-A": "a\x01b"}), "control characters"),
    "newline in a field": (lambda: _covering('"x-a"', **{"X-A": "a\nb"}), "newline"),
    "two Set-Cookie lines": (lambda: _two_lines_covered("Set-Cookie", '"set-cookie"'), "Set-Cookie"),
    "key not a string": (lambda: _covering('"content-type";key=1'), "must be a string"),
    "lower-case method": (lambda: ("put", URL, list(_signed().items()), BODY), "uppercase"),
    "method with a space": (lambda: (" PUT", URL, list(_signed().items()), BODY), "surrounding whitespace"),
    "method with a control character": (lambda: ("PU\x01T", URL, list(_signed().items()), BODY), "printable"),
    "invalid IPv6 address": (
        lambda: ("PUT", "https://[1:2:3]/fed/v1/inbox/txn-0001", list(_signed().items()), BODY),
        "IPv6",
    ),
    "malformed URL": (lambda: ("PUT", URL.replace("/fed", "/f ed"), list(_signed().items()), BODY), "Invalid URL"),
    # Content-Digest, signed so that only the digest check can refuse it
    "digest malformed": (lambda: _signed_digest("sha-256=:***:"), "Malformed Content-Digest"),
    "digest of another body": (lambda: _signed_digest(f"sha-256=:{_digest(b'{}')}:"), "does not match"),
    "digest md5": (lambda: _signed_digest(f"md5=:{_digest(BODY, 'md5')}:"), "Unsupported content digest"),
    "digest too short": (lambda: _signed_digest(f"sha-256=:{_digest(BODY, 'md5')}:"), "digest length"),
    "digest twice": (
        lambda: _signed_digest(f"sha-256=:{_digest(BODY)}:, sha-256=:{_digest(BODY)}:"),
        "Malformed Content-Digest",
    ),
    "digest member malformed": (
        lambda: _by_hand(
            '"content-digest";key="sha-256" ' + COMPONENTS[1:-1],
            _params(),
            {"Content-Digest": f"sha-256=(:{_digest(BODY)}:)"},
        ),
        "Malformed Content-Digest",
    ),
    "digest a token": (lambda: _signed_digest("sha-256=abc"), "byte sequences"),
    "digest empty": (lambda: _signed_digest(""), "at least one"),
    "one digest wrong": (
        lambda: _signed_digest(f"sha-256=:{_digest(BODY)}:, sha-512=:{_digest(b'', 'sha-512')}:"),
        "does not match",
    ),
    "digest member of another body": (
        lambda: _by_hand(
            COMPONENTS[1:-1] + ' "content-digest";key="sha-512"',
            _params(),
            {"Content-Digest": f"sha-256=:{_digest(BODY)}:, sha-512=:{_digest(b'', 'sha-512')}:"},
        ),
        "does not match",
    ),
    # huge headers
    "huge garbage Signature-Input": (lambda: _with(**{"Signature-Input": "praevnet=(" + "x" * 200_000}), "Malformed"),
    "huge nonce": (lambda: _by_hand(COMPONENTS[1:-1], _params(nonce='"' + "n" * 100_000 + '"'), {}), "nonce"),
    "thousands of components": (
        lambda: _input('"content-digest")', '"content-digest" ' + " ".join(f'"x-{i}"' for i in range(5000)) + ")"),
        "not found",
    ),
    "thousands of labels": (
        lambda: _with(
            **{
                "Signature-Input": ", ".join(f'l{i}=("@method");tag="praevnet"' for i in range(5000)),
                "Signature": ", ".join(f"l{i}=:AAAA:" for i in range(5000)),
            }
        ),
        "exactly one",
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_hostile_request_is_refused_by_us_and_by_the_reference(name: str) -> None:
    build, problem = CASES[name]
    method, url, pairs, body = build()
    with pytest.raises(SignatureError, match=problem):
        verify_request(method, url, pairs, body, _resolve)
    with pytest.raises(SignatureError):
        reference.verify_request(method, url, pairs, body, _resolve)


@pytest.mark.parametrize(
    "value",
    [
        f"sha-512=:{_digest(BODY, 'sha-512')}:",
        f"sha-256=:{_digest(BODY)}:, sha-512=:{_digest(BODY, 'sha-512')}:",
        f"sha-256=:{_digest(BODY)}:;param=1",
        f"  sha-256=:{_digest(BODY)}:  ",
    ],
)
def test_other_valid_content_digests_are_accepted_by_us_and_by_the_reference(value: str) -> None:
    method, url, pairs, body = _signed_digest(value)
    assert verify_request(method, url, pairs, body, _resolve) == reference.verify_request(
        method, url, pairs, body, _resolve
    )


def test_the_hand_signer_makes_acceptable_signatures() -> None:
    """Control for the cases signed by hand: with nothing wrong, both accept."""
    method, url, pairs, body = _by_hand(COMPONENTS[1:-1], _params(), {"Content-Digest": f"sha-256=:{_digest(BODY)}:"})
    assert verify_request(method, url, pairs, body, _resolve).nonce == NONCE
    assert reference.verify_request(method, url, pairs, body, _resolve).nonce == NONCE


# --- responses --------------------------------------------------------------------------------

ANSWER = b'{"results":[]}'


def _response(component: str = "", request_signature: str | None = None) -> tuple[Pairs, HttpRequest]:
    """A signed answer to a signed request, with one more component named in its Signature-Input."""
    request = HttpRequest("PUT", URL, {"Content-Type": "application/json"})
    sign_request(request, BODY, KEY, NODE, nonce=NONCE)
    response = HttpResponse(200, {}, request)
    sign_response(response, ANSWER, KEY, NODE, nonce=NONCE)
    if component:
        text = response.headers["Signature-Input"]
        response.headers["Signature-Input"] = text.replace('"content-digest")', f'"content-digest" {component})', 1)
    if request_signature is not None:
        request.headers["Signature"] = request_signature
    return list(response.headers.items()), request


RESPONSE_CASES: dict[str, tuple[Callable[[], tuple[Pairs, HttpRequest]], str]] = {
    "@method without req": (lambda: _response('"@method"'), 'requires "req"'),
    "req not a flag": (lambda: _response('"@path";req=1'), "Boolean flag"),
    "another member of the request's signature": (lambda: _response('"signature";req;key="other"'), "no member"),
    "the request's signature not a dictionary": (lambda: _response(request_signature="praevnet=("), "Dictionary"),
    "the request's signature gone": (lambda: _response(request_signature=""), "no member|does not verify"),
    "a request field absent": (lambda: _response('"x-absent";req'), '"x-absent" not found'),
}


@pytest.mark.parametrize("name", RESPONSE_CASES)
def test_hostile_response_is_refused_by_us_and_by_the_reference(name: str) -> None:
    build, problem = RESPONSE_CASES[name]
    pairs, request = build()
    with pytest.raises(SignatureError, match=problem):
        verify_response(200, pairs, ANSWER, request, _resolve)
    with pytest.raises(SignatureError):
        reference.verify_response(200, pairs, ANSWER, request, _resolve)


@pytest.mark.parametrize(
    ("headers", "url", "method", "problem"),
    [
        ({"content-digest": "sha-256=:x:"}, URL, "PUT", "already present"),
        ({}, "https://host/a path", "PUT", "Invalid URL"),
        ({}, "/relative/path", "PUT", "Invalid URL"),
        ({}, URL, "put", "uppercase"),
        ({}, "https://[1:2:3]/", "PUT", "IPv6"),
        ({"X-A": "M\u00fcnchen"}, URL, "PUT", None),  # uncovered headers may hold anything
    ],
)
def test_a_request_we_cannot_sign_is_left_as_it_was(
    headers: dict[str, str], url: str, method: str, problem: str | None
) -> None:
    request = HttpRequest(method, url, dict(headers))
    if problem is None:
        sign_request(request, BODY, KEY, NODE)
        assert verify_request(method, url, request.headers.items(), BODY, _resolve).node_id == NODE
        return
    with pytest.raises(SignatureError, match=problem):
        sign_request(request, BODY, KEY, NODE)
    assert request.headers == headers


def test_a_response_to_a_request_without_our_label_cannot_be_signed() -> None:
    request = HttpRequest("PUT", URL, {"Signature": "other=:AAAA:"})
    response = HttpResponse(200, {}, request)
    with pytest.raises(SignatureError, match='cannot sign the response: Covered field "signature" has no member'):
        sign_response(response, ANSWER, KEY, NODE)
    assert response.headers == {}


def test_a_key_id_that_cannot_be_serialised_is_refused_before_anything_changes() -> None:
    request = HttpRequest("PUT", URL, {})
    with pytest.raises(SignatureError, match="cannot be serialised"):
        sign_request(request, BODY, KEY, "M\u00fcnchen")
    assert request.headers == {}
