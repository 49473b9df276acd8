"""`praevnet invite ...`: pair with another city in one step by a one-time invitation code."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from cli.common import acting_user, emit, home_option, json_option, opened, print_table, user_option
from node.errors import NodeError
from node.trust.invites import (
    DEFAULT_LIFETIME,
    accept_invitation,
    create_invitation,
    list_invitations,
    parse_lifetime,
    revoke_invitation,
)
from protocol.invite import parse_code


@click.group("invite")
def invite_group() -> None:
    """Pair with another city in one step: one node makes a one-time code, the other accepts it."""


@invite_group.command("create")
@home_option
@user_option
@json_option
@click.option(
    "--expires",
    "lifetime",
    default=DEFAULT_LIFETIME,
    show_default=True,
    metavar="DURATION",
    help="How long the code stays valid: minutes, hours or days (30m, 12h, 7d), at most 30 days.",
)
def create(home: Path | None, user: str | None, as_json: bool, lifetime: str) -> None:
    """Make a one-time invitation code carrying this node's URL, fingerprint and a secret.

    Give the code to the other city's officer over a channel you trust: whoever holds it can pair
    with this node, once, until it expires. The other node runs `praevnet invite accept CODE`; then
    both officers compare the safety number with `praevnet peers verify NODE_ID`.
    """
    duration = parse_lifetime(lifetime)
    with opened(home) as node:
        code = create_invitation(node, duration, by=acting_user(node, user))
    invitation = parse_code(code)
    data = {
        "code": code,
        "expires": invitation.expires_text,
        "url": invitation.url,
        "node_id": invitation.node_id,
        "fingerprint": invitation.fingerprint,
    }

    def human(item: dict[str, str]) -> None:
        click.echo(item["code"])
        click.echo(
            f"one-time invitation valid until {item['expires']}; the other city runs `praevnet invite accept CODE`",
            err=True,
        )

    emit(data, as_json, human)


@invite_group.command("list")
@home_option
@json_option
@click.option("--open", "only_open", is_flag=True, help="Only the invitations that can still be accepted.")
def list_(home: Path | None, as_json: bool, only_open: bool) -> None:
    """List this node's invitations: open, used (and by which node), revoked or expired. Codes are never shown again."""
    with opened(home) as node:
        items = list_invitations(node, only_open=only_open)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no open invitations" if only_open else "no invitations")
            click.echo("make one with `praevnet invite create`")
            return
        lines = []
        for item in data:
            used = f"used by {item['used_by']} at {item['used_at']}" if item["used_by"] else ""
            revoked = f"revoked {item['revoked']} by {item['revoked_by']}" if item["revoked"] else ""
            lines.append(
                [item["id"], item["state"], item["created"], item["created_by"], item["expires"], f"{used} {revoked}"]
            )
        print_table(["ID", "STATE", "CREATED", "BY", "EXPIRES", "USED / REVOKED"], lines)

    emit(items, as_json, human)


@invite_group.command("revoke")
@home_option
@user_option
@json_option
@click.argument("invitation_id", metavar="ID", type=int)
def revoke(home: Path | None, user: str | None, as_json: bool, invitation_id: int) -> None:
    """Revoke the open invitation ID (see `praevnet invite list`): its code can never be accepted afterwards.

    A used invitation cannot be revoked; to stop trusting the node that used it, run
    `praevnet peers remove NODE_ID`.
    """
    with opened(home) as node:
        item = revoke_invitation(node, invitation_id, by=acting_user(node, user))
    emit(item, as_json, lambda d: click.echo(f"revoked invitation {d['id']}; its code can no longer be accepted"))


@invite_group.command("accept")
@home_option
@user_option
@json_option
@click.argument("code")
@click.option(
    "--pull-only",
    is_flag=True,
    help="This node cannot be reached from outside: the inviting node never pushes to it; it pulls.",
)
def accept(home: Path | None, user: str | None, as_json: bool, code: str, pull_only: bool) -> None:
    """Pair with the node that made the invitation CODE (`-` reads it from standard input).

    Checks that the node at the code's URL has the code's fingerprint, then both nodes trust each
    other. Any mismatch or refusal changes nothing here. If the answer is lost on the way, run the
    same command again: the code works again for this node (and no other) until it expires.
    """
    if code == "-":
        code = sys.stdin.readline()
        if not code.strip():
            raise NodeError("no invitation code on standard input")
    with opened(home) as node:
        peer = asyncio.run(accept_invitation(node, code, pull_only=pull_only, by=acting_user(node, user)))

    def human(item: dict[str, Any]) -> None:
        click.echo(f"paired with {item['name']} ({item['node_id']}) at {item['url']}; both nodes now trust each other")
        click.echo(f"compare the safety number on the phone: praevnet peers verify {item['node_id']}")

    emit(peer, as_json, human)
