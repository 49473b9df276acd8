"""Where CPU time goes during a benchmark: per process group (Linux /proc), this process, and the whole machine.

The machine is shared (other work runs beside a benchmark), so a figure in wall-clock time is printed
beside the CPU time its own processes used and the CPU time everything else on the machine used meanwhile.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds every CPU of the machine has been busy so far (/proc/stat: all but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """This process's user + system CPU time so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Cpu:
    """CPU seconds used so far by named groups of processes, by this process, and by the whole machine."""

    groups: dict[str, float]
    bench: float
    machine: float

    @classmethod
    def now(cls, groups: dict[str, list[int]]) -> Cpu:
        """Read them now; `groups` names lists of process ids."""
        used = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}
        return cls(used, own_cpu(), machine_busy())

    def since(self, before: Cpu) -> Cpu:
        """What was used between `before` and this reading."""
        groups = {name: value - before.groups[name] for name, value in self.groups.items()}
        return Cpu(groups, self.bench - before.bench, self.machine - before.machine)

    def plus(self, other: Cpu) -> Cpu:
        """The sum of two spans."""
        groups = {name: value + other.groups[name] for name, value in self.groups.items()}
        return Cpu(groups, self.bench + other.bench, self.machine + other.machine)

    def describe(self, wall: float, unit: float = 1.0, label: str = "s") -> str:
        """Where the CPU time went (in `label`, seconds divided by `unit`), beside what the CPUs had in `wall` s."""
        others = max(0.0, self.machine - sum(self.groups.values()) - self.bench)
        parts = [f"{name} {value / unit:.2f} {label}" for name, value in self.groups.items()]
        parts += [f"bench {self.bench / unit:.2f} {label}", f"rest of the machine {others / unit:.2f} {label}"]
        return ", ".join(parts) + f", of {wall * (os.cpu_count() or 1) / unit:.2f} {label} the CPUs had"
