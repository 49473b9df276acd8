"""`praevnet doctor`: check an installation, one line per check with OK, WARN or FAIL and what to do."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cli.common import emit, home_option, json_option, resolve_home
from node.ops.doctor import examine, report


@click.command("doctor")
@home_option
@json_option
def doctor(home: Path | None, as_json: bool) -> None:
    """Check this node's installation and say what to do about anything wrong; exit 1 if a check FAILs.

    Checks the modes of the home, its keys and database (private to the account), the configuration
    (file and PRAEVNET_ variables), the database's integrity and schema version, free disk space, the
    audit chain, queues that do not drain, forks, network certificates that expire, and over the
    network (a few seconds at most): the node's own public URL (not on a node that nobody can reach,
    `[node] pull_only = true`) and each peer's reachability, clock and descriptor. Changes nothing; the
    database is not migrated.
    """
    findings = examine(resolve_home(home))

    def human(data: dict[str, Any]) -> None:
        for finding in findings:
            click.echo(finding.line())
        counts = data["counts"]
        click.echo(f"{counts['OK']} OK, {counts['WARN']} WARN, {counts['FAIL']} FAIL")

    emit(report(findings), as_json, human)
    if any(finding.status == "FAIL" for finding in findings):
        sys.exit(1)
