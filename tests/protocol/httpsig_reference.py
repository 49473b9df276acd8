"""The reference for protocol.httpsig: the same profile through the http-message-signatures library.

This is what protocol/httpsig.py did before it built the profile itself (#14): every node that ran it
signs and verifies exactly so, so the cross-tests that hold ours against it show that old and new
nodes interoperate. Test code only; the library is a test dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureAlgorithm,
    HTTPSignatureKeyResolver,
    InvalidSignature,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from protocol.errors import SignatureError
from protocol.httpsig import (
    ANY_TIME,
    LABEL,
    MAX_AGE,
    REQUEST_REQUIRED,
    REQUEST_SIGNED,
    RESPONSE_REQUIRED,
    RESPONSE_SIGNED,
    RESPONSE_TAG,
    TAG,
    HttpRequest,
    HttpResponse,
    SignatureInfo,
    http_key_id,
    split_http_key_id,
)
from protocol.keys import NodeKey, verify

Resolve = Callable[[str, str], bytes | None]


class Ed25519(HTTPSignatureAlgorithm):
    """Ed25519 signing with `cryptography`, verifying with protocol.keys.verify, as the old module did."""

    algorithm_id = "ed25519"

    def __init__(self, public_key: bytes | None = None, private_key: object = None) -> None:
        self.public_key = public_key
        self.private_key = private_key

    def sign(self, message: bytes) -> bytes:
        assert isinstance(self.private_key, NodeKey)
        return self.private_key.sign(message)

    def verify(self, signature: bytes, message: bytes) -> None:
        assert self.public_key is not None
        verify(self.public_key, signature, message)


class _Keys(HTTPSignatureKeyResolver):
    def __init__(self, key: NodeKey | None = None, lookup: Resolve | None = None) -> None:
        self._key = key
        self._lookup = lookup

    def resolve_private_key(self, key_id: str) -> object:
        return self._key

    def resolve_public_key(self, key_id: str) -> object:
        assert self._lookup is not None
        raw = self._lookup(*split_http_key_id(key_id))
        if raw is None:
            raise SignatureError(f"unknown key id {key_id!r}")
        return raw


class _Headers:
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


def sign_request(
    request: HttpRequest, body: bytes, key: NodeKey, node_id: str, *, nonce: str, created: datetime | None = None
) -> None:
    """Sign as the old protocol.httpsig.sign_request did."""
    _sign(request, REQUEST_SIGNED, TAG, body, key, node_id, nonce, created)


def sign_response(
    response: HttpResponse, body: bytes, key: NodeKey, node_id: str, *, nonce: str, created: datetime | None = None
) -> None:
    """Sign as the old protocol.httpsig.sign_response did."""
    _sign(response, RESPONSE_SIGNED, RESPONSE_TAG, body, key, node_id, nonce, created)


def _sign(
    message: HttpRequest | HttpResponse,
    components: tuple[str, ...],
    tag: str,
    body: bytes,
    key: NodeKey,
    node_id: str,
    nonce: str,
    created: datetime | None,
) -> None:
    signer = HTTPMessageSigner(signature_algorithm=Ed25519, key_resolver=_Keys(key))
    key_id = http_key_id(node_id, key.key_id)
    signer.sign(
        message,
        key_id=key_id,
        created=created,
        nonce=nonce,
        label=LABEL,
        tag=tag,
        covered_component_ids=components,
        body=body,
    )


def base(
    message: HttpRequest | HttpResponse,
    components: Sequence[str],
    *,
    key_id: str,
    created: datetime,
    nonce: str,
    tag: str,
) -> bytes:
    """The library's signature base over `components` of a message that already carries its headers, with
    the parameters our signer writes (created, keyid, alg, nonce, tag)."""
    prepared = HTTPMessageSigner(signature_algorithm=Ed25519).prepare(
        message,
        key_id=key_id,
        created=created,
        nonce=nonce,
        tag=tag,
        covered_component_ids=components,
        use_existing_digest=any(name.lower() == "content-digest" for name in message.headers),
    )
    return prepared.signature_base


def _verify(
    message: _View | _ResponseView, body: bytes, resolve: Resolve, tag: str, required: tuple[str, ...], fresh: bool
) -> SignatureInfo:
    verifier = HTTPMessageVerifier(signature_algorithm=Ed25519, key_resolver=_Keys(lookup=resolve))
    if not fresh:
        verifier.max_clock_skew = ANY_TIME
    try:
        results = verifier.verify(message, max_age=MAX_AGE, expect_tag=tag, require_components=required, body=body)
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
    method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes, resolve: Resolve
) -> SignatureInfo:
    """Verify as the old protocol.httpsig.verify_request did."""
    return _verify(_View(method, url, _Headers(headers)), body, resolve, TAG, REQUEST_REQUIRED, True)


def verify_response(
    status: int,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    request: HttpRequest,
    resolve: Resolve,
    *,
    fresh: bool = True,
) -> SignatureInfo:
    """Verify as the old protocol.httpsig.verify_response did."""
    answered = _View(request.method, request.url, _Headers(request.headers.items()))
    view = _ResponseView(status, _Headers(headers), answered)
    return _verify(view, body, resolve, RESPONSE_TAG, RESPONSE_REQUIRED, fresh)
