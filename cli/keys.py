"""`praevnet keys ...`: rotate this node's key, or revoke it after a compromise."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from cli.common import acting_user, emit, home_option, json_option, opened, print_table, user_option
from node.trust.keyring import list_keys, revoke_key, rotate_key
from protocol.errors import ProtocolError
from protocol.timestamps import parse_timestamp


@click.group("keys")
def keys_group() -> None:
    """This node's signing keys: list, rotate, revoke."""


@keys_group.command("list")
@home_option
@json_option
def list_(home: Path | None, as_json: bool) -> None:
    """List every key version with its fingerprint, and which one is current."""
    with opened(home) as node:
        items = list_keys(node)

    def human(data: list[dict[str, Any]]) -> None:
        lines = []
        for key in data:
            state = "current" if key["current"] else f"expired {key['expired']}"
            if key["revoked_since"]:
                state = f"REVOKED, compromised since {key['revoked_since']}"
            lines.append([key["key_id"], key["fingerprint"], state])
        print_table(["KEY", "FINGERPRINT", "STATE"], lines)

    emit(items, as_json, human)


@keys_group.command("rotate")
@home_option
@json_option
@user_option
def rotate(home: Path | None, as_json: bool, user: str | None) -> None:
    """Make a new key. Peers follow automatically; records signed with the old key still verify."""
    with opened(home) as node:
        outcome = rotate_key(node, by=acting_user(node, user))

    def human(d: dict[str, Any]) -> None:
        click.echo(f"rotated {d['old']} -> {d['new']}; new fingerprint {d['fingerprint']}")
        click.echo("a running node announces it to every peer within seconds")

    emit(outcome, as_json, human)


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ProtocolError as exc:
        raise click.BadParameter(str(exc)) from None


@keys_group.command("revoke")
@home_option
@json_option
@user_option
@click.option(
    "--since",
    callback=_since,
    metavar="TIME",
    help="When the compromise began (ISO 8601 with offset); records signed from then on are flagged. Default: now.",
)
def revoke(home: Path | None, as_json: bool, user: str | None, since: datetime | None) -> None:
    """Revoke the current key as compromised and switch to a new one.

    Peers stop accepting the revoked key as soon as they receive the announcement. Because the
    revoked key cannot vouch for its successor, each peer's officer must pair again after checking
    the new fingerprint with you (`praevnet peers add URL --fingerprint NEW`).
    """
    with opened(home) as node:
        outcome = revoke_key(node, since=since, by=acting_user(node, user))

    def human(d: dict[str, Any]) -> None:
        click.echo(f"revoked {d['revoked']} (compromised since {d['since']}); new key {d['new']}")
        click.echo(f"new fingerprint {d['fingerprint']}: read it to every peer city, which pairs again")

    emit(outcome, as_json, human)
