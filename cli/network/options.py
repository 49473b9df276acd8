"""Options and output shared by the `praevnet network ...` commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from cli.common import F, short
from node.networks.registry import DEFAULT_EXPIRY


def network_option(func: F) -> F:
    """--network NAME: which network a command is about, when this node is in more than one."""
    return click.option(
        "--network",
        "network",
        metavar="NAME",
        default=None,
        help="The network (name or id); needed only when this node has more than one.",
    )(func)


def expires_option(what: str) -> Callable[[F], F]:
    """`--expires DURATION`: how long the signed `what` is valid, into the parameter `lifetime`."""
    return click.option(
        "--expires",
        "lifetime",
        default=DEFAULT_EXPIRY,
        show_default=True,
        metavar="DURATION",
        help=f"How long the {what} is valid: 90d, 26w, 1y (or 30m, 12h), at most 5 years.",
    )


def push_report_human(push: dict[str, Any]) -> None:
    """Say to whom a new signed list or statement was sent, and who learns of it only at their refresh."""
    click.echo(f"sent it to {len(push['pushed'])} member(s)")
    late = [item["node_id"] for item in push["failed"]] + push["pull_only"]
    if late:
        click.echo(f"not reached now, they learn of it at their next refresh: {', '.join(late)}")
    for item in push["failed"]:
        click.echo(f"  {item['node_id']}: {short(item['reason'], 100)}", err=True)
