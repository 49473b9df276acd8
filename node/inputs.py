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
    try:
        content: dict[str, Any] = _plain(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise NodeError(f"{where}: not valid TOML: {exc}") from None
    try:
        check_profile(content)
    except ProtocolError as exc:
        raise NodeError(f"{where}: {str(exc).removeprefix('$.')}") from None
    return content


def _plain(value: Any) -> Any:
    """TOML values as JSON values: dates and times become their ISO 8601 text."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value
