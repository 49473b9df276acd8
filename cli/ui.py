"""Starting the officers' web interface beside the federation server, in the one `praevnet serve` process."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable

import click
from aiohttp import web

from cli.socket_activation import address_of
from node.config import split_listen
from node.errors import NodeError
from node.home import Node


def ui_address(node: Node, listen: str | None) -> tuple[str, int]:
    """Where the web interface listens: `--ui-listen` if given, else `[ui] listen`."""
    try:
        return split_listen(listen or node.config.ui.listen)
    except NodeError as exc:
        raise click.UsageError(str(exc).replace("config: ui.listen", "--ui-listen")) from None


def check_apart(ui: tuple[str, int], federation: tuple[str | None, int | None]) -> None:
    """Refuse a UI address that is the federation port: exposing the one must never expose the other."""
    if federation[1] is not None and ui[1] == federation[1]:
        raise click.UsageError(
            f"the web interface cannot listen on the federation port {ui[1]}; set [ui] listen to another port"
        )


def with_ui(
    node: Node, sock: socket.socket, echo: Callable[[str], None]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context for the federation app that serves the web interface on the bound `sock` while it runs."""

    async def serve_ui(app: web.Application) -> AsyncIterator[None]:
        # Imported only when the interface starts: `serve --no-ui` (a hub) does without its templates,
        # translations and their libraries.
        from web.app import create_ui_app

        runner = web.AppRunner(create_ui_app(node), access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        echo(f"praevnet: web interface for officers on http://{address_of(sock)}/")
        try:
            yield
        finally:
            await runner.cleanup()

    return serve_ui
