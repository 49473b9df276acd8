"""`praevnet shares ...`: four-eyes release of shares waiting for a second user, and the shares' history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.common import acting_user, emit, home_option, json_option, opened, print_table, short, user_option
from node.sharing.release import list_shares, pending_shares, reject_share, release_share


@click.group("shares")
def shares_group() -> None:
    """Shares waiting for release (when release.four_eyes = true in the node's config), and their history."""


@shares_group.command("pending")
@home_option
@json_option
def pending(home: Path | None, as_json: bool) -> None:
    """List shares waiting for a second user with the approver role.

    Each names the record (its title, kind and label), the peer it goes to, who asked, the version
    it asks to release, who made that version, and the SHA-256 of the signed envelope its release
    sends (the same as `records preview` shows). Listing signs (seals) that version if it was not
    yet, so these bytes are fixed; `shares release` must name both.
    """
    with opened(home) as node:
        items = pending_shares(node)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no shares waiting for release")
        for item in data:
            facts = [
                ("record", f"{item['record_id']} version {item['version']}, {item['tlp']}"),
                ("to", f"{item['peer_name'] or '?'} ({item['peer_id']}), {_scope(item)}"),
                (
                    "requested",
                    f"by {item['author']} on {item['created']}; version {item['version']} made by {item['made_by']}",
                ),
                ("sends", item["sha256"]),
                (
                    "release",
                    f"praevnet shares release {item['id']} --version {item['version']} --sha256 {item['sha256']}",
                ),
            ]
            click.echo(f'share {item["id"]}: {item["kind"]} "{short(item["title"], 70)}"')
            for name, value in facts:
                click.echo(f"  {name + ':':11} {value}")

    emit(items, as_json, human)


def _scope(item: dict[str, Any]) -> str:
    return f"network {item['network']}" if item["network"] else str(item["scope"])


@shares_group.command("list")
@home_option
@json_option
@click.option("--requested-by", "requested_by", metavar="NAME", default=None, help="Only shares this user requested.")
def list_(home: Path | None, as_json: bool, requested_by: str | None) -> None:
    """List every share of this node's records, oldest first, with its state and version.

    A share is pending, released, withdrawn, or voided: an edit made a newer version while it waited
    for release, so the version it asked for never left. Share the record again to send the new one.
    """
    with opened(home) as node:
        items = list_shares(node, requested_by=requested_by)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no shares")
            return
        print_table(
            ["ID", "KIND", "RECORD", "VERSION", "TO", "NODE ID", "SCOPE", "REQUESTED BY", "STATE"],
            (
                [
                    item["id"],
                    item["kind"],
                    item["record_id"],
                    f"v{item['version']}",
                    short(item["peer_name"] or "?", 25),
                    item["peer_id"],
                    _scope(item),
                    item["author"],
                    _state(item),
                ]
                for item in data
            ),
        )

    emit(items, as_json, human)


def _state(item: dict[str, Any]) -> str:
    if item["state"] == "voided":
        return f"voided by the edit to v{item['voided_by_version']} ({item['withdrawn_by']})"
    return str(item["state"])


@shares_group.command("release")
@home_option
@json_option
@user_option
@click.argument("share_id", type=int)
@click.option(
    "--version",
    "version",
    type=int,
    required=True,
    metavar="N",
    help="The version of the record the share asks to release, as `shares pending` shows it.",
)
@click.option(
    "--sha256",
    "sha256",
    required=True,
    metavar="DIGEST",
    help="The SHA-256 of the signed envelope the share sends (sha256:...), as `shares pending` shows it.",
)
def release(home: Path | None, as_json: bool, user: str | None, share_id: int, version: int, sha256: str) -> None:
    """Release pending share SHARE_ID: exactly the version and bytes you name go out to that peer.

    Give --version and --sha256 as `praevnet shares pending` lists them (check the bytes with
    `records preview`). The release is refused, and nothing is sent, if either is not what the
    share sends: an edit since then voids the share. Needs a named user with the approver role
    (--user NAME; the node's built-in administrator never releases), and a different user than the
    one who requested the share and the one who made that version, both named users too.
    """
    with opened(home) as node:
        outcome = release_share(node, share_id, version=version, sha256=sha256, by=acting_user(node, user))

    def human(d: dict[str, Any]) -> None:
        click.echo(f"released share {d['id']}: {d['record_id']} v{d['version']} ({d['sha256']}) to {d['peer_id']}")

    emit(outcome, as_json, human)


@shares_group.command("reject")
@home_option
@json_option
@user_option
@click.argument("share_id", type=int)
@click.option(
    "--comment",
    "comment",
    required=True,
    metavar="TEXT",
    help="Why it is rejected, for the user who requested it (`shares list` shows it); at most 1000 characters.",
)
def reject(home: Path | None, as_json: bool, user: str | None, share_id: int, comment: str) -> None:
    """Reject pending share SHARE_ID with a comment its author reads: nothing is sent for it.

    Needs a named user with the approver role (--user NAME), other than the one who requested the
    share. The share ends; its author may edit the record and share it again. A peer that already
    holds an earlier version keeps it.
    """
    with opened(home) as node:
        outcome = reject_share(node, share_id, comment=comment, by=acting_user(node, user))

    def human(d: dict[str, Any]) -> None:
        click.echo(f"rejected share {d['id']}: {d['record_id']} v{d['version']} to {d['peer_id']}")

    emit(outcome, as_json, human)
