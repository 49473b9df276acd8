"""Starting the officers' web interface beside the federation server, in the one `praevnet serve` process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import click
from aiohttp import web

from node.config import split_listen
from node.errors import NodeError
from node.home import Node
from web.app import create_ui_app


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
    node: Node, address: tuple[str, int], echo: Callable[[str], None]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context for the federation app that serves the web interface on `address` while it runs."""

    async def serve_ui(app: web.Application) -> AsyncIterator[None]:
        runner = web.AppRunner(create_ui_app(node), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, address[0], address[1]).start()
        except OSError as exc:
            await runner.cleanup()
            raise NodeError(f"the web interface cannot listen on {address[0]}:{address[1]}: {exc.strerror}") from None
        echo(f"praevnet: web interface for officers on http://{address[0]}:{address[1]}/")
        try:
            yield
        finally:
            await runner.cleanup()

    return serve_ui
