"""RFC 9421 HTTP message signatures between nodes: requests, responses and every refusal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms

from protocol.errors import SignatureError
from protocol.httpsig import (
    LABEL,
    RESPONSE_TAG,
    TAG,
    HttpRequest,
    HttpResponse,
    SignatureInfo,
    http_key_id,
    new_nonce,
    sign_request,
    sign_response,
    split_http_key_id,
    verify_request,
    verify_response,
)
from protocol.keys import NodeKey, node_id_for

KEY_A = NodeKey.from_seed(bytes(range(32)))
KEY_B = NodeKey.from_seed(bytes(range(1, 33)))
NODE_A = node_id_for(KEY_A.public)
NODE_B = node_id_for(KEY_B.public)
URL = "https://praevnet.musterstadt.de/fed/v1/inbox/txn-0001"
BODY = b'{"envelopes":[]}'
NONCE = "n0nce-0123456789abcdef"

Resolve = Callable[[str, str], bytes | None]


def trusting(*keys: tuple[str, NodeKey]) -> Resolve:
    table = {(node, key.key_id): key.public for node, key in keys}
    return lambda node_id, key_id: table.get((node_id, key_id))


TRUST_A = trusting((NODE_A, KEY_A), (NODE_B, KEY_B))


def signed_request(
    method: str = "PUT",
    url: str = URL,
    body: bytes = BODY,
    key: NodeKey = KEY_A,
    node_id: str = NODE_A,
    nonce: str | None = None,
    created: datetime | None = None,
) -> HttpRequest:
    request = HttpRequest(method=method, url=url, headers={"Content-Type": "application/json"})
    sign_request(request, body, key, node_id, nonce=nonce, created=created)
    return request


class _Resolver(HTTPSignatureKeyResolver):
    def __init__(self, key: NodeKey) -> None:
        self.key = key

    def resolve_private_key(self, key_id: str) -> object:
        return Ed25519PrivateKey.from_private_bytes(self.key.seed)


def manual_sign(
    request: HttpRequest,
    body: bytes | None,
    *,
    components: tuple[str, ...] = ("@method", "@authority", "@target-uri"),
    nonce: str | None = NONCE,
    tag: str | None = TAG,
    key_id: str | None = None,
    label: str = LABEL,
    key: NodeKey = KEY_A,
) -> None:
    """Sign with the library directly, to build signatures that sign_request would never produce."""
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=_Resolver(key))
    signer.sign(
        request,
        key_id=key_id or http_key_id(NODE_A, key.key_id),
        nonce=nonce,
        tag=tag,
        label=label,
        covered_component_ids=components,
        body=body,
    )


def verify(request: HttpRequest, body: bytes = BODY, resolve: Resolve = TRUST_A) -> SignatureInfo:
    return verify_request(request.method, request.url, request.headers.items(), body, resolve)


# --- requests ---------------------------------------------------------------------------------


def test_request_roundtrip() -> None:
    request = signed_request()
    assert {"Content-Digest", "Signature-Input", "Signature"} <= set(request.headers)
    info = verify_request("PUT", URL, list(request.headers.items()), BODY, TRUST_A)
    assert info.node_id == NODE_A
    assert info.key_id == "ed25519:1"
    assert 16 <= len(info.nonce) <= 64
    assert abs(info.created - datetime.now(UTC).timestamp()) < 10


def test_signature_input_names_components_and_parameters() -> None:
    request = signed_request(nonce=NONCE)
    text = request.headers["Signature-Input"]
    assert text.startswith(f'{LABEL}=("@method" "@authority" "@target-uri" "content-digest");')
    assert f';keyid="{NODE_A}#ed25519:1"' in text
    assert f';nonce="{NONCE}"' in text
    assert f';tag="{TAG}"' in text
    assert ';alg="ed25519"' in text
    assert ";created=" in text
    assert request.headers["Content-Digest"].startswith("sha-256=:")


def test_get_request_with_empty_body_roundtrip() -> None:
    url = "https://praevnet.musterstadt.de/fed/v1/outbox?since=0&limit=100"
    request = signed_request(method="GET", url=url, body=b"")
    assert verify(request, body=b"").node_id == NODE_A


def test_header_names_are_case_insensitive() -> None:
    request = signed_request()
    lowered = [(name.lower(), value) for name, value in request.headers.items()]
    assert verify_request("PUT", URL, lowered, BODY, TRUST_A).node_id == NODE_A


def test_nonces_are_fresh_and_long_enough() -> None:
    nonces = {new_nonce() for _ in range(100)}
    assert len(nonces) == 100
    assert all(16 <= len(n) <= 64 for n in nonces)
    first, second = signed_request(), signed_request()
    assert first.headers["Signature-Input"] != second.headers["Signature-Input"]


def _refused(
    request: HttpRequest,
    message: str,
    *,
    method: str | None = None,
    url: str | None = None,
    body: bytes = BODY,
    resolve: Resolve = TRUST_A,
) -> None:
    with pytest.raises(SignatureError, match=message):
        verify_request(method or request.method, url or request.url, request.headers.items(), body, resolve)


def test_unsigned_request_is_refused() -> None:
    request = HttpRequest(method="PUT", url=URL, headers={"Content-Type": "application/json"})
    _refused(request, "Signature-Input")


def test_request_without_signature_header_is_refused() -> None:
    request = signed_request()
    del request.headers["Signature"]
    _refused(request, "Signature")


def test_request_without_signature_input_header_is_refused() -> None:
    request = signed_request()
    del request.headers["Signature-Input"]
    _refused(request, "Signature-Input")


def test_unknown_key_is_refused() -> None:
    _refused(signed_request(), "unknown key id", resolve=lambda node_id, key_id: None)


def test_unknown_key_version_is_refused() -> None:
    _refused(signed_request(key=NodeKey.from_seed(bytes(range(32)), version=2)), "unknown key id")


def test_key_id_of_another_node_is_refused() -> None:
    # Signed with A's key, but the key id claims to be node B: B's key does not verify it.
    _refused(signed_request(key=KEY_A, node_id=NODE_B), "HTTP signature refused")


def test_signature_by_another_key_is_refused() -> None:
    _refused(signed_request(key=KEY_B, node_id=NODE_A), "HTTP signature refused")


@pytest.mark.parametrize(
    "url",
    [
        "https://praevnet.musterstadt.de/fed/v1/inbox/txn-0002",
        "https://praevnet.musterstadt.de/fed/v1/inbox/txn-0001?x=1",
        "http://praevnet.musterstadt.de/fed/v1/inbox/txn-0001",
        "https://praevnet.musterstadt.de:8443/fed/v1/inbox/txn-0001",
        "https://praevnet.nachbarstadt.de/fed/v1/inbox/txn-0001",
    ],
)
def test_signature_over_a_different_url_or_authority_is_refused(url: str) -> None:
    _refused(signed_request(), "HTTP signature refused", url=url)


@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
def test_signature_over_a_different_method_is_refused(method: str) -> None:
    _refused(signed_request(), "HTTP signature refused", method=method)


@pytest.mark.parametrize("body", [b'{"envelopes":[1]}', b"", BODY + b" "])
def test_signature_over_a_different_body_is_refused(body: bytes) -> None:
    _refused(signed_request(), "HTTP signature refused", body=body)


def test_replaced_content_digest_is_refused() -> None:
    request = signed_request()
    other = signed_request(body=b"{}")
    request.headers["Content-Digest"] = other.headers["Content-Digest"]
    _refused(request, "HTTP signature refused", body=b"{}")


def test_created_too_old_is_refused() -> None:
    request = signed_request(created=datetime.now(UTC) - timedelta(seconds=400))
    _refused(request, "age exceeds")


def test_created_just_inside_the_window_is_accepted() -> None:
    request = signed_request(created=datetime.now(UTC) - timedelta(seconds=250))
    assert verify(request)


def test_created_in_the_future_is_refused() -> None:
    request = signed_request(created=datetime.now(UTC) + timedelta(seconds=60))
    _refused(request, "future")


def test_request_signed_with_the_response_tag_is_refused() -> None:
    request = HttpRequest(method="PUT", url=URL, headers={})
    manual_sign(request, BODY, tag=RESPONSE_TAG)
    _refused(request, "tag")


@pytest.mark.parametrize("tag", [None, "other", "praevnet-v2"])
def test_missing_or_other_tag_is_refused(tag: str | None) -> None:
    request = HttpRequest(method="PUT", url=URL, headers={})
    manual_sign(request, BODY, tag=tag)
    _refused(request, "tag")


def test_manual_signature_like_sign_request_is_accepted() -> None:
    # Sanity check for the refusals below: the manual signer itself produces acceptable signatures.
    request = HttpRequest(method="PUT", url=URL, headers={})
    manual_sign(request, BODY)
    assert verify(request)


def test_missing_nonce_is_refused() -> None:
    request = HttpRequest(method="PUT", url=URL, headers={})
    manual_sign(request, BODY, nonce=None)
    _refused(request, "nonce")


@pytest.mark.parametrize("nonce", ["short", "x" * 15, "x" * 65])
def test_nonce_of_wrong_length_is_refused(nonce: str) -> None:
    _refused(signed_request(nonce=nonce), "nonce of 16 to 64")


@pytest.mark.parametrize("nonce", ["x" * 16, "x" * 64])
def test_nonce_length_limits_are_accepted(nonce: str) -> None:
    assert verify(signed_request(nonce=nonce))


@pytest.mark.parametrize(
    "components",
    [
        ("@method",),
        ("@method", "@authority"),
        ("@method", "@target-uri"),
        ("@authority", "@target-uri"),
        ("@method", "@path", "@authority"),
    ],
)
def test_too_few_covered_components_are_refused(components: tuple[str, ...]) -> None:
    request = HttpRequest(method="PUT", url=URL, headers={})
    manual_sign(request, BODY, components=components)
    _refused(request, "not covered")


def test_signature_without_content_digest_is_refused() -> None:
    request = HttpRequest(method="PUT", url=URL, headers={})
    manual_sign(request, None)
    _refused(request, "Content-Digest|not covered")


@pytest.mark.parametrize(
    "key_id",
    [
        "ed25519:1",
        NODE_A,
        f"{NODE_A}#",
        f"{NODE_A}#key1",
        f"{NODE_A}:ed25519:1",
        "pnshort#ed25519:1",
        f"{NODE_A.upper()}#ed25519:1",
        f"{NODE_A}#ed25519:1#x",
    ],
)
def test_malformed_key_id_is_refused(key_id: str) -> None:
    request = HttpRequest(method="PUT", url=URL, headers={})
    manual_sign(request, BODY, key_id=key_id)
    _refused(request, "malformed key id")


def test_two_praevnet_signatures_are_refused() -> None:
    request = signed_request()
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=_Resolver(KEY_A))
    signer.sign(
        request,
        key_id=http_key_id(NODE_A, "ed25519:1"),
        nonce=NONCE,
        tag=TAG,
        label="second",
        covered_component_ids=("@method", "@authority", "@target-uri", "content-digest"),
        append_if_signature_exists=True,
        body=BODY,
        use_existing_digest=True,
    )
    _refused(request, "exactly one")


def test_unknown_signature_parameter_is_refused() -> None:
    request = signed_request()
    request.headers["Signature-Input"] += ';extra="1"'
    _refused(request, "HTTP signature refused")


def test_garbage_signature_headers_are_refused() -> None:
    request = signed_request()
    request.headers["Signature"] = "praevnet=not a byte sequence"
    _refused(request, "HTTP signature refused")


@pytest.mark.parametrize(
    ("text", "expected"),
    [(f"{NODE_A}#ed25519:1", (NODE_A, "ed25519:1")), (f"{NODE_B}#ed25519:12", (NODE_B, "ed25519:12"))],
)
def test_split_http_key_id(text: str, expected: tuple[str, str]) -> None:
    assert split_http_key_id(text) == expected
    assert http_key_id(*expected) == text


# --- responses --------------------------------------------------------------------------------

RESPONSE_BODY = b'{"results":[]}'


def signed_response(request: HttpRequest, status: int = 200, body: bytes = RESPONSE_BODY) -> HttpResponse:
    response = HttpResponse(status_code=status, headers={"Content-Type": "application/json"}, request=request)
    sign_response(response, body, KEY_B, NODE_B)
    return response


def test_response_roundtrip() -> None:
    request = signed_request()
    response = signed_response(request)
    info = verify_response(200, response.headers.items(), RESPONSE_BODY, request, TRUST_A)
    assert info.node_id == NODE_B
    assert info.key_id == "ed25519:1"
    text = response.headers["Signature-Input"]
    assert text.startswith(f'{LABEL}=("@status" "@method";req "@target-uri";req "signature";req;key="{LABEL}"')
    assert f';tag="{RESPONSE_TAG}"' in text


def test_response_with_other_status_is_refused() -> None:
    request = signed_request()
    response = signed_response(request, status=200)
    with pytest.raises(SignatureError):
        verify_response(500, response.headers.items(), RESPONSE_BODY, request, TRUST_A)


def test_response_with_other_body_is_refused() -> None:
    request = signed_request()
    response = signed_response(request)
    with pytest.raises(SignatureError):
        verify_response(200, response.headers.items(), b'{"results":[1]}', request, TRUST_A)


def test_response_bound_to_another_request_is_refused() -> None:
    request = signed_request()
    response = signed_response(request)
    other = signed_request()  # same method and URL, but a fresh nonce and signature
    with pytest.raises(SignatureError):
        verify_response(200, response.headers.items(), RESPONSE_BODY, other, TRUST_A)


def test_response_to_another_url_is_refused() -> None:
    request = signed_request()
    response = signed_response(request)
    request.url = URL.replace("txn-0001", "txn-0002")
    with pytest.raises(SignatureError):
        verify_response(200, response.headers.items(), RESPONSE_BODY, request, TRUST_A)


def test_response_by_unknown_key_is_refused() -> None:
    request = signed_request()
    response = signed_response(request)
    with pytest.raises(SignatureError, match="unknown key id"):
        verify_response(200, response.headers.items(), RESPONSE_BODY, request, trusting((NODE_A, KEY_A)))


def test_request_signature_is_not_a_response_signature() -> None:
    request = signed_request()
    with pytest.raises(SignatureError, match="tag"):
        verify_response(200, request.headers.items(), BODY, request, TRUST_A)


def test_unsigned_response_is_refused() -> None:
    request = signed_request()
    with pytest.raises(SignatureError):
        verify_response(200, [("Content-Type", "application/json")], RESPONSE_BODY, request, TRUST_A)


def test_response_to_unsigned_request_cannot_be_signed() -> None:
    request = HttpRequest(method="GET", url=URL, headers={})
    response = HttpResponse(status_code=200, headers={}, request=request)
    with pytest.raises(SignatureError):
        sign_response(response, RESPONSE_BODY, KEY_B, NODE_B)
