"""RFC 9421 Appendix B.2.6 (a request signed with Ed25519, key `test-key-ed25519` of B.1.4), byte for byte.

The test request of Appendix B.2 and the expected signature base, Signature-Input and Signature are the
RFC's; our signature base builder, serialiser and signer must give exactly those, and the reference
library must accept the RFC's own signature (a check that the vector is copied right).
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import HTTPMessageVerifier

from protocol.digest import check_content_digest
from protocol.errors import SignatureError
from protocol.httpsig import HttpRequest, verify_request
from protocol.keys import NodeKey, verify
from protocol.sigbase import Request, field_lines, signature_base
from protocol.structured import is_inner_list, parse_dictionary, ser_dictionary
from tests.protocol.httpsig_reference import Ed25519

# RFC 9421 Appendix B.1.4: test-key-ed25519.
PRIVATE_PEM = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
"""
PUBLIC_PEM = b"""-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
"""

# RFC 9421 Appendix B.2: the test request.
METHOD = "POST"
URL = "https://example.com/foo?param=Value&Pet=dog"
BODY = b'{"hello": "world"}'
HEADERS = {
    "Host": "example.com",
    "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "Content-Type": "application/json",
    "Content-Digest": (
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
    ),
    "Content-Length": "18",
}

# RFC 9421 Appendix B.2.6 (the RFC 8792 line wrapping undone).
SIGNATURE_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
SIGNATURE = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
SIGNATURE_BASE = "\n".join(
    [
        '"date": Tue, 20 Apr 2021 02:07:55 GMT',
        '"@method": POST',
        '"@path": /foo',
        '"@authority": example.com',
        '"content-type": application/json',
        '"content-length": 18',
        '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length")'
        ';created=1618884473;keyid="test-key-ed25519"',
    ]
)


def _keys() -> tuple[Ed25519PrivateKey, bytes]:
    private = serialization.load_pem_private_key(PRIVATE_PEM, None)
    public = serialization.load_pem_public_key(PUBLIC_PEM)
    assert isinstance(private, Ed25519PrivateKey)
    assert isinstance(public, Ed25519PublicKey)
    return private, public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _signature_bytes() -> bytes:
    return base64.b64decode(SIGNATURE.removeprefix("sig-b26=:").removesuffix(":"))


def test_our_signature_base_is_the_rfc_s() -> None:
    member = parse_dictionary(SIGNATURE_INPUT)["sig-b26"]
    assert is_inner_list(member)
    components, params = member
    built = signature_base(components, params, Request(METHOD, URL, field_lines(HEADERS.items())))
    assert built.base == SIGNATURE_BASE.encode("ascii")
    assert ser_dictionary({"sig-b26": member}) == SIGNATURE_INPUT
    assert f"sig-b26={built.signature_params}" == SIGNATURE_INPUT


def test_signing_the_base_with_the_rfc_key_gives_the_rfc_signature() -> None:
    private, public = _keys()
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    key = NodeKey.from_seed(seed)
    assert key.public == public
    signature = key.sign(SIGNATURE_BASE.encode("ascii"))
    assert signature == _signature_bytes()
    assert ser_dictionary({"sig-b26": (signature, {})}) == SIGNATURE
    verify(public, signature, SIGNATURE_BASE.encode("ascii"))


def test_the_rfc_request_body_matches_its_sha_512_content_digest() -> None:
    check_content_digest(HEADERS["Content-Digest"], BODY)
    with pytest.raises(SignatureError, match="does not match"):
        check_content_digest(HEADERS["Content-Digest"], BODY + b"\n")


def test_the_reference_library_accepts_the_rfc_signature() -> None:
    _, public = _keys()

    class Keys:
        def resolve_public_key(self, key_id: str) -> bytes:
            assert key_id == "test-key-ed25519"
            return public

    request = HttpRequest(METHOD, URL, HEADERS | {"Signature-Input": SIGNATURE_INPUT, "Signature": SIGNATURE})
    verifier = HTTPMessageVerifier(signature_algorithm=Ed25519, key_resolver=Keys())  # type: ignore[arg-type]
    (result,) = verifier.verify(request, max_age=None)
    assert result.label == "sig-b26"


def test_praevnet_refuses_the_rfc_signature_for_it_is_not_praevnet_s() -> None:
    """The vector is RFC 9421 but not SPEC.md section 7: no tag, no nonce, a foreign key id."""
    headers = HEADERS | {"Signature-Input": SIGNATURE_INPUT, "Signature": SIGNATURE}
    with pytest.raises(SignatureError, match="tag"):
        verify_request(METHOD, URL, headers.items(), BODY, lambda node_id, key_id: None)
