"""`praevnet sync`: pull now from every trusted peer, with a progress bar per peer on a terminal."""

from __future__ import annotations

import asyncio
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

import cli.main
from cli.common import emit, home_option, json_option, opened
from node.exchange.pull import sync as sync_now


@click.command()
@home_option
@json_option
def sync(home: Path | None, as_json: bool) -> None:
    """Pull now from every trusted peer what it shares with this node."""
    # Each peer's bar lives in its own ExitStack, closed when that peer is done; `every_bar` closes
    # whichever are still open if the sync raises (closing an ExitStack twice is harmless).
    bars: dict[str, tuple[Any, ExitStack]] = {}

    def progress(peer: str, received: int, remaining: int) -> None:
        if as_json or not sys.stderr.isatty() or (peer not in bars and remaining < cli.main.PROGRESS_FROM):
            return
        if peer not in bars:
            closer = every_bar.enter_context(ExitStack())
            bar = closer.enter_context(
                click.progressbar(length=received + remaining, label=f"pulling from {peer}", file=sys.stderr)
            )
            bars[peer] = (bar, closer)
            bar.update(received)
        else:
            bar = bars[peer][0]
            bar.length = received + remaining
            bar.update(received - bar.pos)
        if remaining == 0:
            bars.pop(peer)[1].close()

    with opened(home) as node, ExitStack() as every_bar:
        reports = asyncio.run(sync_now(node, progress))

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no trusted peers")
        for report in data:
            if "error" in report:
                click.echo(f"{report['name']}: failed: {report['error']}")
            else:
                counts = ", ".join(f"{report.get(k, 0)} {k}" for k in ("accepted", "duplicate", "refused"))
                click.echo(f"{report['name']}: {counts}")

    emit(reports, as_json, human)
    if any("error" in report for report in reports):
        sys.exit(1)
