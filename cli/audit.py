"""`praevnet audit ...`: the append-only, hash-chained audit log, for the data-protection officer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import click

from cli.common import emit, emit_json, home_option, json_option, opened
from node import audit
from node.errors import NodeError


@click.group("audit")
def audit_group() -> None:
    """The audit log: who did what with which record, and what left or arrived (append-only, hash-chained)."""


def _human(entries: list[dict[str, Any]]) -> None:
    if not entries:
        click.echo("the audit log is empty")
    for entry in entries:
        record = "-"
        if entry["record_id"] is not None:
            record = entry["record_id"] if entry["version"] is None else f"{entry['record_id']} v{entry['version']}"
        recipients = entry["recipients"]
        count = len(recipients) if isinstance(recipients, list) else "?"
        digest = (entry["digest"] or "-")[:19]
        click.echo(
            f"{entry['seq']:>6}  {entry['time']}  {entry['user']:12}  {entry['action']:16}  {record}"
            f"  {count} recipient(s)  {digest}"
        )


@audit_group.command("list")
@home_option
@json_option
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N", help="Only the newest N entries.")
@click.option("--record", "record_id", default=None, metavar="ID", help="Only entries about the record ID.")
def list_(home: Path | None, as_json: bool, limit: int | None, record_id: str | None) -> None:
    """List audit entries, oldest first: seq, time, user, action, record and version, recipients, digest."""
    with opened(home) as node:
        entries = audit.list_entries(node, limit=limit, record_id=record_id)
    emit(entries, as_json, _human)


@audit_group.command("verify")
@home_option
@json_option
def verify(home: Path | None, as_json: bool) -> None:
    """Recompute the hash chain and name every changed, inserted or deleted entry; exit 1 if there is any."""
    with opened(home) as node:
        problems = audit.verify(node)
        head = audit.head(node)
    entries = head["seq"] if head is not None else None
    if as_json:
        emit_json({"intact": not problems, "entries": entries, "head": head, "problems": problems})
    elif not problems:
        assert head is not None
        click.echo(f"audit log intact: {entries} entries, head {head['hash'][:12] or '(empty)'}")
    else:
        for problem in problems:
            click.echo(problem)
    if problems:
        raise click.ClickException(f"the audit log is not intact: {len(problems)} problem(s) found")


@audit_group.command("export")
@home_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    required=True,
    help="csv (one row per entry, header first) or json (with the node and the head).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Write to FILE (created with mode 0600; never overwritten) instead of standard output.",
)
def export(home: Path | None, fmt: Literal["csv", "json"], output: Path | None) -> None:
    """Export every audit entry with its hashes for the data-protection officer."""
    with opened(home) as node:
        text = audit.export(node, fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise NodeError(f"{output} already exists; refusing to overwrite it") from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    click.echo(f"exported the audit log to {output}")
