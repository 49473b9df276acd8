"""`praevnet records ...` and `praevnet alerts ...`: the officer's own records and alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.common import emit, emit_json, home_option, json_option, opened, short
from node.records import add_record, get_record, list_records, read_content_file, send_alert, share_record

to_option = click.option("--to", "to", multiple=True, metavar="NODE_ID", help="A recipient peer (repeatable).")
all_peers_option = click.option("--all-peers", is_flag=True, help="Every trusted peer.")


@click.group("records")
def records_group() -> None:
    """Experience records (Erfahrungsberichte) of this node."""


@records_group.command("add")
@home_option
@json_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def add(home: Path | None, as_json: bool, file: Path) -> None:
    """Store the experience record in FILE (JSON) locally and print its id; nothing is shared yet."""
    with opened(home) as node:
        record_id = add_record(node, "experience", read_content_file(file))
    emit({"id": record_id}, as_json, lambda d: click.echo(d["id"]))


def _list_human(data: list[dict[str, Any]], title_field: str) -> None:
    if not data:
        click.echo("nothing here yet")
    for item in data:
        shared = f"shared with {len(item['shared_with'])}" if item["shared_with"] else "local"
        click.echo(f"{item['id']}  {item['created']}  {shared:16}  {short(item['content'].get(title_field))}")


@records_group.command("list")
@home_option
@json_option
def list_(home: Path | None, as_json: bool) -> None:
    """List this node's experience records."""
    with opened(home) as node:
        items = list_records(node, "experience")
    emit(items, as_json, lambda d: _list_human(d, "title"))


@records_group.command("show")
@home_option
@json_option
@click.argument("record_id")
def show(home: Path | None, as_json: bool, record_id: str) -> None:
    """Show one record, including its local fields and who it was shared with."""
    with opened(home) as node:
        item = get_record(node, record_id)
    emit(item, as_json, emit_json)


@records_group.command("share")
@home_option
@click.argument("record_id")
@to_option
@all_peers_option
def share(home: Path | None, record_id: str, to: tuple[str, ...], all_peers: bool) -> None:
    """Sign RECORD_ID and share it with the named peers or all trusted peers (local fields stay here)."""
    with opened(home) as node:
        recipients = share_record(node, record_id, to, all_peers)
    click.echo(f"shared {record_id} with {len(recipients)} peer(s): {', '.join(recipients)}")


@click.group("alerts")
def alerts_group() -> None:
    """Early-warning alerts (Frühwarnmeldungen)."""


@alerts_group.command("send")
@home_option
@json_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@to_option
@all_peers_option
def send(home: Path | None, as_json: bool, file: Path, to: tuple[str, ...], all_peers: bool) -> None:
    """Sign the alert in FILE (JSON) and send it to the named peers or all trusted peers."""
    with opened(home) as node:
        alert_id, recipients = send_alert(node, read_content_file(file), to, all_peers)
    emit(
        {"id": alert_id, "recipients": recipients},
        as_json,
        lambda d: click.echo(f"{d['id']}  sent to {len(d['recipients'])} peer(s)"),
    )


@alerts_group.command("list")
@home_option
@json_option
def alerts_list(home: Path | None, as_json: bool) -> None:
    """List this node's alerts."""
    with opened(home) as node:
        items = list_records(node, "alert")
    emit(items, as_json, lambda d: _list_human(d, "headline"))
