"""The node's log lines: one JSON object per line for the journal and log collectors, readable text on a terminal.

Every line has a time, a level, an event name and a short message; structured fields (the peer's
node id and city name, record id, transaction id, outcome, reason, duration, counts) come from
`extra=` and only the names in FIELDS are written, so nothing else a caller hands over can slip
into a line. Messages name peers as `Bonn (node id)` (`PeerName`). What is never logged: record and
alert content, local fields, invitation codes, passwords, keys, session cookies. Log calls pass ids,
names, counts and reasons, never an envelope or a content value.

aiohttp logs a malformed HTTP request with its offending bytes and a traceback; `configure` turns
that into one line at info level naming the client and the refusal, without the bytes.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

FORMATS = ("auto", "json", "text")
"""`auto`: JSON unless the stream is a terminal."""
LEVELS = ("debug", "info", "warning", "error")
FIELDS = (
    "event",
    "peer",
    "peer_name",
    "record_id",
    "txn_id",
    "outcome",
    "reason",
    "status",
    "duration",
    "count",
    "accepted",
    "duplicate",
    "refused",
    "finished",
    "handed_back",
    "version",
    "home",
    "listen",
    "peers",
    "method",
    "route",
    "remote",
)
"""The structured fields a line may carry (from `extra=`); any other attribute is left out."""
_SHOWN_IN_TEXT = ("txn_id", "record_id", "outcome", "duration")
_MAX_REASON = 300  # characters of a reason written at most


@dataclass(frozen=True)
class PeerName:
    """A peer as log lines name it: its city name next to its node id (only the id when the name is unknown)."""

    node_id: str
    name: str | None = None

    def __str__(self) -> str:
        return f"{self.name} ({self.node_id})" if self.name else self.node_id

    def fields(self, **more: Any) -> dict[str, Any]:
        """`extra=` fields naming this peer, with `more` (event, txn_id, outcome, ...)."""
        return {"peer": self.node_id, "peer_name": self.name, **more}


def short_reason(text: object) -> str:
    """A refusal's reason as logged: on one line and at most a few hundred characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 1] + "…"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    found = {name: getattr(record, name) for name in FIELDS if getattr(record, name, None) is not None}
    if isinstance(found.get("duration"), float):
        found["duration"] = round(found["duration"], 3)
    return found


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, event, logger, message, the FIELDS present and any error."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", None) or record.name,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({name: value for name, value in _fields(record).items() if name != "event"})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """A line for people: time, LEVEL, logger, message, then transaction, record, outcome and duration if known."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as readable text (a traceback follows on its own lines)."""
        stamp = datetime.fromtimestamp(record.created).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        fields = _fields(record)
        shown = " ".join(f"{name.removesuffix('_id')}={fields[name]}" for name in _SHOWN_IN_TEXT if name in fields)
        line = f"{stamp} {record.levelname} {record.name}: {record.getMessage()}" + (f" [{shown}]" if shown else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _MalformedRequests(logging.Filter):
    """aiohttp's "Error handling request" for a request it could not parse, as one quiet refusal line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if record.name != "aiohttp.server" or exc is None:
            return True
        # Imported here, where aiohttp already runs, so that commands without a server (`praevnet id`)
        # start without loading aiohttp.
        from aiohttp.http_exceptions import HttpProcessingError

        if isinstance(exc, HttpProcessingError):
            record.remote = record.args[0] if isinstance(record.args, tuple) and record.args else None
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "refused a malformed HTTP request", ()
            record.exc_info, record.exc_text = None, None
            record.event = "http.malformed"
            record.status = getattr(exc, "code", 400)
            return logging.getLogger().isEnabledFor(logging.INFO)
        return True


def choose_format(name: str, stream: IO[str]) -> str:
    """`json` or `text` for a --log-format / [log] format value (`auto`: text only on a terminal)."""
    if name == "auto":
        return "text" if stream.isatty() else "json"
    return name


def configure(format_name: str, level: str, stream: IO[str] | None = None) -> None:
    """Send every log line of this process (praevnet's and its libraries') to `stream` (default stderr)."""
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if choose_format(format_name, out) == "json" else TextFormatter())
    handler.addFilter(_MalformedRequests())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
