"""RFC 9421 HTTP Message Signatures for requests and responses between nodes (Ed25519).

Requests cover @method, @authority, @target-uri and content-digest (RFC 9530, over the raw body),
with created, keyid, nonce and the tag `praevnet`. Responses cover @status and content-digest and
are bound to the request they answer through the request's own signature. The HTTP key id names
the node as well as the key (`<node id>#ed25519:<version>`), so a verifier learns who claims to
speak before it trusts a word; replay caching of nonces is the caller's job.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureAlgorithm,
    HTTPSignatureKeyResolver,
    InvalidSignature,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from protocol.errors import ProtocolError, SignatureError
from protocol.keys import NodeKey, check_key_id, check_node_id, verify

TAG = "praevnet"
RESPONSE_TAG = "praevnet-response"
LABEL = "praevnet"
MAX_AGE = timedelta(seconds=300)
ANY_TIME = timedelta(days=36500)  # the clock skew a verifier that does not check the time tolerates
# SIGNED is what we name to the signer, REQUIRED is what a verifier insists is covered (SPEC.md 7.2,
# 7.3). They differ by "content-digest" alone: given the body, the signer computes the Content-Digest
# header and appends "content-digest" to the covered components itself, last, as SPEC.md orders them;
# a verifier must still demand it, or a signature could leave the body uncovered.
REQUEST_SIGNED = ("@method", "@authority", "@target-uri")
REQUEST_REQUIRED = (*REQUEST_SIGNED, "content-digest")
RESPONSE_SIGNED = (
    "@status",
    '"@method";req',
    '"@target-uri";req',
    f'"signature";req;key="{LABEL}"',
)
RESPONSE_REQUIRED = (*RESPONSE_SIGNED, "content-digest")


def http_key_id(node_id: str, key_id: str) -> str:
    """The key id used in HTTP signatures: `<node id>#<key id>`."""
    return f"{node_id}#{key_id}"


def split_http_key_id(text: str) -> tuple[str, str]:
    """Split an HTTP key id into node id and key id; raise SignatureError if malformed."""
    node_id, sep, key_id = text.partition("#")
    try:
        if not sep:
            raise ProtocolError("no '#'")
        return check_node_id(node_id), check_key_id(key_id)
    except ProtocolError:
        raise SignatureError(f"malformed key id {text!r}; expected <node id>#ed25519:<n>") from None


def new_nonce() -> str:
    """A fresh random nonce for one request."""
    return secrets.token_urlsafe(18)


@dataclass
class HttpRequest:
    """The parts of an HTTP request that a signature covers."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class HttpResponse:
    """The parts of an HTTP response that a signature covers, with the request it answers."""

    status_code: int
    headers: dict[str, str]
    request: HttpRequest


class _Headers:
    """A read-only, order-preserving header view over (name, value) pairs for the verifier."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._pairs = list(pairs)

    def items(self) -> list[tuple[str, str]]:
        return self._pairs

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._pairs))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(k.lower() == name.lower() for k, _ in self._pairs)


@dataclass
class _View:
    method: str
    url: str
    headers: _Headers


@dataclass
class _ResponseView:
    status_code: int
    headers: _Headers
    request: _View


class Ed25519(HTTPSignatureAlgorithm):
    """The library's Ed25519, verifying with protocol.keys.verify (libsodium) as envelopes are verified.

    Public keys are the raw 32 bytes; private keys are `cryptography` objects, which sign.
    """

    algorithm_id = "ed25519"

    def __init__(self, public_key: bytes | None = None, private_key: Ed25519PrivateKey | None = None) -> None:
        self.public_key = public_key
        self.private_key = private_key

    def sign(self, message: bytes) -> bytes:
        """Sign the signature base."""
        if self.private_key is None:
            raise SignatureError("no private key to sign with")
        return self.private_key.sign(message)

    def verify(self, signature: bytes, message: bytes) -> None:
        """Verify a signature over the signature base; raise SignatureError if it does not verify."""
        if self.public_key is None:
            raise SignatureError("no public key to verify with")
        verify(self.public_key, signature, message)


class _SigningKey(HTTPSignatureKeyResolver):
    """The signer's view of our one key, whatever key id it is asked for."""

    def __init__(self, key: NodeKey) -> None:
        self._key = key

    def resolve_private_key(self, key_id: str) -> object:
        return self._key.private


class _TrustedKeys(HTTPSignatureKeyResolver):
    """The verifier's view of the keys `lookup` trusts, by HTTP key id; unknown ids are refused."""

    def __init__(self, lookup: Callable[[str], bytes | None]) -> None:
        self._lookup = lookup

    def resolve_public_key(self, key_id: str) -> object:
        raw = self._lookup(key_id)
        if raw is None:
            raise SignatureError(f"unknown key id {key_id!r}")
        return raw


@dataclass(frozen=True)
class SignatureInfo:
    """What a verified signature says about its signer."""

    node_id: str
    key_id: str
    nonce: str
    created: int


def sign_request(
    request: HttpRequest,
    body: bytes,
    key: NodeKey,
    node_id: str,
    *,
    nonce: str | None = None,
    created: datetime | None = None,
) -> None:
    """Add Content-Digest, Signature-Input and Signature headers to `request` in place."""
    signer = HTTPMessageSigner(signature_algorithm=Ed25519, key_resolver=_SigningKey(key))
    signer.sign(
        request,
        key_id=http_key_id(node_id, key.key_id),
        created=created,
        nonce=nonce if nonce is not None else new_nonce(),
        label=LABEL,
        tag=TAG,
        covered_component_ids=REQUEST_SIGNED,
        body=body,
    )


def sign_response(
    response: HttpResponse,
    body: bytes,
    key: NodeKey,
    node_id: str,
    *,
    nonce: str | None = None,
    created: datetime | None = None,
) -> None:
    """Sign a response in place, bound to the signed request it answers."""
    signer = HTTPMessageSigner(signature_algorithm=Ed25519, key_resolver=_SigningKey(key))
    try:
        _sign_response(signer, response, body, key, node_id, nonce, created)
    except HTTPMessageSignaturesException as exc:
        raise SignatureError(f"cannot sign the response: {exc}") from None


def _sign_response(
    signer: HTTPMessageSigner,
    response: HttpResponse,
    body: bytes,
    key: NodeKey,
    node_id: str,
    nonce: str | None,
    created: datetime | None,
) -> None:
    signer.sign(
        response,
        key_id=http_key_id(node_id, key.key_id),
        created=created,
        nonce=nonce if nonce is not None else new_nonce(),
        label=LABEL,
        tag=RESPONSE_TAG,
        covered_component_ids=RESPONSE_SIGNED,
        body=body,
    )


def _verify(
    message: _View | _ResponseView,
    body: bytes,
    resolve: Callable[[str, str], bytes | None],
    tag: str,
    components: tuple[str, ...],
    *,
    fresh: bool = True,
) -> SignatureInfo:
    def lookup(http_kid: str) -> bytes | None:
        node_id, key_id = split_http_key_id(http_kid)
        return resolve(node_id, key_id)

    verifier = HTTPMessageVerifier(signature_algorithm=Ed25519, key_resolver=_TrustedKeys(lookup))
    if not fresh:
        verifier.max_clock_skew = ANY_TIME  # neither too old nor in the future: the caller compares the time
    try:
        results = verifier.verify(message, max_age=MAX_AGE, expect_tag=tag, require_components=components, body=body)
    except SignatureError:
        raise
    except InvalidSignature as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, SignatureError) else exc
        raise SignatureError(f"HTTP signature refused: {str(cause) or 'signature does not verify'}") from None
    except (HTTPMessageSignaturesException, ValueError, TypeError) as exc:
        raise SignatureError(f"HTTP signature refused: {exc}") from None
    if len(results) != 1:
        raise SignatureError("expected exactly one praevnet signature")
    params = results[0].parameters
    nonce = params.get("nonce")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64:
        raise SignatureError("HTTP signature needs a nonce of 16 to 64 characters")
    node_id, key_id = split_http_key_id(str(params["keyid"]))
    return SignatureInfo(node_id=node_id, key_id=key_id, nonce=nonce, created=int(params["created"]))


def verify_request(
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    resolve: Callable[[str, str], bytes | None],
) -> SignatureInfo:
    """Verify a request's signature; `resolve(node_id, key_id)` returns a trusted public key or None.

    `url` is the absolute URL as this node is reached (its configured base URL plus the path).
    Raises SignatureError for anything short of a fresh, complete, valid signature.
    """
    view = _View(method=method, url=url, headers=_Headers(headers))
    return _verify(view, body, resolve, TAG, REQUEST_REQUIRED)


def verify_response(
    status: int,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    request: HttpRequest,
    resolve: Callable[[str, str], bytes | None],
    *,
    fresh: bool = True,
) -> SignatureInfo:
    """Verify a response's signature and its binding to `request` (which we signed and sent).

    With `fresh=False` everything but the signature's time is checked: its `created` (the signer's
    clock) may lie anywhere, for comparing the signer's clock with ours.
    """
    req_view = _View(method=request.method, url=request.url, headers=_Headers(request.headers.items()))
    view = _ResponseView(status_code=status, headers=_Headers(headers), request=req_view)
    return _verify(view, body, resolve, RESPONSE_TAG, RESPONSE_REQUIRED, fresh=fresh)
