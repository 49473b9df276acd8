"""`praevnet inbox ...`: what peers sent to this node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.common import acting_user, emit, home_option, json_option, opened, short, user_option
from node.exchange.received import history, list_inbox
from node.networks.forwarding import forward_received


@click.group("inbox")
def inbox_group() -> None:
    """Records and alerts received from peers."""


@inbox_group.command("list")
@home_option
@json_option
@click.option("--all", "include_lapsed", is_flag=True, help="Include expired alerts and retracted records.")
def list_(home: Path | None, as_json: bool, include_lapsed: bool) -> None:
    """List what peers sent (newest version of each): kind, id, origin, content, and whether it verifies."""
    with opened(home) as node:
        items = list_inbox(node, include_lapsed=include_lapsed)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("the inbox is empty")
        for item in data:
            mark = "verified" if item["verified"] else f"NOT VERIFIED ({item['problem']})"
            content = item["content"] or {}
            title = content.get("title") or content.get("headline")
            origin = item["origin_name"] or item["origin"]
            label = item["tlp"].removeprefix("TLP:")
            state = " (retracted)" if item["erased"] else ""
            click.echo(
                f"{item['kind']:10}  {item['id']} v{item['version']:<3} {label:12} from {short(origin, 25):25}"
                f"  {mark:8}  {short(title, 50)}{state}"
            )

    emit(items, as_json, human)


@inbox_group.command("history")
@home_option
@json_option
@click.argument("record_id")
def history_(home: Path | None, as_json: bool, record_id: str) -> None:
    """Show every version (and retraction) of a received record that this node holds."""
    with opened(home) as node:
        items = history(node, record_id)

    def human(data: list[dict[str, Any]]) -> None:
        for item in data:
            mark = "verified" if item["verified"] else f"NOT VERIFIED ({item['problem']})"
            what = "retraction" if item["kind"] == "retraction" else ("erased" if item["erased"] else "content")
            click.echo(f"v{item['version']:<3} {item['tlp']:17} {item['created']}  {what:10} {mark}")

    emit(items, as_json, human)


@inbox_group.command("forward")
@home_option
@json_option
@user_option
@click.option("--origin", metavar="NODE_ID", help="The origin, if records with this id came from several.")
@click.argument("record_id")
def forward(home: Path | None, as_json: bool, user: str | None, origin: str | None, record_id: str) -> None:
    """Pass a received TLP:GREEN or TLP:CLEAR network record on to the network's other members.

    The record leaves exactly as its origin signed it, within the network the origin shared it in.
    Other labels, records not shared within a network, retracted records and expired alerts are
    refused.
    """
    with opened(home) as node:
        outcome = forward_received(node, record_id, origin=origin, by=acting_user(node, user))

    def human(data: dict[str, Any]) -> None:
        count = len(data["recipients"])
        click.echo(f"{data['id']} v{data['version']} queued for {count} member(s) of network {data['network']}")

    emit(outcome, as_json, human)
