"""`praevnet inbox ...`: what peers sent to this node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.common import emit, home_option, json_option, opened, short
from node.ingest import list_inbox


@click.group("inbox")
def inbox_group() -> None:
    """Records and alerts received from peers."""


@inbox_group.command("list")
@home_option
@json_option
def list_(home: Path | None, as_json: bool) -> None:
    """List what peers sent: kind, id, origin, content, and whether the origin's signature verifies."""
    with opened(home) as node:
        items = list_inbox(node)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("the inbox is empty")
        for item in data:
            mark = "verified" if item["verified"] else f"NOT VERIFIED ({item['problem']})"
            content = item["content"] or {}
            title = content.get("title") or content.get("headline")
            origin = item["origin_name"] or item["origin"]
            click.echo(f"{item['kind']:10}  {item['id']}  from {short(origin, 25):25}  {mark:8}  {short(title, 50)}")

    emit(items, as_json, human)
