"""`praevnet records template|export`: files to write a record or alert in, and to edit an own record in."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click

from cli.common import home_option, opened
from node.sharing.record_files import export_record, template
from protocol.records import Kind


@click.command("template")
@home_option
@click.argument("kind", type=click.Choice(["experience", "alert"]))
def template_(home: Path | None, kind: str) -> None:
    """Print a commented starting file (TOML) for a new experience record or alert.

    It lists every field with its German label, what it is for and the values it allows; the
    required fields are ready to fill in, the optional ones are commented out. Save it, fill it in,
    and store it:

        praevnet records template experience > bericht.toml

        praevnet records add bericht.toml

    An alert goes out with `praevnet alerts send warnung.toml --to PEER`.
    """
    with opened(home) as node:
        text = template(cast("Kind", kind), threshold=node.config.alerts.small_number_threshold)
    click.echo(text, nl=False)


@click.command("export")
@home_option
@click.argument("record_id")
def export(home: Path | None, record_id: str) -> None:
    """Print RECORD_ID's current content (record or alert) as an editable file (TOML) for `records edit`.

    Local fields are included and marked. Storing the file unchanged makes a new version with the
    same content:

        praevnet records export RECORD_ID > bericht.toml

        praevnet records edit RECORD_ID bericht.toml
    """
    with opened(home) as node:
        text = export_record(node, record_id)
    click.echo(text, nl=False)


FILE_COMMANDS = (template_, export)
"""The commands this module adds to the `records` group."""
