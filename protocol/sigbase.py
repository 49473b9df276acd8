"""The signature base of RFC 9421 (section 2.5): each covered component of a message on its own line.

A request is seen through its method, its absolute URL and its header fields; a response through its
status, its header fields and the request it answers (the components marked `;req`). The derived
components of section 2.2 that need no decoding are derived here (`@method`, `@target-uri`,
`@authority`, `@scheme`, `@request-target`, `@path`, `@query`, `@status`), and header fields whole or
as one dictionary member (`;key`, section 2.1.2). Anything else (`@query-param`, `;sf`, `;bs`, `;tr`)
is refused by name rather than guessed at. Every refusal is a SignatureError naming the problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from ipaddress import IPv6Address
from typing import NamedTuple

from protocol.errors import SignatureError
from protocol.structured import Bare, Item, Params, parse_dictionary, ser_item, ser_member, ser_params

# RFC 3986, section 3: an absolute URL with a non-empty host, its parts kept as they are spelled.
_UNRESERVED = r"A-Za-z0-9._~\-"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://"
    rf"(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*@)?"
    r"(?P<host>"
    rf"\[(?P<ipv6>[0-9A-Fa-f:.]+)(?:%25(?:[{_UNRESERVED}]|{_PCT})+)?\]"
    rf"|\[[vV][0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+\]"
    rf"|(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})+"
    r")"
    r"(?::(?P<port>[0-9]*))?"
    rf"(?P<path>(?:/(?:{_PCHAR}|/)*)?)"
    rf"(?:\?(?P<query>(?:{_PCHAR}|[/?])*))?"
    rf"(?:#(?:{_PCHAR}|[/?])*)?"
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_FOLD = re.compile(r"[ \t]*\r\n[ \t]+")
_DERIVED = frozenset({"@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query"})
_FIELD_PARAMS = frozenset({"key", "sf", "bs", "tr"})


@dataclass(frozen=True)
class Url:
    """The parts of an absolute URL that derived components use (userinfo and fragment left out)."""

    scheme: str
    host: str
    port: str | None
    path: str
    query: str | None

    @property
    def authority(self) -> str:
        """Host and port as written."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def query_suffix(self) -> str:
        """`?` and the query, or nothing when the URL has no query."""
        return "" if self.query is None else "?" + self.query


def parse_url(url: str) -> Url:
    """Split an encoded absolute URL; SignatureError if it is not one (RFC 3986, a host required)."""
    match = _URL.fullmatch(url)
    if match is None:
        raise SignatureError("Invalid URL: expected an encoded absolute URL with a host")
    if match["ipv6"] is not None:
        try:
            IPv6Address(match["ipv6"])
        except ValueError:
            raise SignatureError("Invalid URL: invalid IPv6 address") from None
    return Url(match["scheme"], match["host"], match["port"], match["path"], match["query"])


def field_lines(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Header field lines by lower-case name, in order, each value trimmed and unfolded (RFC 9421 2.1)."""
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        line = value.strip(" \t") if "\r\n" not in value else _FOLD.sub(" ", value).strip(" \t")
        fields.setdefault(name.lower(), []).append(line)
    return fields


@dataclass
class Request:
    """A request as its signature sees it: method, absolute URL, header field lines by lower-case name."""

    method: str
    url: str
    fields: dict[str, list[str]] = field(default_factory=dict)

    @cached_property
    def parts(self) -> Url:
        """The URL's parts (SignatureError if the URL is malformed)."""
        return parse_url(self.url)


@dataclass
class Response:
    """A response as its signature sees it: status, header field lines, and the request it answers."""

    status: int
    fields: dict[str, list[str]]
    request: Request


Message = Request | Response


class SignatureBase(NamedTuple):
    """A signature base, the `@signature-params` value in it, and each covered component's value."""

    base: bytes
    signature_params: str
    """The serialised inner list with its parameters: what Signature-Input carries under the label."""
    values: dict[str, str]
    """The value of each covered component, by its serialised identifier."""


def signature_base(components: Sequence[Item], params: Params, message: Message) -> SignatureBase:
    """The signature base over `components` with signature parameters `params` (RFC 9421 2.5)."""
    _check_method(message.method if isinstance(message, Request) else message.request.method)
    lines = []
    values = {}
    seen = set()
    for name, item_params in components:
        if type(name) is not str:
            raise SignatureError("Component names must be Structured Field Strings")
        component = ser_item(name, item_params)
        identity = (name, frozenset(item_params.items()))  # parameter order does not matter (RFC 9421 2)
        if identity in seen:
            raise SignatureError(f"Component ID {component} appeared multiple times in signature input")
        seen.add(identity)
        if name != name.lower():
            raise SignatureError(f'Component ID "{name}" is not all lowercase')
        value = _resolve(name, item_params, message)
        _check_value(component, name, value)
        values[component] = value
        lines.append(f"{component}: {value}")
    try:
        signature_params = f"({' '.join(values)}){ser_params(params)}"
    except ValueError as exc:
        raise SignatureError(f"the signature parameters cannot be serialised: {exc}") from None
    lines.append(f'"@signature-params": {signature_params}')
    base = "\n".join(lines)
    if not base.isascii():
        raise SignatureError("Signature base contains non-ASCII characters")
    return SignatureBase(base.encode("ascii"), signature_params, values)


def _check_method(method: object) -> None:
    if not isinstance(method, str) or method != method.upper():
        raise SignatureError("HTTP request method must be an uppercase string")


def _check_value(component: str, name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise SignatureError(f"Component value for {component} contains newline character")
    if not value:
        return
    if name.startswith("@"):
        if not value.isprintable() or value[0] == " " or value[-1] == " ":
            raise SignatureError(f"Derived component {component} must be printable with no surrounding whitespace")
    elif not value.replace("\t", " ").isprintable():
        raise SignatureError(f"Field component {component} contains invalid control characters")


def _resolve(name: str, params: Params, message: Message) -> str:
    if "req" in params:  # a component of the request that a response answers (RFC 9421 2.4)
        if params["req"] is not True:
            raise SignatureError('The "req" parameter must be a Boolean flag')
        if not isinstance(message, Response):
            raise SignatureError('The "req" parameter is only valid in a response signature')
        return _resolve(name, {k: v for k, v in params.items() if k != "req"}, message.request)
    if name.startswith("@"):
        return _derived(name, params, message)
    return _field(name, params, message.fields)


def _derived(name: str, params: Params, message: Message) -> str:
    if name not in _DERIVED and name != "@status":
        if name == "@query-param":
            raise SignatureError('Component "@query-param" is not supported: cover the whole "@query"')
        raise SignatureError(f"Unknown covered derived component name {name}")
    if isinstance(message, Response) and name != "@status":
        raise SignatureError(f'Component "{name}" requires "req" in a response signature')
    if params:
        raise SignatureError(f'Component "{name}" takes no parameters, not {sorted(params)}')
    if isinstance(message, Response):
        return str(message.status)
    if name == "@status":
        raise SignatureError('Unexpected "@status" component in a request signature')
    return _from_url(name, message.method, message.parts)


def _from_url(name: str, method: str, url: Url) -> str:
    if name == "@method":
        return method
    path = url.path or "/"
    if name == "@target-uri":  # an OPTIONS request for the server as a whole keeps its empty path
        return f"{url.scheme}://{url.authority}{url.path if method == 'OPTIONS' else path}{url.query_suffix}"
    if name == "@authority":
        host, port, scheme = url.host.lower(), url.port, url.scheme.lower()
        if port and port.lstrip("0") == _DEFAULT_PORTS.get(scheme):
            port = None
        return f"{host}:{port}" if port else host
    if name == "@scheme":
        return url.scheme.lower()
    if name == "@request-target":
        return url.authority if method == "CONNECT" else path + url.query_suffix
    if name == "@path":
        return path
    return "?" + (url.query or "")  # @query


def _field(name: str, params: Params, fields: dict[str, list[str]]) -> str:
    lines = fields.get(name)
    if lines is None:
        raise SignatureError(f'Covered header field "{name}" not found in the message')
    unknown = set(params) - _FIELD_PARAMS
    if unknown:
        raise SignatureError(f'Unknown parameter(s) {sorted(unknown)} on covered field "{name}"')
    if name == "set-cookie" and len(lines) > 1:
        raise SignatureError('Multiple Set-Cookie field values require the "bs" parameter, which is not supported')
    unsupported = set(params) - {"key"}
    if unsupported:
        raise SignatureError(f'Parameter(s) {sorted(unsupported)} on covered field "{name}" are not supported')
    value = ", ".join(lines)
    if "key" in params:
        return _member(name, value, params["key"])
    return value


def _member(name: str, value: str, key: Bare) -> str:
    if not isinstance(key, str):
        raise SignatureError(f'The "key" parameter on covered field "{name}" must be a string')
    try:
        members = parse_dictionary(value)
    except ValueError:
        raise SignatureError(f'Covered field "{name}" is not a Dictionary Structured Field') from None
    if key not in members:
        raise SignatureError(f'Covered field "{name}" has no member "{key}"')
    return ser_member(members[key])  # what the parser gave always serialises
