"""`praevnet shares ...`: four-eyes release of shares waiting for a second user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.common import acting_user, emit, home_option, json_option, opened, user_option
from node.sharing.shares import pending_shares, release_share


@click.group("shares")
def shares_group() -> None:
    """Shares waiting for release (when release.four_eyes = true in the node's config)."""


@shares_group.command("pending")
@home_option
@json_option
def pending(home: Path | None, as_json: bool) -> None:
    """List shares waiting for a second user with the approver role."""
    with opened(home) as node:
        items = pending_shares(node)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no shares waiting for release")
        for item in data:
            peer = item["peer_name"] or item["peer_id"]
            click.echo(
                f"{item['id']:>5}  {item['kind']:10} {item['record_id']} v{item['version']} {item['tlp']:17}"
                f" to {peer} ({item['scope']}), requested by {item['author']} {item['created']}"
            )

    emit(items, as_json, human)


@shares_group.command("release")
@home_option
@json_option
@user_option
@click.argument("share_id", type=int)
def release(home: Path | None, as_json: bool, user: str | None, share_id: int) -> None:
    """Release pending share SHARE_ID: its record's current version goes out to that peer.

    Needs the approver role, and a different user than the one who requested the share.
    """
    with opened(home) as node:
        outcome = release_share(node, share_id, by=acting_user(node, user))

    def human(d: dict[str, Any]) -> None:
        click.echo(f"released share {d['id']}: {d['record_id']} v{d['version']} to {d['peer_id']}")

    emit(outcome, as_json, human)
