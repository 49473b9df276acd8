"""Reading the files a person hands to the node (records, alerts, descriptors), strictly and bounded.

Records and alerts come as TOML (what `praevnet records template` and `records export` write:
comments allowed, long text in triple quotes) or as JSON. Either way the result must lie inside
the strict JSON profile of protocol.canonical: no floats, no huge integers, no duplicate keys.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from node.errors import NodeError
from protocol.canonical import check_profile, parse
from protocol.errors import ProtocolError

MAX_INPUT_BYTES = 1024 * 1024
_BOM = b"\xef\xbb\xbf"  # a byte order mark, as some Windows editors write it


def _read_bounded(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise NodeError(f"{path}: larger than 1 MiB")
        return path.read_bytes().removeprefix(_BOM)
    except OSError as exc:
        raise NodeError(f"cannot read {path}: {exc.strerror}") from None


def read_content_file(path: Path) -> Any:
    """Read a JSON file strictly (no duplicate keys, floats or huge integers); raise NodeError naming the problem.

    A file named *.toml, or any file not named *.json whose text does not start with `{`, is read as
    TOML instead (`parse_toml_content`).
    """
    data = _read_bounded(path)
    suffix = path.suffix.lower()
    if suffix == ".toml" or (suffix != ".json" and not data.lstrip().startswith(b"{")):
        return parse_toml_content(data, str(path))
    try:
        return parse(data)
    except ProtocolError as exc:
        raise NodeError(f"{path}: {exc}") from None


def parse_toml_content(data: bytes, where: str) -> dict[str, Any]:
    """Parse TOML record or alert text into JSON-profile content; raise NodeError naming `where` and the problem.

    A TOML date or time written without quotes becomes its ISO 8601 text (the content checks then say
    whether it has the form a field needs); floats and integers beyond +-(2^53-1) are refused.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NodeError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    _check_shallow(text, where)
    try:
        content: dict[str, Any] = _plain(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise NodeError(f"{where}: not valid TOML: {exc}") from None
    try:
        check_profile(content)
    except ProtocolError as exc:
        raise NodeError(f"{where}: {str(exc).removeprefix('$.')}") from None
    return content


MAX_TOML_NESTING = 16
"""How deep brackets and braces may nest, and how many parts a dotted key may have, in a TOML file.

Record content needs three at most. The bound comes before the parser: tomllib needs memory growing
with the square of a dotted key's length, and recursion for each bracket."""


def _check_shallow(text: str, where: str) -> None:
    """Refuse TOML whose brackets nest, or whose dotted keys run, deeper than MAX_TOML_NESTING.

    A linear scan that skips comments and strings as TOML reads them; NodeError names the line.
    """
    depth = dots = 0
    index, line = 0, 1
    while index < len(text):
        char = text[index]
        if char == "#":  # a comment, up to the end of its line
            index = text.find("\n", index)
            if index < 0:
                return
            continue
        if char in "\"'":
            start = index
            index = _string_end(text, index)
            line += text.count("\n", start, index)
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(depth - 1, 0)
        elif char == ".":
            dots += 1
        elif char in "=,\n":
            dots = 0
            line += char == "\n"
        if depth > MAX_TOML_NESTING or dots >= MAX_TOML_NESTING:
            raise NodeError(f"{where}: line {line} nests deeper than {MAX_TOML_NESTING} levels")
        index += 1


def _string_end(text: str, index: int) -> int:
    """Where the string starting at `index` (at its opening quote) ends: just after its closing quote, or
    at the end of its line for a one-line string left open (the parser then says what is wrong)."""
    quote = text[index]
    many = text.startswith(quote * 3, index)
    index += 3 if many else 1
    while index < len(text):
        char = text[index]
        if char == "\\" and quote == '"':
            index += 2
        elif char == "\n" and not many:
            return index
        elif char == quote and (not many or text.startswith(quote * 3, index)):
            index += 3 if many else 1
            while many and index < len(text) and text[index] == quote:  # up to two quotes end the text itself
                index += 1
            return index
        else:
            index += 1
    return len(text)


def _plain(value: Any) -> Any:
    """TOML values as JSON values: dates and times become their ISO 8601 text."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value
