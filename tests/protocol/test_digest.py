"""protocol.digest: Content-Digest values judged as the reference library judges them, fast path included."""

from __future__ import annotations

import base64
import hashlib

import pytest
from http_message_signatures import InvalidSignature
from http_message_signatures.digests import ContentDigest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.digest import check_content_digest, content_digest
from protocol.errors import SignatureError


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@st.composite
def _values(draw: st.DrawFn) -> tuple[str, bytes]:
    """A body and a Content-Digest value for it: mostly the canonical one, or one slightly off."""
    body = draw(st.binary(max_size=64))
    right = {"sha-256": hashlib.sha256(body).digest(), "sha-512": hashlib.sha512(body).digest()}
    members = []
    for _ in range(draw(st.integers(1, 3))):
        algorithm = draw(st.sampled_from(["sha-256", "sha-512", "md5", "SHA-256"]))
        digest = right.get(algorithm.lower(), b"\x00" * 16)
        digest = draw(st.sampled_from([digest, digest[:-1], hashlib.sha256(body + b"x").digest()]))
        members.append(f"{algorithm}=:{_b64(digest)}:" + draw(st.sampled_from(["", ";p=1", " ", ";"])))
    value = draw(st.sampled_from([", ", ",", " ,"])).join(members)
    value = draw(st.sampled_from(["", " "])) + value
    return draw(st.sampled_from([value, content_digest(body), content_digest(body) + " "])), body


@settings(max_examples=400)
@given(_values())
def test_our_verdict_on_a_content_digest_is_the_reference_s(case: tuple[str, bytes]) -> None:
    value, body = case
    try:
        ContentDigest.verify(value.strip(" \t"), body)  # as a verifier hands it the field value (trimmed)
    except InvalidSignature:
        with pytest.raises(SignatureError):
            check_content_digest(value.strip(" \t"), body)
    else:
        check_content_digest(value.strip(" \t"), body)


@settings(max_examples=200)
@given(st.binary(max_size=2000))
def test_what_we_send_is_the_sha_256_of_the_body(body: bytes) -> None:
    assert content_digest(body) == ContentDigest.create(body)
    check_content_digest(content_digest(body), body)
    with pytest.raises(SignatureError, match="does not match"):
        check_content_digest(content_digest(body), body + b"\x00")
