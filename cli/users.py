"""`praevnet users ...`: local users with roles, their personal tokens, and disabling them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cli.common import acting_user, emit, home_option, json_option, opened, print_table, user_option
from node.errors import NodeError
from node.users import ROLES, add_user, disable_user, issue_token, list_users, reset_token


@click.group("users")
def users_group() -> None:
    """Local users (officer, approver, admin); every change is attributed to one of them."""


def _read_password_stdin() -> str:
    text = sys.stdin.read()
    password = text[:-1] if text.endswith("\n") else text
    password = password[:-1] if password.endswith("\r") else password
    if not password:
        raise NodeError("--password-stdin: no password on standard input")
    if "\n" in password or "\r" in password:
        raise NodeError("--password-stdin: the password must be a single line")
    return password


@users_group.command("add")
@home_option
@user_option
@json_option
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="The new user's role.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the new user's password from standard input instead of asking twice."
)
def add(home: Path | None, user: str | None, as_json: bool, name: str, role: str, password_stdin: bool) -> None:
    """Create the local user NAME with a role; asks for their password (at least 12 characters) twice."""
    with opened(home) as node:
        actor = acting_user(node, user)
        actor.require("manage_users")
        if password_stdin:
            password = _read_password_stdin()
        else:
            password = click.prompt(
                f"Password for new user {name}", hide_input=True, confirmation_prompt=True, err=True
            )
        created = add_user(node, name, role, password, by=actor)
    emit(created, as_json, lambda u: click.echo(f"added user {u['name']} ({u['role']})"))


@users_group.command("list")
@home_option
@json_option
def list_(home: Path | None, as_json: bool) -> None:
    """List local users with their role, whether they are disabled and whether they have a token."""
    with opened(home) as node:
        users = list_users(node)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no local users; add one with `praevnet users add NAME --role officer`")
            return
        print_table(
            ["NAME", "ROLE", "STATE", "TOKEN", "CREATED"],
            (
                [
                    item["name"],
                    item["role"],
                    "disabled" if item["disabled"] else "active",
                    "token" if item["has_token"] else "no token",
                    item["created"],
                ]
                for item in data
            ),
        )

    emit(users, as_json, human)


@users_group.command("token")
@home_option
@user_option
@click.argument("name", required=False)
def token(home: Path | None, user: str | None, name: str | None) -> None:
    """Get a new personal token (for scripts, via PRAEVNET_TOKEN) for yourself; replaces any earlier one.

    Run it as yourself: `praevnet users token --user NAME` asks NAME's password (or takes NAME's
    current token from PRAEVNET_TOKEN); NAME, if given, must be that same user. The token is printed
    once on standard output and cannot be shown again. As with personal access tokens elsewhere, only
    its owner creates one: nobody else, not even an administrator, can get your token. An administrator
    can only reset (revoke) it with `praevnet users reset-token NAME`; you then get a new one here.
    """
    if user is None:
        raise NodeError(
            "a token is shown only to its own user: run `praevnet users token --user NAME` as that user "
            "(it asks for their password)"
        )
    with opened(home) as node:
        actor = acting_user(node, user)
        new_token = issue_token(node, user if name is None else name, by=actor)
    click.echo(new_token)
    click.echo(
        f"This is {user}'s new token; it is shown only once and replaces any earlier one. Keep it secret.", err=True
    )


@users_group.command("reset-token")
@home_option
@user_option
@click.argument("name")
def reset_token_(home: Path | None, user: str | None, name: str) -> None:
    """Reset the personal token of NAME (admin): the old one stops working at once; no new one is shown.

    Use it when a token may have leaked or its user leaves a script behind. The reset is written to
    the audit log. NAME gets a new token only by authenticating with their own password:
    `praevnet users token --user NAME`. So no administrator ever holds another user's token.
    """
    with opened(home) as node:
        reset_token(node, name, by=acting_user(node, user))
    click.echo(
        f"reset the token of {name}: it no longer works; {name} gets a new one with "
        f"`praevnet users token --user {name}`"
    )


@users_group.command("disable")
@home_option
@user_option
@click.argument("name")
def disable(home: Path | None, user: str | None, name: str) -> None:
    """Disable the user NAME: no more logins, and their token stops working."""
    with opened(home) as node:
        actor = acting_user(node, user)
        disable_user(node, name, by=actor)
    click.echo(f"disabled user {name}")


@users_group.command("passwd")
@home_option
@user_option
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help="Read the new password from standard input instead of asking twice."
)
def passwd(home: Path | None, user: str | None, name: str, password_stdin: bool) -> None:
    """Give the user NAME a new password (at least 12 characters); asks for it twice.

    An administrator sets anyone's (without --user, as the built-in administrator); anybody sets
    their own with `--user NAME` (asks their current password). The change is written to the audit log.
    """
    from node.users import get_user, set_password

    with opened(home) as node:
        actor = acting_user(node, user)
        if actor.builtin or actor.name != name:
            actor.require("manage_users")
        get_user(node, name)
        if password_stdin:
            password = _read_password_stdin()
        else:
            password = click.prompt(f"New password for {name}", hide_input=True, confirmation_prompt=True, err=True)
        set_password(node, name, password, by=actor)
    click.echo(f"set a new password for {name}")
