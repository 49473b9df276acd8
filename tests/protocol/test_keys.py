"""Node identity: Ed25519 (RFC 8032 vectors, strict verification), key ids, node ids, fingerprints."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from protocol.encoding import b64url
from protocol.errors import ProtocolError, SignatureError
from protocol.keys import (
    FINGERPRINT_RE,
    NodeKey,
    check_key_id,
    check_node_id,
    fingerprint,
    key_id,
    node_id_for,
    public_key_from_b64,
    safety_number,
    verify,
)

# The order of the Ed25519 base point (RFC 8032, section 5.1).
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493

# RFC 8032, section 7.1: (secret key, public key, message, signature), all hex.
RFC8032_VECTORS = {
    "TEST 1": (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    "TEST 2": (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    "TEST 3": (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    "TEST SHA(abc)": (
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
        "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
}

SEED_A = bytes(range(32))
SEED_B = bytes(range(1, 33))
SAFETY_NUMBER_RE = re.compile(r"^[0-9]{5}( [0-9]{5}){5}\Z")


@pytest.mark.parametrize("name", sorted(RFC8032_VECTORS))
def test_rfc8032_vector(name: str) -> None:
    secret, public, message, signature = (bytes.fromhex(part) for part in RFC8032_VECTORS[name])
    key = NodeKey.from_seed(secret)
    assert key.seed == secret
    assert key.public == public
    assert key.sign(message) == signature
    verify(public, signature, message)


def test_rfc8032_sha_abc_message_is_sha512_of_abc() -> None:
    assert bytes.fromhex(RFC8032_VECTORS["TEST SHA(abc)"][2]) == hashlib.sha512(b"abc").digest()


@pytest.mark.parametrize("name", sorted(RFC8032_VECTORS))
def test_rfc8032_vector_refuses_other_message(name: str) -> None:
    _, public, message, signature = (bytes.fromhex(part) for part in RFC8032_VECTORS[name])
    with pytest.raises(SignatureError):
        verify(public, signature, message + b"\x00")


@pytest.mark.parametrize("name", sorted(RFC8032_VECTORS))
def test_malleated_signature_s_plus_l_is_refused(name: str) -> None:
    _, public, message, signature = (bytes.fromhex(part) for part in RFC8032_VECTORS[name])
    s = int.from_bytes(signature[32:], "little")
    malleated_s = s + GROUP_ORDER
    assert malleated_s < 2**256  # still fits into the 32-byte S half
    malleated = signature[:32] + malleated_s.to_bytes(32, "little")
    with pytest.raises(SignatureError):
        verify(public, malleated, message)


def test_malleated_signature_of_own_key_is_refused() -> None:
    key = NodeKey.from_seed(SEED_A)
    signature = key.sign(b"praevnet")
    s = int.from_bytes(signature[32:], "little") + GROUP_ORDER
    verify(key.public, signature, b"praevnet")
    with pytest.raises(SignatureError):
        verify(key.public, signature[:32] + s.to_bytes(32, "little"), b"praevnet")


@pytest.mark.parametrize("length", [0, 1, 32, 63, 65, 128])
def test_wrong_length_signature_is_refused(length: int) -> None:
    key = NodeKey.from_seed(SEED_A)
    signature = (key.sign(b"m") * 3)[:length]
    with pytest.raises(SignatureError, match="64 bytes"):
        verify(key.public, signature, b"m")


def test_flipped_signature_bit_is_refused() -> None:
    key = NodeKey.from_seed(SEED_A)
    signature = bytearray(key.sign(b"m"))
    signature[10] ^= 0x01
    with pytest.raises(SignatureError):
        verify(key.public, bytes(signature), b"m")


def test_signature_by_other_key_is_refused() -> None:
    a, b = NodeKey.from_seed(SEED_A), NodeKey.from_seed(SEED_B)
    with pytest.raises(SignatureError):
        verify(b.public, a.sign(b"m"), b"m")


@pytest.mark.parametrize("public", [b"", b"\x00" * 31, b"\x00" * 33])
def test_malformed_public_key_is_refused(public: bytes) -> None:
    key = NodeKey.from_seed(SEED_A)
    with pytest.raises(SignatureError):
        verify(public, key.sign(b"m"), b"m")


@pytest.mark.parametrize("seed", [b"", b"\x00" * 31, b"\x00" * 33])
def test_from_seed_refuses_wrong_length(seed: bytes) -> None:
    with pytest.raises(ProtocolError, match="32 bytes"):
        NodeKey.from_seed(seed)


def test_generated_keys_differ_and_roundtrip_through_seed() -> None:
    one, two = NodeKey.generate(), NodeKey.generate(version=2)
    assert one.public != two.public
    assert two.key_id == "ed25519:2"
    assert NodeKey.from_seed(one.seed).public == one.public


@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=2000))
def test_signatures_and_public_keys_are_cryptographys(seed: bytes, message: bytes) -> None:
    """libsodium signs as the reference implementation (OpenSSL through `cryptography`) does: the same bytes."""
    key, reference = NodeKey.from_seed(seed), Ed25519PrivateKey.from_private_bytes(seed)
    raw = serialization.Encoding.Raw
    assert key.public == reference.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
    assert key.sign(message) == reference.sign(message)
    assert key.seed == seed


def test_generated_key_signs_as_cryptography_with_its_seed() -> None:
    key = NodeKey.generate()
    assert key.sign(b"praevnet") == Ed25519PrivateKey.from_private_bytes(key.seed).sign(b"praevnet")


def test_repr_shows_no_secret() -> None:
    key = NodeKey.from_seed(SEED_A)
    assert SEED_A.hex() not in repr(key)
    assert str(list(SEED_A)) not in repr(key)
    assert "secret" not in repr(key)


def test_public_b64_is_unpadded_base64url() -> None:
    key = NodeKey.from_seed(SEED_A)
    assert key.public_b64 == b64url(key.public)
    assert len(key.public_b64) == 43
    assert public_key_from_b64(key.public_b64) == key.public


@pytest.mark.parametrize(
    "text",
    [
        None,
        42,
        "",
        b64url(b"\x00" * 31),
        b64url(b"\x00" * 33),
        b64url(b"\x00" * 32) + "=",
        base64.b64encode(b"\xfb" * 32).decode(),  # standard alphabet (+, /), not base64url
    ],
)
def test_public_key_from_b64_refuses(text: object) -> None:
    with pytest.raises(ProtocolError):
        public_key_from_b64(text)


# --- node ids --------------------------------------------------------------------------------


def test_node_id_format() -> None:
    node_id = node_id_for(NodeKey.from_seed(SEED_A).public)
    assert re.fullmatch(r"pn[a-z2-7]{32}", node_id)
    assert len(node_id) == 34
    assert check_node_id(node_id) == node_id


def test_node_id_derivation() -> None:
    public = NodeKey.from_seed(SEED_A).public
    digest = hashlib.sha256(b"praevnet-node-id:" + public).digest()[:20]
    assert node_id_for(public) == "pn" + base64.b32encode(digest).decode().lower()


def test_node_id_is_deterministic_and_key_specific() -> None:
    a, b = NodeKey.from_seed(SEED_A), NodeKey.from_seed(SEED_B)
    assert node_id_for(a.public) == node_id_for(NodeKey.from_seed(SEED_A).public)
    assert node_id_for(a.public) != node_id_for(b.public)
    # The node id does not depend on the key's version.
    assert node_id_for(NodeKey.from_seed(SEED_A, version=3).public) == node_id_for(a.public)


@pytest.mark.parametrize(
    "text",
    [
        None,
        7,
        "",
        "pn",
        "pn" + "a" * 31,
        "pn" + "a" * 33,
        "PN" + "a" * 32,
        "pn" + "A" * 32,
        "pn" + "1" * 32,  # base32 has no 0, 1, 8, 9
        "pn" + "8" * 32,
        "qn" + "a" * 32,
        "pn" + "a" * 32 + "\n",
        " pn" + "a" * 32,
        "pn" + "a" * 31 + "=",
    ],
)
def test_check_node_id_refuses(text: object) -> None:
    with pytest.raises(ProtocolError, match="node id"):
        check_node_id(text)


# --- key ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "expected"), [(1, "ed25519:1"), (2, "ed25519:2"), (123, "ed25519:123")])
def test_key_id(version: int, expected: str) -> None:
    assert key_id(version) == expected
    assert check_key_id(expected) == expected
    assert NodeKey.from_seed(SEED_A, version=version).key_id == expected


@pytest.mark.parametrize("version", [0, -1])
def test_key_id_refuses_versions_below_one(version: int) -> None:
    with pytest.raises(ProtocolError):
        key_id(version)


@pytest.mark.parametrize("text", ["ed25519:1", "ed25519:9", "ed25519:10", "ed25519:999999999"])
def test_check_key_id_accepts(text: str) -> None:
    assert check_key_id(text) == text


@pytest.mark.parametrize(
    "text",
    [
        None,
        1,
        "",
        "ed25519:",
        "ed25519:0",
        "ed25519:01",
        "ed25519:-1",
        "ed25519:1a",
        "ed25519:1234567890",
        "Ed25519:1",
        "ed448:1",
        "rsa:1",
        "ed25519:1\n",
        " ed25519:1",
        "ed25519:\u0661",  # a non-ASCII digit
    ],
)
def test_check_key_id_refuses(text: object) -> None:
    with pytest.raises(ProtocolError, match="key id"):
        check_key_id(text)


# --- fingerprints and safety numbers ---------------------------------------------------------


def test_fingerprint_format() -> None:
    public = NodeKey.from_seed(SEED_A).public
    text = fingerprint(public)
    assert FINGERPRINT_RE.match(text)
    assert re.fullmatch(r"SHA256:[A-Za-z0-9+/]{43}", text)
    expected = base64.b64encode(hashlib.sha256(public).digest()).decode().rstrip("=")
    assert text == "SHA256:" + expected


def test_fingerprint_differs_between_keys() -> None:
    assert fingerprint(NodeKey.from_seed(SEED_A).public) != fingerprint(NodeKey.from_seed(SEED_B).public)


def test_safety_number_format() -> None:
    text = safety_number(NodeKey.from_seed(SEED_A).public)
    assert SAFETY_NUMBER_RE.match(text), text
    assert len(text) == 35


def test_safety_number_is_deterministic_and_key_specific() -> None:
    a, b = NodeKey.from_seed(SEED_A).public, NodeKey.from_seed(SEED_B).public
    assert safety_number(a) == safety_number(NodeKey.from_seed(SEED_A).public)
    assert safety_number(a) != safety_number(b)
    # Many random keys: always well formed, never colliding.
    numbers = {safety_number(NodeKey.generate().public) for _ in range(20)}
    assert len(numbers) == 20
    assert all(SAFETY_NUMBER_RE.match(n) for n in numbers)


def test_safety_number_algorithm() -> None:
    public = NodeKey.from_seed(SEED_A).public
    digest = b"\x00\x00" + public
    for _ in range(5200):
        digest = hashlib.sha512(digest + public).digest()
    groups = [int.from_bytes(digest[i : i + 5], "big") % 100000 for i in range(0, 30, 5)]
    assert safety_number(public) == " ".join(f"{g:05d}" for g in groups)


def test_a_small_order_key_whose_signature_fits_every_message_is_refused() -> None:
    # The identity point as public key and as R, with S = 0, satisfies the verification equation for
    # any message under a lax check; libsodium refuses small-order keys outright.
    identity = bytes([1]) + bytes(31)
    for message in (b"", b"any message at all"):
        with pytest.raises(SignatureError, match="does not verify"):
            verify(identity, identity + bytes(32), message)


def test_verify_refuses_a_key_of_the_wrong_length() -> None:
    with pytest.raises(SignatureError, match="32 bytes"):
        verify(bytes(31), bytes(64), b"x")
