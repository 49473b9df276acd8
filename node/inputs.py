"""Reading the JSON files a person hands to the node (records, alerts, descriptors), strictly and bounded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from node.errors import NodeError
from protocol.canonical import parse
from protocol.errors import ProtocolError

MAX_INPUT_BYTES = 1024 * 1024


def read_content_file(path: Path) -> Any:
    """Read a JSON file strictly (no duplicate keys, floats or huge integers); raise NodeError naming the problem."""
    try:
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise NodeError(f"{path}: larger than 1 MiB")
        data = path.read_bytes()
    except OSError as exc:
        raise NodeError(f"cannot read {path}: {exc.strerror}") from None
    data = data.removeprefix(b"\xef\xbb\xbf")  # a byte order mark, as some Windows editors write it
    try:
        return parse(data)
    except ProtocolError as exc:
        raise NodeError(f"{path}: {exc}") from None
