"""Node identity: Ed25519 keys, key ids, self-certifying node ids and human fingerprints.

A node id is derived from the node's first public key, so nobody can claim an id without the key.
People compare fingerprints (`SHA256:<base64>`, as OpenSSH prints them) or a numeric safety number
that can be read aloud on the phone.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field

from nacl.bindings import (
    crypto_sign,
    crypto_sign_ed25519_sk_to_pk,
    crypto_sign_ed25519_sk_to_seed,
    crypto_sign_keypair,
    crypto_sign_open,
    crypto_sign_seed_keypair,
)
from nacl.exceptions import BadSignatureError

from protocol.encoding import b64url, b64url_decode
from protocol.errors import ProtocolError, SignatureError

KEY_ID_RE = re.compile(r"^ed25519:[1-9][0-9]{0,8}\Z")
NODE_ID_RE = re.compile(r"^pn[a-z2-7]{32}\Z")
FINGERPRINT_RE = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}\Z")
SAFETY_NUMBER_ITERATIONS = 5200


def key_id(version: int) -> str:
    """The key id for the node's key of the given version, e.g. `ed25519:1`."""
    if version < 1:
        raise ProtocolError("key versions start at 1")
    return f"ed25519:{version}"


def check_key_id(text: object) -> str:
    """Return `text` if it is a well-formed key id, else raise ProtocolError."""
    if not isinstance(text, str) or not KEY_ID_RE.match(text):
        raise ProtocolError(f"malformed key id {text!r}; expected ed25519:<version>")
    return text


def node_id_for(public_key: bytes) -> str:
    """Derive the node id from the raw 32-byte public key: `pn` + base32 of 20 bytes of SHA-256."""
    digest = hashlib.sha256(b"praevnet-node-id:" + public_key).digest()[:20]
    return "pn" + base64.b32encode(digest).decode("ascii").lower()


def check_node_id(text: object) -> str:
    """Return `text` if it is a well-formed node id, else raise ProtocolError."""
    if not isinstance(text, str) or not NODE_ID_RE.match(text):
        raise ProtocolError(f"malformed node id {text!r}")
    return text


def fingerprint(public_key: bytes) -> str:
    """OpenSSH-style fingerprint: `SHA256:` + unpadded standard base64 of SHA-256(public key)."""
    digest = hashlib.sha256(public_key).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def safety_number(public_key: bytes) -> str:
    """A 30-digit number in six groups of five, for reading a key aloud (Signal's construction)."""
    digest = b"\x00\x00" + public_key
    for _ in range(SAFETY_NUMBER_ITERATIONS):
        digest = hashlib.sha512(digest + public_key).digest()
    groups = [int.from_bytes(digest[i : i + 5], "big") % 100000 for i in range(0, 30, 5)]
    return " ".join(f"{group:05d}" for group in groups)


def public_key_from_b64(text: object) -> bytes:
    """Decode a base64url public key and check that it is 32 bytes."""
    if not isinstance(text, str):
        raise ProtocolError("public key must be a base64url string")
    raw = b64url_decode(text)
    if len(raw) != 32:
        raise ProtocolError(f"an Ed25519 public key has 32 bytes, not {len(raw)}")
    return raw


def verify(public_key: bytes, signature: bytes, message: bytes) -> None:
    """Verify an Ed25519 signature (RFC 8032, canonical S only); raise SignatureError if it fails.

    libsodium (through PyNaCl) verifies about twice as fast as OpenSSL here and is stricter: it also
    refuses small-order public keys and non-canonical points.
    """
    if len(signature) != 64:
        raise SignatureError("an Ed25519 signature has 64 bytes")
    if len(public_key) != 32:
        raise SignatureError("an Ed25519 public key has 32 bytes")
    try:
        crypto_sign_open(signature + message, public_key)
    except (BadSignatureError, ValueError, TypeError):
        raise SignatureError("signature does not verify") from None


@dataclass(frozen=True)
class NodeKey:
    """A node's private Ed25519 key together with its version.

    Signed through libsodium (PyNaCl), as `verify` checks: a serving node loads no second Ed25519
    implementation. Ed25519 signatures are deterministic, so every implementation gives the same bytes
    (tests/protocol/test_keys.py compares them with `cryptography`'s).
    """

    secret: bytes = field(repr=False)
    """libsodium's 64-byte secret key: the 32-byte seed, then the public key."""
    version: int = 1

    @classmethod
    def generate(cls, version: int = 1) -> NodeKey:
        """A fresh random key."""
        return cls(crypto_sign_keypair()[1], version)

    @classmethod
    def from_seed(cls, seed: bytes, version: int = 1) -> NodeKey:
        """Load a key from its 32-byte seed (the private key's raw form)."""
        if len(seed) != 32:
            raise ProtocolError("an Ed25519 seed has 32 bytes")
        return cls(crypto_sign_seed_keypair(seed)[1], version)

    @property
    def seed(self) -> bytes:
        """The 32-byte seed, for storing the key."""
        return bytes(crypto_sign_ed25519_sk_to_seed(self.secret))

    @property
    def public(self) -> bytes:
        """The raw 32-byte public key."""
        return bytes(crypto_sign_ed25519_sk_to_pk(self.secret))

    @property
    def public_b64(self) -> str:
        """The public key as unpadded base64url."""
        return b64url(self.public)

    @property
    def key_id(self) -> str:
        """This key's id, e.g. `ed25519:1`."""
        return key_id(self.version)

    def sign(self, message: bytes) -> bytes:
        """Sign `message`; returns the 64-byte signature."""
        return bytes(crypto_sign(message, self.secret)[:64])
