"""`praevnet demo`: run a local three-city federation and watch it exchange a record and an alert.

Each city serves its web interface too: cli may import web, node may not, so the interface's app
factory is handed to node.exchange.demo from here.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import click

from node.exchange.demo import run_demo
from web.app import create_ui_app


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to create the three nodes (default: a new temporary directory, removed on exit).",
)
def demo(directory: Path | None) -> None:
    """Start three city nodes on loopback, pair them, exchange a record and an alert; Ctrl-C stops.

    Each city's web interface starts too; the demo prints their addresses and the demo login.
    """
    base = directory or Path(tempfile.mkdtemp(prefix="praevnet-demo-"))
    if directory is not None and directory.exists() and any(directory.iterdir()):
        raise click.ClickException(f"{directory} is not empty; give a new or empty directory")
    click.echo(f"praevnet demo: three city nodes in {base}")

    async def forever() -> None:
        await asyncio.Event().wait()

    try:
        outcome = asyncio.run(run_demo(base, click.echo, hold=forever, ui=create_ui_app))
        if not outcome["arrived"]:
            raise click.ClickException("the exchange did not complete in time")
    except KeyboardInterrupt:
        click.echo("\nstopped")
    finally:
        if directory is None:
            shutil.rmtree(base, ignore_errors=True)
