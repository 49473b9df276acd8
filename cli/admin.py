"""Serving the admin address for IT (metrics, /healthz, /readyz) beside the federation server in `praevnet serve`.

It listens on `[admin] listen` (default 127.0.0.1:8472) or `--admin-listen`, never on the federation
port nor on the web interface's; `--no-admin` or `[admin] enabled = false` leaves it off.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable

import click
from aiohttp import web

from cli.socket_activation import address_of
from node.config import split_listen
from node.errors import NodeError
from node.home import Node
from node.ops.admin import HEALTHZ, METRICS_PATH, READYZ, create_admin_app

admin_listen_option = click.option(
    "--admin-listen",
    default=None,
    metavar="HOST:PORT",
    help="Address for metrics, /healthz and /readyz (default [admin] listen, 127.0.0.1:8472).",
)
no_admin_option = click.option(
    "--no-admin", is_flag=True, help="Serve no metrics and health address (e.g. where nothing scrapes it)."
)


def admin_address(node: Node, listen: str | None, off: bool) -> tuple[str, int] | None:
    """Where the admin address listens: `--admin-listen` if given, else `[admin] listen`; None when it is off."""
    if off or (listen is None and not node.config.admin.enabled):
        return None
    text = listen or node.config.admin.listen
    try:
        return split_listen(text)
    except NodeError:
        raise click.UsageError(f"--admin-listen must be host:port, e.g. 127.0.0.1:8472, not {text!r}") from None


def check_admin_apart(admin: tuple[str, int], federation: int | None, ui: tuple[str, int] | None) -> None:
    """Refuse an admin address on the federation port or the web interface's: metrics and health stay on their own."""
    for what, port in (("federation port", federation), ("web interface's port", None if ui is None else ui[1])):
        if port is not None and admin[1] == port:
            raise click.UsageError(
                f"the admin address cannot listen on the {what} {port}; set [admin] listen (or --admin-listen) "
                "to another port"
            )


def with_admin(
    node: Node, sock: socket.socket, echo: Callable[[str], None]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context for the federation app that serves the admin address on the bound `sock` while it runs.

    The node's events are counted from this call on (node.ops.admin.create_admin_app), before anything runs."""
    admin = create_admin_app(node)

    async def serve_admin(app: web.Application) -> AsyncIterator[None]:
        runner = web.AppRunner(admin, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        base = f"http://{address_of(sock)}"
        echo(f"praevnet: metrics and health for IT on {base}{METRICS_PATH}, {base}{HEALTHZ} and {base}{READYZ}")
        try:
            yield
        finally:
            await runner.cleanup()

    return serve_admin
