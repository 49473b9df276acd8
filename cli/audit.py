"""`praevnet audit ...`: the append-only, hash-chained audit log, for the data-protection officer."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import click

from cli.common import F, emit, emit_json, home_option, json_option, opened, print_table
from node import audit, checkpoints
from node.errors import NodeError


@click.group("audit")
def audit_group() -> None:
    """The audit log: who did what with which record, and what left or arrived (append-only, hash-chained)."""


def _human(entries: list[dict[str, Any]]) -> None:
    if not entries:
        click.echo("the audit log is empty")
        return
    lines = []
    for entry in entries:
        record = "-"
        if entry["record_id"] is not None:
            record = entry["record_id"] if entry["version"] is None else f"{entry['record_id']} v{entry['version']}"
        recipients = entry["recipients"]
        count = len(recipients) if isinstance(recipients, list) else "?"
        lines.append(
            [entry["seq"], entry["time"], entry["user"], entry["action"], record, count, (entry["digest"] or "-")[:19]]
        )
    print_table(["SEQ", "TIME", "USER", "ACTION", "RECORD", "RECIPIENTS", "DIGEST"], lines)


def _output_option(what: str) -> Callable[[F], F]:
    """--output FILE: write there (a new file, mode 0600) instead of standard output."""
    return click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        metavar="FILE",
        help=f"{what} (created with mode 0600; never overwritten) instead of standard output.",
    )


def _write(output: Path | None, produce: Callable[[], str], done: str) -> None:
    """Print what `produce` returns, or write it to `output`, a new file, and say so.

    The file is created first, so that nothing is produced (a checkpoint stored) for a file that
    cannot be written; if `produce` fails, the file is removed again.
    """
    if output is None:
        click.echo(produce(), nl=False)
        return
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise NodeError(f"{output} already exists; refusing to overwrite it") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(produce())
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    click.echo(f"{done} {output}")


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
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help=(
        "Also prove that nothing up to this checkpoint (from `praevnet audit checkpoint`, kept outside"
        " the node) was removed or changed: its signature, node and entry must match the log."
    ),
)
def verify(home: Path | None, as_json: bool, checkpoint_file: Path | None) -> None:
    """Recompute the hash chain and name every changed, inserted or deleted entry; exit 1 if there is any.

    The checkpoints kept in the database are checked too. Without --checkpoint a log cut at its end
    together with its head (and those checkpoints) looks intact: only a checkpoint kept elsewhere shows it.
    """
    with opened(home) as node:
        given = None if checkpoint_file is None else checkpoints.load(node, checkpoint_file)
        problems = checkpoints.verify(node, given)
        head = audit.head(node)
    entries = head["seq"] if head is not None else None
    vouched = None if given is None else given.seq
    if as_json:
        report = {"intact": not problems, "entries": entries, "head": head, "problems": problems}
        emit_json(report if vouched is None else {**report, "checkpoint": vouched})
    elif not problems and head is not None:
        holds = "" if vouched is None else f"; it holds entry {vouched} of the checkpoint unchanged"
        click.echo(f"audit log intact: {entries} entries, head {head['hash'][:12] or '(empty)'}{holds}")
    else:
        for problem in problems:
            click.echo(problem)
    if problems:
        raise click.ClickException(f"the audit log is not intact: {len(problems)} problem(s) found")


@audit_group.command("checkpoint")
@home_option
@_output_option("Write the checkpoint to FILE")
def checkpoint(home: Path | None, output: Path | None) -> None:
    """Sign a checkpoint of the audit log's head (seq, hash, node, time) with the node key and print it.

    Keep it outside the node (mail it, store it on another system): `praevnet audit verify --checkpoint
    FILE` later proves that nothing up to that entry was removed or changed.
    """
    with opened(home) as node:
        _write(output, lambda: json.dumps(checkpoints.make(node), indent=2) + "\n", "wrote the checkpoint to")


@audit_group.command("export")
@home_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    required=True,
    help="csv (one row per entry, header first) or json (with the node and the head).",
)
@_output_option("Write to FILE")
def export(home: Path | None, fmt: Literal["csv", "json"], output: Path | None) -> None:
    """Export every audit entry with its hashes for the data-protection officer."""
    with opened(home) as node:
        _write(output, lambda: audit.export(node, fmt), "exported the audit log to")
