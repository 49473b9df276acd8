"""Dates as officers type and read them: German style ("31.12.2026 18:00") in the office's time zone.

Stored and sent as ISO 8601 with an offset; shown in Europe/Berlin, the zone of the cities served.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from web import i18n

ZONE = ZoneInfo("Europe/Berlin")
_GERMAN = re.compile(r"\s*(\d{1,2})\.(\d{1,2})\.(\d{4})(?:,?\s+(\d{1,2})[:.](\d{2}))?\s*")


def localtime(value: str | None) -> str:
    """An ISO 8601 timestamp as the current language writes it, in the office's time zone; "" for none."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    pattern = "dd.MM.yyyy HH:mm" if i18n.current_language.get() == "de" else "yyyy-MM-dd HH:mm"
    return format_datetime(moment.astimezone(ZONE), pattern, locale=i18n.current_language.get())


def parse_local(text: str) -> datetime:
    """A typed date and time ("31.12.2026 18:00", "31.12.2026", or ISO 8601) as an aware datetime.

    A date without a time means the end of that day; a time without an offset is the office's time.
    Raises ValueError when the text is none of these.
    """
    match = _GERMAN.fullmatch(text)
    if match:
        day, month, year, hour, minute = match.groups()
        if hour is None:
            hour, minute = "23", "59"
        return datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=ZONE)
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZONE)
