"""`praevnet doctor`: check an installation the way an administrator would, one finding per check.

Each finding says OK, WARN or FAIL, what was found and what to do. The home is looked at first
without opening the node, so that nothing is changed (no migration runs): file modes, the
configuration, the database's integrity and its schema version (node.ops.doctor_files). Only if
all of these allow it is the node opened for the audit chain, the queues, forks and certificates
(node.ops.doctor_state), and for the checks over the network (node.ops.doctor_reach): each peer's
reachability, its clock and descriptor, and the node's own public URL (unless the node is pull-only,
`[node] pull_only`), all peers at once with short timeouts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from node.errors import NodeError
from node.home import Node
from node.ops.doctor_files import examine_home
from node.ops.doctor_reach import examine_reach
from node.ops.doctor_state import examine_state
from node.ops.findings import FAIL, OK, WARN, Finding, Limits


def examine(home: Path, limits: Limits | None = None) -> list[Finding]:
    """Every check on the node in `home`, in order; the node is opened only if the home allows it.

    The configuration is read with the process's PRAEVNET_SECTION__KEY variables, as `serve` reads it.
    """
    limits = limits or Limits()
    findings = examine_home(home, limits)
    if [finding.check for finding in findings] == ["home"]:
        return findings  # no node there at all
    blocked = [f for f in findings if f.status == FAIL or (f.check == "schema" and f.status != OK)]
    if blocked:
        named = ", ".join(sorted({finding.check for finding in blocked}))
        skipped = Finding(
            "node",
            WARN,
            "not opened, so the audit chain, peers, queues and certificates were not checked",
            f"fix what is named above ({named}), then run `praevnet doctor` again",
        )
        return [*findings, skipped]
    try:
        node = Node.open(home)
    except NodeError as exc:
        return [*findings, Finding("node", FAIL, f"cannot be opened: {exc}", "restore what it names from the backup")]
    try:
        findings += examine_state(node, limits)
        findings += asyncio.run(examine_reach(node, limits))
    finally:
        node.close()
    return findings


def report(findings: list[Finding]) -> dict[str, Any]:
    """The findings as JSON: `ok` (nothing FAILed), counts by status, and every check."""
    counts = {status: sum(1 for f in findings if f.status == status) for status in (OK, WARN, FAIL)}
    return {"ok": counts[FAIL] == 0, "counts": counts, "checks": [finding.as_dict() for finding in findings]}
