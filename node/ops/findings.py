"""What `praevnet doctor` finds: one Finding per check (OK, WARN or FAIL, what was found, what to do),
and the Limits where its checks draw their lines."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Literal

Status = Literal["OK", "WARN", "FAIL"]
OK: Status = "OK"
WARN: Status = "WARN"
FAIL: Status = "FAIL"


@dataclass(frozen=True)
class Finding:
    """The outcome of one check: its name, OK/WARN/FAIL, what was found and (unless OK) what to do."""

    check: str
    status: Status
    message: str
    advice: str = ""

    def line(self) -> str:
        """The finding as one line: `FAIL  check: message -> advice`."""
        advice = f" -> {self.advice}" if self.advice else ""
        return f"{self.status:<4}  {self.check}: {self.message}{advice}"

    def as_dict(self) -> dict[str, str]:
        """The finding as JSON: check, status, message, advice."""
        return asdict(self)


@dataclass(frozen=True)
class Limits:
    """Where the checks draw their lines (tests narrow them; the defaults are what an administrator gets)."""

    skew_warn: float = 2.0  # seconds between a peer's clock and ours
    skew_fail: float = 5.0  # signatures dated more than 5 s ahead are refused as "in the future"
    timeout: float = 5.0  # seconds each check over the network may take
    queue_warn: timedelta = timedelta(hours=1)  # the oldest envelope still waiting for a peer
    queue_fail: timedelta = timedelta(days=1)
    failures_warn: int = 3  # failed deliveries to a peer in a row
    certificate_warn: timedelta = timedelta(days=30)  # a network membership certificate that expires sooner
    revocations_warn: timedelta = timedelta(days=7)  # a network's revocation list that expires sooner
    descriptor_warn: timedelta = timedelta(days=1)  # a served descriptor that expires sooner
    disk_warn: int = 2 * 1024**3  # bytes free on the home's file system
    disk_fail: int = 512 * 1024**2
