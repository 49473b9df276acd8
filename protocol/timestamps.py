"""RFC 3339 timestamps with an explicit UTC offset, as used in envelopes and alerts."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from protocol.errors import ProtocolError

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")


def parse_timestamp(text: object) -> datetime:
    """Parse an RFC 3339 date-time that carries `Z` or a numeric offset; raise ProtocolError otherwise."""
    if not isinstance(text, str) or not _RFC3339.match(text):
        raise ProtocolError(f"{text!r} is not an ISO 8601 date-time with a UTC offset")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ProtocolError(f"{text!r} is not a valid date-time") from None


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as UTC with second precision, e.g. `2026-11-22T08:00:00Z`."""
    if moment.tzinfo is None:
        raise ProtocolError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
