"""`praevnet backup FILE` and `praevnet restore FILE --home DIR`, thin over node.ops.backup and node.ops.restore."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cli.common import emit, home_option, json_option, resolve_home
from node.ops.archive import PASSPHRASE_ENV
from node.ops.backup import create_backup
from node.ops.restore import check_target, restore_backup


def _passphrase(confirm: bool) -> str:
    """The passphrase from PRAEVNET_BACKUP_PASSPHRASE, else asked at the terminal (twice for a new backup)."""
    given = os.environ.get(PASSPHRASE_ENV)
    if given is not None:
        return given
    try:
        return str(click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm, show_default=False))
    except click.Abort:  # end of input (no terminal) or Ctrl-C
        raise click.ClickException(f"no passphrase given; for an unattended run set {PASSPHRASE_ENV}") from None


@click.command("backup")
@home_option
@json_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup(home: Path | None, as_json: bool, file: Path) -> None:
    """Back up the node into the new FILE, encrypted with a passphrase (age format), while the node serves.

    FILE holds the database (a consistent copy), the node key, the keys after rotations, the keys of
    networks this node operates and praevnet.toml: everything `praevnet restore` needs. The passphrase
    is asked twice, or read from PRAEVNET_BACKUP_PASSPHRASE (at least 12 characters). FILE is created
    with mode 0600 and never overwritten. Keep the passphrase apart from the backups.
    """
    report = create_backup(resolve_home(home), file, _passphrase(confirm=True))

    def human(data: dict[str, object]) -> None:
        click.echo(f"backed up {data['name']} ({data['node_id']}) into {data['file']}")
        click.echo(f"  {data['bytes']} bytes, schema {data['schema']}, in {data['seconds']} s; sha256 {data['sha256']}")

    emit(report, as_json, human)


@click.command("restore")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The new home to restore into: a directory that does not exist yet, or is empty.",
)
@json_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore(home: Path, as_json: bool, file: Path) -> None:
    """Restore the backup FILE into a new node home (--home DIR), checked whole before anything is written.

    Refuses a home that holds anything (an existing node, running or not), a wrong passphrase
    (asked, or read from PRAEVNET_BACKUP_PASSPHRASE), a damaged or altered file, and a backup made by a
    newer praevnet. Start the restored node only once the node it was backed up from is stopped for
    good: before it sends anything new, it asks its peers how far its chain went after the backup.
    """
    check_target(home)  # before asking for the passphrase
    report = restore_backup(file, home, _passphrase(confirm=False))

    def human(data: dict[str, object]) -> None:
        click.echo(f"restored {data['name']} ({data['node_id']}) into {data['home']}")
        click.echo(f"  from a backup made {data['created']} (schema {data['schema']})")
        click.echo("  at its next start it asks its peers how far its chain went, before it sends anything new")

    emit(report, as_json, human)
