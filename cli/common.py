"""Options and output helpers shared by all commands."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from node.errors import NodeError
from node.home import Node, default_home
from node.trust.peers import peer_id_of
from node.users import ADMIN, Actor, login_password, login_token

# A command function; every reusable option here and in the command modules is a decorator `F -> F`.
F = TypeVar("F", bound=Callable[..., Any])


def home_option(func: F) -> F:
    """--home DIR (default: $PRAEVNET_HOME, else ./praevnet-home)."""
    return click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="The node's home directory (default: $PRAEVNET_HOME, else ./praevnet-home).",
    )(func)


def json_option(func: F) -> F:
    """--json: print JSON only."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON only.")(func)


def resolve_home(home: Path | None) -> Path:
    """The home directory the user meant."""
    return home if home is not None else default_home()


@contextmanager
def opened(home: Path | None) -> Iterator[Node]:
    """Open the node in `home` for the duration of a command."""
    node = Node.open(resolve_home(home))
    try:
        yield node
    finally:
        node.close()


def emit_json(data: Any) -> None:
    """Print data as pretty JSON."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def emit(data: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    """Print JSON if asked for, else the human form."""
    if as_json:
        emit_json(data)
    else:
        human(data)


def short(text: object, width: int = 60) -> str:
    """One line of at most `width` characters."""
    line = " ".join(str(text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def user_option(func: F) -> F:
    """--user NAME: act as this local user instead of the node's built-in administrator."""
    return click.option(
        "--user",
        "user",
        metavar="NAME",
        default=None,
        help=(
            "Act as this local user (asks for the password, or reads PRAEVNET_TOKEN); "
            "default: the node's built-in administrator."
        ),
    )(func)


def acting_user(node: Node, user: str | None) -> Actor:
    """Who runs this command: the built-in administrator, or `user` after a token or password check.

    A name alone never authenticates anyone: with --user, PRAEVNET_TOKEN must hold that user's
    personal token, or the user types their password at a terminal.
    """
    if user is None:
        return ADMIN
    token = os.environ.get("PRAEVNET_TOKEN")
    if token:
        return login_token(node, user, token.strip())
    if sys.stdin is not None and sys.stdin.isatty():
        password = click.prompt(f"Password for {user}", hide_input=True, err=True)
        return login_password(node, user, password)
    raise NodeError(f"no password for user {user}: set PRAEVNET_TOKEN or run interactively")


PEER_HELP = "a peer's name (or a unique beginning of it, any case) or node id"
"""How the help of every option and argument that names a peer describes it."""


def peer_ids(node: Node, texts: Iterable[str]) -> list[str]:
    """The node ids of the peers an officer named (node.trust.peers.peer_id_of), in order."""
    return [peer_id_of(node, text) for text in texts]


def print_table(headers: Sequence[str], lines: Iterable[Sequence[object]]) -> None:
    """Print rows under column headers, each column as wide as its widest cell (the last one unpadded)."""
    cells = [[str(cell) for cell in line] for line in lines]
    widths = [max(len(row[index]) for row in [list(headers), *cells]) for index in range(len(headers))]
    for row in [list(headers), *cells]:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        click.echo("  ".join([*padded, row[-1]]).rstrip())


_HOST_PORT = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?/?")


def url_or_file(source: str) -> tuple[str | None, Path]:
    """Tell a node's base URL (it has a scheme) from a descriptor file: (url, _) or (None, path).

    Something like `host:port` that is no file is refused with the URL it probably means, rather than
    read as a file name that does not exist.
    """
    if "://" in source:
        return source, Path()
    path = Path(source)
    if not path.exists() and _HOST_PORT.fullmatch(source) and not source.lower().endswith(".json"):
        raise NodeError(
            f"{source!r} is no file, and as an address it lacks its scheme: give a URL with https:// or http://, "
            f"e.g. https://{source.rstrip('/')}"
        )
    return None, path
