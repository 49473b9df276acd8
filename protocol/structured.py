"""Structured field values (RFC 9651, formerly RFC 8941) as HTTP message signatures use them.

Parsing is http_sf's: no field is taken apart by hand here. Serialising is written out for the shapes a
signature needs (strings, integers, booleans, byte sequences, their parameters, inner lists and
dictionaries), because http_sf's general serialiser costs as much as the Ed25519 signature it travels
with; any other bare item (tokens, decimals, dates, display strings) goes to http_sf's own serialiser.
The tests check both serialisers against each other.
"""

from __future__ import annotations

import base64
import re
from typing import Any, cast

import http_sf
from http_sf.bare_item import ser_bare_item

Bare = Any
"""A bare item as http_sf parses it: str, int, bool, bytes, Decimal, Token, DisplayString or datetime."""
Params = dict[str, Bare]
Item = tuple[Bare, Params]
InnerList = tuple[list[Item], Params]
Member = Item | InnerList

MAX_INTEGER = 999_999_999_999_999
_STRING = re.compile(r"[\x20-\x7e]*")
_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_COMMON_KEYS = frozenset({"created", "expires", "keyid", "alg", "nonce", "tag", "req", "key"})  # valid keys


def parse_dictionary(text: str, *, unique: bool = False) -> dict[str, Member]:
    """Parse a Dictionary field value; ValueError naming the problem if it is not one.

    With `unique`, a key that appears twice is refused; otherwise the last one wins (RFC 9651).
    """

    def duplicate(key: str, context: str) -> None:
        if context == "dictionary":
            raise ValueError(f"{key!r} appears twice")

    parsed = http_sf.parse(text.encode(), tltype="dictionary", on_duplicate_key=duplicate if unique else None)
    return cast(dict[str, Member], parsed)


def parse_item(text: str) -> Item:
    """Parse an Item field value (a bare item and its parameters); ValueError if it is not one."""
    return cast(Item, http_sf.parse(text.encode(), tltype="item"))


def is_inner_list(member: Member) -> bool:
    """Whether a parsed dictionary member is an inner list (else it is an item)."""
    return isinstance(member[0], list)


def ser_key(key: str) -> str:
    """A dictionary or parameter key; ValueError if it is not a valid key."""
    if key in _COMMON_KEYS:
        return key
    if type(key) is not str or not _KEY.fullmatch(key):
        raise ValueError(f"not a structured field key: {key!r}")
    return key


def ser_bare(value: Bare) -> str:
    """One bare item; ValueError if the value cannot be serialised (a string outside printable ASCII, say)."""
    kind = type(value)
    if kind is str:
        if not _STRING.fullmatch(value):
            raise ValueError("a structured field string holds printable ASCII only")
        text: str = value
        if '"' in text or "\\" in text:
            text = text.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{text}"'
    if kind is bool:
        return "?1" if value else "?0"
    if kind is int:
        if not -MAX_INTEGER <= value <= MAX_INTEGER:
            raise ValueError("a structured field integer has at most 15 digits")
        return str(value)
    if kind is bytes:
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    return ser_bare_item(value)


def ser_params(params: Params) -> str:
    """Parameters, each `;key` or `;key=value` (a true boolean is the key alone)."""
    if not params:
        return ""
    return "".join(f";{ser_key(k)}" if v is True else f";{ser_key(k)}={ser_bare(v)}" for k, v in params.items())


def ser_item(value: Bare, params: Params) -> str:
    """An item: a bare item and its parameters."""
    return ser_bare(value) + ser_params(params)


def ser_inner_list(items: list[Item], params: Params) -> str:
    """An inner list of items, with the list's own parameters."""
    return "(" + " ".join(ser_item(value, item_params) for value, item_params in items) + ")" + ser_params(params)


def ser_member(member: Member) -> str:
    """A dictionary member's value: an item or an inner list, with its parameters."""
    if is_inner_list(member):
        return ser_inner_list(*cast(InnerList, member))
    return ser_item(*member)


def ser_dictionary(members: dict[str, Member]) -> str:
    """A Dictionary field value of at least one member."""
    if not members:
        raise ValueError("an empty dictionary is not serialised")
    return ", ".join(_ser_dictionary_member(key, member) for key, member in members.items())


def _ser_dictionary_member(key: str, member: Member) -> str:
    if member[0] is True:  # a true boolean member is its key alone, with the parameters
        return ser_key(key) + ser_params(member[1])
    return f"{ser_key(key)}={ser_member(member)}"
