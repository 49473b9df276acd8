"""protocol.httpsig against the reference (http-message-signatures, as nodes before #14 ran it), both ways.

Over generated requests and responses (methods, authorities with and without ports, paths with encoded
characters and queries, bodies, created and nonce values): both sign to the same header bytes, each
verifies what the other signed with the same result, both build the same signature base (also over the
other components RFC 9421 derives), and a tampered message is refused by both. An old node and a new
one therefore interoperate.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from http_message_signatures.exceptions import HTTPMessageSignaturesException
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocol.errors import SignatureError
from protocol.httpsig import (
    LABEL,
    RESPONSE_TAG,
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
from protocol.sigbase import Request, Response, field_lines, signature_base
from protocol.structured import parse_item
from tests.protocol import httpsig_reference as reference

_UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
_SUB_DELIMS = "!$&'()*+,;="
_encoded = st.builds(lambda b, upper: f"%{b:02X}" if upper else f"%{b:02x}", st.integers(0, 255), st.booleans())
_pchar = st.sampled_from(_UNRESERVED + _SUB_DELIMS + ":@") | _encoded
_segment = st.lists(_pchar, max_size=8).map("".join)
_path = st.lists(_segment, max_size=4).map(lambda s: "".join("/" + x for x in s))
_query = st.none() | st.lists(_pchar | st.sampled_from("/?"), max_size=16).map("".join)
_label = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?", fullmatch=True)
_host = st.lists(_label, min_size=1, max_size=4).map(".".join) | st.sampled_from(
    ["127.0.0.1", "[::1]", "[2001:DB8::1]", "[v1.x:y]", "xn--mnchen-3ya.de"]
)
_port = st.none() | st.sampled_from(["", "80", "443", "0443", "8080", "8443"]) | st.integers(1, 65535).map(str)
_scheme = st.sampled_from(["https", "http", "HTTPS", "Http"])
_method = st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT"]) | st.from_regex(
    r"[A-Z]{1,8}", fullmatch=True
)
_nonce = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=16, max_size=64)
_body = st.binary(max_size=600)
_seed = st.binary(min_size=32, max_size=32)
_age = st.integers(min_value=0, max_value=290)
_field_value = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
_extra_headers = st.dictionaries(
    st.sampled_from(["Date", "X-Trace", "Accept", "Content-Type", "User-Agent"]), _field_value, max_size=3
)


@st.composite
def _urls(draw: st.DrawFn) -> str:
    port = draw(_port)
    query = draw(_query)
    authority = draw(_host) + ("" if port is None else f":{port}")
    return f"{draw(_scheme)}://{authority}{draw(_path)}{'' if query is None else '?' + query}"


def _created(age: int) -> datetime:
    return datetime.fromtimestamp(int(time.time()) - age, UTC)


def _trusting(*keys: NodeKey) -> reference.Resolve:
    table = {(node_id_for(key.public), key.key_id): key.public for key in keys}
    return lambda node_id, key_id: table.get((node_id, key_id))


def _signed(
    method: str, url: str, headers: dict[str, str], body: bytes, key: NodeKey, nonce: str, created: datetime
) -> tuple[HttpRequest, HttpRequest]:
    """The same request signed by ours and by the reference."""
    ours = HttpRequest(method, url, dict(headers))
    sign_request(ours, body, key, node_id_for(key.public), nonce=nonce, created=created)
    theirs = HttpRequest(method, url, dict(headers))
    reference.sign_request(theirs, body, key, node_id_for(key.public), nonce=nonce, created=created)
    return ours, theirs


@settings(max_examples=150, deadline=None)
@given(_method, _urls(), _extra_headers, _body, _seed, _nonce, _age)
def test_requests_sign_alike_and_verify_both_ways(
    method: str, url: str, headers: dict[str, str], body: bytes, seed: bytes, nonce: str, age: int
) -> None:
    key = NodeKey.from_seed(seed)
    created = _created(age)
    ours, theirs = _signed(method, url, headers, body, key, nonce, created)
    assert ours.headers == theirs.headers  # the same bytes on the wire: Ed25519 is deterministic
    resolve = _trusting(key)
    by_reference = reference.verify_request(method, url, ours.headers.items(), body, resolve)
    by_us = verify_request(method, url, theirs.headers.items(), body, resolve)
    assert by_us == by_reference
    assert (by_us.node_id, by_us.nonce, by_us.created) == (node_id_for(key.public), nonce, int(created.timestamp()))


@settings(max_examples=150, deadline=None)
@given(_method, _urls(), _body, _seed, _seed, _nonce, _nonce, _age, st.integers(100, 599), _body, st.booleans())
def test_responses_sign_alike_and_verify_both_ways(
    method: str,
    url: str,
    body: bytes,
    seed_a: bytes,
    seed_b: bytes,
    nonce: str,
    response_nonce: str,
    age: int,
    status: int,
    answer: bytes,
    fresh: bool,
) -> None:
    a, b = NodeKey.from_seed(seed_a), NodeKey.from_seed(seed_b)
    request, _ = _signed(method, url, {}, body, a, nonce, _created(age))
    created = _created(age) if fresh else datetime.fromtimestamp(int(time.time()) + 86400 * 400, UTC)
    ours = HttpResponse(status, {"Content-Type": "application/json"}, request)
    sign_response(ours, answer, b, node_id_for(b.public), nonce=response_nonce, created=created)
    theirs = HttpResponse(status, {"Content-Type": "application/json"}, request)
    reference.sign_response(theirs, answer, b, node_id_for(b.public), nonce=response_nonce, created=created)
    assert ours.headers == theirs.headers
    resolve = _trusting(b)
    by_reference = reference.verify_response(status, ours.headers.items(), answer, request, resolve, fresh=fresh)
    by_us = verify_response(status, theirs.headers.items(), answer, request, resolve, fresh=fresh)
    assert by_us == by_reference
    assert (by_us.node_id, by_us.nonce) == (node_id_for(b.public), response_nonce)


_EXTRA_COMPONENTS = [
    "@method",
    "@authority",
    "@target-uri",
    "@scheme",
    "@request-target",
    "@path",
    "@query",
    "content-digest",
    '"content-digest";key="sha-256"',
    "date",
    "x-trace",
    "accept",
]


@settings(max_examples=150, deadline=None)
@given(
    _method,
    _urls(),
    _extra_headers,
    _body,
    _nonce,
    _age,
    st.lists(st.sampled_from(_EXTRA_COMPONENTS), min_size=1, max_size=6, unique=True),
)
def test_signature_bases_are_the_same_over_every_component_we_derive(
    method: str, url: str, headers: dict[str, str], body: bytes, nonce: str, age: int, components: list[str]
) -> None:
    created = _created(age)  # once: read again, the clock may have passed a second
    request, _ = _signed(method, url, headers, body, NodeKey.from_seed(bytes(32)), nonce, created)
    names = [c.strip('"').split('"')[0] for c in components]
    assume(all(name.startswith("@") or name in {k.lower() for k in request.headers} for name in names))
    key_id = http_key_id(node_id_for(NodeKey.from_seed(bytes(32)).public), "ed25519:1")
    expected = reference.base(request, components, key_id=key_id, created=created, nonce=nonce, tag=TAG)
    items = [parse_item(c if c.startswith('"') else f'"{c}"') for c in components]
    params = {"created": int(created.timestamp()), "keyid": key_id, "alg": "ed25519", "nonce": nonce, "tag": TAG}
    view = Request(method, url, field_lines(request.headers.items()))
    assert signature_base(items, params, view).base == expected


@settings(max_examples=100, deadline=None)
@given(_urls(), st.integers(100, 599), _nonce)
def test_response_signature_bases_are_the_same(url: str, status: int, nonce: str) -> None:
    key = NodeKey.from_seed(bytes(32))
    request, _ = _signed("PUT", url, {}, b"{}", key, nonce, _created(0))
    response = HttpResponse(
        status, {"Content-Digest": "sha-256=:RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=:"}, request
    )
    components = ["@status", '"@method";req', '"@target-uri";req', f'"signature";req;key="{LABEL}"', "content-digest"]
    key_id = http_key_id(node_id_for(key.public), "ed25519:1")
    created = _created(0)
    expected = reference.base(response, components, key_id=key_id, created=created, nonce=nonce, tag=RESPONSE_TAG)
    params = {
        "created": int(created.timestamp()),
        "keyid": key_id,
        "alg": "ed25519",
        "nonce": nonce,
        "tag": RESPONSE_TAG,
    }
    items = [parse_item(c if c.startswith('"') else f'"{c}"') for c in components]
    view = Response(
        status, field_lines(response.headers.items()), Request("PUT", url, field_lines(request.headers.items()))
    )
    assert signature_base(items, params, view).base == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), _method)
def test_a_url_either_signs_with_both_or_is_refused_by_both(rest: str, method: str) -> None:
    url = "https://" + rest
    key = NodeKey.from_seed(bytes(32))
    ours = HttpRequest(method, url, {})
    try:
        sign_request(ours, b"", key, node_id_for(key.public), nonce="n" * 16)
    except SignatureError:
        ours_refused = True
    else:
        ours_refused = False
    theirs = HttpRequest(method, url, {})
    try:
        reference.sign_request(theirs, b"", key, node_id_for(key.public), nonce="n" * 16)
    except HTTPMessageSignaturesException:
        theirs_refused = True
    else:
        theirs_refused = False
    assert ours_refused == theirs_refused, url
    if ours_refused:
        assert ours.headers == {}  # a refused signature changes nothing
    else:
        assert ours.headers["Signature"] == theirs.headers["Signature"]


_TAMPERINGS = st.sampled_from(["method", "url", "body", "digest", "signature", "input", "created", "header-case"])


@settings(max_examples=150, deadline=None)
@given(_urls(), _body, _nonce, _TAMPERINGS, st.integers(0, 10_000))
def test_a_tampered_request_is_refused_by_both(url: str, body: bytes, nonce: str, how: str, pick: int) -> None:
    key = NodeKey.from_seed(bytes(range(32)))
    request, _ = _signed("PUT", url, {}, body, key, nonce, _created(0))
    method, headers = "PUT", dict(request.headers)
    if how == "method":
        method = "POST"
    elif how == "url":
        url = url + "x" if "?" in url else url + "/x"
    elif how == "body":
        body = body + b"!"
    elif how == "digest":
        headers["Content-Digest"] = "sha-256=:" + "A" * 43 + "=:"
    elif how == "signature":
        value = headers["Signature"]
        spot = len(LABEL) + 2 + pick % 80
        headers["Signature"] = value[:spot] + ("B" if value[spot] != "B" else "C") + value[spot + 1 :]
    elif how == "input":
        headers["Signature-Input"] = headers["Signature-Input"].replace('"@authority" ', "")
    elif how == "created":
        headers["Signature-Input"] = headers["Signature-Input"].replace(";created=", ";created=1", 1)
    else:  # a header name in another case is the same field: this one must still verify
        headers = {name.upper(): value for name, value in headers.items()}
    resolve = _trusting(key)
    if how == "header-case":
        assert verify_request(method, url, headers.items(), body, resolve) == reference.verify_request(
            method, url, headers.items(), body, resolve
        )
        return
    with pytest.raises(SignatureError):
        reference.verify_request(method, url, headers.items(), body, resolve)
    with pytest.raises(SignatureError):
        verify_request(method, url, headers.items(), body, resolve)


def test_the_reference_is_not_needed_at_run_time() -> None:
    """http-message-signatures is a test dependency only: signing and verifying must not import it."""
    code = (
        "import sys, protocol.httpsig, node.transport.auth, node.transport.client; "
        "sys.exit('http_message_signatures' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
