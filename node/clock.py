"""The node's clock: every module reads the current time through the one `clock` object here.

It reads the system clock, in UTC and timezone-aware. A test that needs another time puts another
source in its place (tests/conftest.py, fixture `clock`), and every module sees that time at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


def system_time() -> datetime:
    """The system's current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class Clock:
    """Where the current time comes from: `source`, the system clock unless replaced."""

    def __init__(self, source: Callable[[], datetime] = system_time) -> None:
        self.source = source

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        return self.source()

    def now_text(self) -> str:
        """The current time as stored in the database (ISO 8601, UTC, whole seconds)."""
        return self.now().isoformat(timespec="seconds").replace("+00:00", "Z")


clock = Clock()
