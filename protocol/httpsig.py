"""RFC 9421 HTTP Message Signatures for requests and responses between nodes (Ed25519).

Requests cover @method, @authority, @target-uri and content-digest (RFC 9530, over the raw body),
with created, keyid, nonce and the tag `praevnet`. Responses cover @status and content-digest and
are bound to the request they answer through the request's own signature. The HTTP key id names
the node as well as the key (`<node id>#ed25519:<version>`), so a verifier learns who claims to
speak before it trusts a word; replay caching of nonces is the caller's job.

This is the one profile of SPEC.md section 7, implemented directly: the structured fields are parsed
by http_sf (protocol.structured), the signature base is built by protocol.sigbase. The tests hold the
http-message-signatures library as the reference and check both against each other, both ways.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from protocol.digest import check_content_digest, check_digest_member, content_digest
from protocol.errors import ProtocolError, SignatureError
from protocol.keys import NodeKey, check_key_id, check_node_id, verify
from protocol.sigbase import Message, Request, Response, field_lines, signature_base
from protocol.structured import Item, Params, is_inner_list, parse_dictionary, parse_item, ser_item

TAG = "praevnet"
RESPONSE_TAG = "praevnet-response"
LABEL = "praevnet"
ALGORITHM = "ed25519"
MAX_AGE = timedelta(seconds=300)
CLOCK_SKEW = timedelta(seconds=5)
ANY_TIME = timedelta(days=36500)  # the clock skew a verifier that does not check the time tolerates
PARAMETERS = frozenset({"created", "keyid", "alg", "nonce", "tag", "expires"})
# SIGNED lists what a signer names, REQUIRED what a verifier insists is covered (SPEC.md 7.2, 7.3): they
# differ by "content-digest" alone, which the signer covers last, once it has put the body's digest in
# the Content-Digest header, as SPEC.md orders the components; a verifier must still demand it, or a
# signature could leave the body uncovered.
REQUEST_SIGNED = ("@method", "@authority", "@target-uri")
REQUEST_REQUIRED = (*REQUEST_SIGNED, "content-digest")
RESPONSE_SIGNED = (
    "@status",
    '"@method";req',
    '"@target-uri";req',
    f'"signature";req;key="{LABEL}"',
)
RESPONSE_REQUIRED = (*RESPONSE_SIGNED, "content-digest")
Resolve = Callable[[str, str], bytes | None]
"""`resolve(node_id, key_id)`: the raw public key if that key of that node is trusted, else None."""


def _components(names: Iterable[str]) -> tuple[Item, ...]:
    return tuple(parse_item(name if name.startswith('"') else f'"{name}"') for name in names)


_REQUEST_COMPONENTS = _components(REQUEST_REQUIRED)
_RESPONSE_COMPONENTS = _components(RESPONSE_REQUIRED)


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
    message = Request(request.method, request.url, field_lines(request.headers.items()))
    _sign(request.headers, message, _REQUEST_COMPONENTS, body, key, node_id, nonce, created, TAG)


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
    answered = Request(response.request.method, response.request.url, field_lines(response.request.headers.items()))
    view = Response(response.status_code, field_lines(response.headers.items()), answered)
    try:
        _sign(response.headers, view, _RESPONSE_COMPONENTS, body, key, node_id, nonce, created, RESPONSE_TAG)
    except SignatureError as exc:
        raise SignatureError(f"cannot sign the response: {exc}") from None


def _sign(
    headers: dict[str, str],
    message: Message,
    components: tuple[Item, ...],
    body: bytes,
    key: NodeKey,
    node_id: str,
    nonce: str | None,
    created: datetime | None,
    tag: str,
) -> None:
    """Build the signature over `message` and only then change `headers`: a refusal changes nothing."""
    if "content-digest" in message.fields:
        raise SignatureError("Content-Digest is already present")
    digest = content_digest(body)
    message.fields["content-digest"] = [digest]
    params: Params = {
        "created": int(created.timestamp()) if created is not None else int(time.time()),
        "keyid": http_key_id(node_id, key.key_id),
        "alg": ALGORITHM,
        "nonce": nonce if nonce is not None else new_nonce(),
        "tag": tag,
    }
    base, signature_params, _ = signature_base(components, params, message)
    signature = base64.b64encode(key.sign(base)).decode("ascii")
    for name in [name for name in headers if name.lower() in ("signature-input", "signature")]:
        del headers[name]
    headers["Content-Digest"] = digest
    headers["Signature-Input"] = f"{LABEL}={signature_params}"
    headers["Signature"] = f"{LABEL}=:{signature}:"


def verify_request(
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    resolve: Resolve,
) -> SignatureInfo:
    """Verify a request's signature; `resolve(node_id, key_id)` returns a trusted public key or None.

    `url` is the absolute URL as this node is reached (its configured base URL plus the path).
    Raises SignatureError for anything short of a fresh, complete, valid signature.
    """
    message = Request(method, url, field_lines(headers))
    with _refused():
        return _check(message, body, resolve, TAG, _REQUEST_COMPONENTS, fresh=True)


def verify_response(
    status: int,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    request: HttpRequest,
    resolve: Resolve,
    *,
    fresh: bool = True,
) -> SignatureInfo:
    """Verify a response's signature and its binding to `request` (which we signed and sent).

    With `fresh=False` everything but the signature's time is checked: its `created` (the signer's
    clock) may lie anywhere, for comparing the signer's clock with ours.
    """
    answered = Request(request.method, request.url, field_lines(request.headers.items()))
    message = Response(status, field_lines(headers), answered)
    with _refused():
        return _check(message, body, resolve, RESPONSE_TAG, _RESPONSE_COMPONENTS, fresh=fresh)


@contextmanager
def _refused() -> Iterator[None]:
    """Every refusal, the resolver's too (a malformed stored key, say), as one SignatureError."""
    try:
        yield
    except ProtocolError as exc:
        raise SignatureError(f"HTTP signature refused: {exc}") from None


def _check(
    message: Message,
    body: bytes,
    resolve: Resolve,
    tag: str,
    required: tuple[Item, ...],
    fresh: bool,
) -> SignatureInfo:
    components, params, signature = _select(message.fields, tag)
    created = _check_time(params, CLOCK_SKEW if fresh else ANY_TIME)
    if "alg" in params and params["alg"] != ALGORITHM:
        raise SignatureError("Unexpected algorithm specified in the signature")
    if "keyid" not in params:
        raise SignatureError('Signature is missing a required "keyid" parameter')
    for name in params:
        if name not in PARAMETERS:
            raise SignatureError(f'Unexpected signature metadata parameter "{name}"')
    nonce = params.get("nonce")
    if nonce is None or not 16 <= len(nonce) <= 64:
        raise SignatureError("HTTP signature needs a nonce of 16 to 64 characters")
    node_id, key_id = split_http_key_id(params["keyid"])
    covered = {(name, frozenset(item_params.items())) for name, item_params in components}
    for name, item_params in required:
        if (name, frozenset(item_params.items())) not in covered:
            raise SignatureError(f"Required component {ser_item(name, item_params)} was not covered by the signature")
    public_key = resolve(node_id, key_id)
    if public_key is None:
        raise SignatureError(f"unknown key id {params['keyid']!r}")
    base, _, values = signature_base(components, params, message)
    verify(public_key, signature, base)
    for name, item_params in components:
        if name == "content-digest":
            value = values[ser_item(name, item_params)]
            if "key" in item_params:
                check_digest_member(value, item_params["key"], body)
            else:
                check_content_digest(value, body)
    return SignatureInfo(node_id=node_id, key_id=key_id, nonce=nonce, created=created)


def _select(fields: dict[str, list[str]], tag: str) -> tuple[list[Item], Params, bytes]:
    """The one signature with `tag` (SPEC.md 7.2 rule 1): its components, parameters and bytes."""
    inputs = _dictionary(fields, "Signature-Input")
    signatures = _dictionary(fields, "Signature")
    if not inputs or not signatures:
        raise SignatureError("No signatures found in the message")
    if inputs.keys() != signatures.keys():
        raise SignatureError("Signature-Input and Signature headers have different labels")
    chosen = []
    for label, member in inputs.items():
        if not is_inner_list(member):
            raise SignatureError(f'Signature-Input member "{label}" must be an Inner List')
        value = signatures[label][0]
        if type(value) is not bytes:
            raise SignatureError(f'Signature member "{label}" must be a Byte Sequence')
        components, params = member
        _check_parameter_types(params)
        if params.get("tag") == tag:
            chosen.append((components, params, value))
    if not chosen:
        raise SignatureError(f"No signatures found with the expected tag {tag!r}")
    if len(chosen) > 1:
        raise SignatureError("expected exactly one praevnet signature")
    return chosen[0]


def _dictionary(fields: dict[str, list[str]], name: str) -> dict[str, Item | tuple[list[Item], Params]]:
    lines = fields.get(name.lower())
    if lines is None:
        raise SignatureError(f'Expected "{name}" header field to be present')
    try:
        return parse_dictionary(", ".join(lines), unique=True)
    except ValueError as exc:
        raise SignatureError(f'Malformed structured header field "{name}": {exc}') from None


def _check_parameter_types(params: Params) -> None:
    for name, value in params.items():
        if name in ("created", "expires") and type(value) is not int:
            raise SignatureError(f'Parameter "{name}" must be a Structured Field Integer')
        if name in ("alg", "keyid", "nonce", "tag") and type(value) is not str:
            raise SignatureError(f'Parameter "{name}" must be a Structured Field String')


def _check_time(params: Params, skew: timedelta) -> int:
    """`created` (returned) and `expires` against our clock, with `skew` of tolerance (SPEC.md 7.2 rule 7)."""
    if "created" not in params:
        raise SignatureError('Signature is missing a required "created" parameter')
    now, tolerance = time.time(), skew.total_seconds()
    created = params["created"]
    if _instant(created, "created") > now + tolerance:
        raise SignatureError('Signature "created" parameter is set to a time in the future')
    if "expires" in params and _instant(params["expires"], "expires") < now - tolerance:
        raise SignatureError('Signature "expires" parameter is set to a time in the past')
    if created + MAX_AGE.total_seconds() < now - tolerance:
        raise SignatureError(f"Signature age exceeds maximum allowable age {MAX_AGE}")
    return int(created)


def _instant(value: int, name: str) -> int:
    try:
        datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise SignatureError(f'Malformed "{name}" parameter: {exc}') from None
    return value
