"""`praevnet serve`: the federation server, with the web interface and the admin address beside it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from cli.admin import admin_address, admin_listen_option, check_admin_apart, no_admin_option, with_admin
from cli.common import home_option, resolve_home
from cli.sd_notify import Notifier
from cli.serving import bind, log_format_option, log_level_option, run, start_logging, started
from cli.socket_activation import address_of, passed_socket
from cli.ui import check_apart, ui_address, with_ui
from node import serve_lock
from node.exchange.server import create_app
from node.home import Node


@click.command()
@home_option
@click.option("--host", default=None, help="Address to listen on (default from config: 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port to listen on (default 8470).")
@click.option("--ui-listen", default=None, metavar="HOST:PORT", help="Web interface address (default [ui] listen).")
@click.option("--no-ui", is_flag=True, help="Do not start the web interface (e.g. on a hub with no officers).")
@admin_listen_option
@no_admin_option
@log_format_option
@log_level_option
def serve(
    home: Path | None,
    host: str | None,
    port: int | None,
    ui_listen: str | None,
    no_ui: bool,
    admin_listen: str | None,
    no_admin: bool,
    log_format: str | None,
    log_level: str | None,
) -> None:
    """Run the node: serve the federation endpoints, deliver queued shares and pull from peers.

    The officers' web interface starts beside it on its own address ([ui] listen, default
    127.0.0.1:8471), never on the federation port; metrics, /healthz and /readyz on the admin
    address ([admin] listen, default 127.0.0.1:8472). Started by a systemd socket unit
    (praevnet.socket), it listens on the socket systemd passes it. One serve per home: a second
    one refuses to start. SIGTERM stops it gracefully (exit 0).
    """
    sock = passed_socket()
    if sock is not None and (host or port):
        raise click.UsageError("--host and --port do not apply: the service manager passed the socket to listen on")
    path = resolve_home(home)
    lock = serve_lock.hold(path)
    try:
        node = Node.open(path)
    except BaseException:
        lock.close()
        raise
    try:
        start_logging(node, log_format, log_level)
        host = host or node.config.server.host
        port = port or node.config.server.port
        ui = None if no_ui or not node.config.ui.enabled else ui_address(node, ui_listen)
        if ui is not None:
            check_apart(ui, (host, port) if sock is None else (None, sock.getsockname()[1]))
        admin = admin_address(node, admin_listen, no_admin)
        if admin is not None:
            check_admin_apart(admin, port if sock is None else sock.getsockname()[1], ui)
        if sock is None:
            sock = bind(host, port, "the federation server")
            where = f"{host}:{port}"
        else:
            where = f"{address_of(sock)} (socket passed by the service manager)"
        app = create_app(node)
        ui_where = None
        if ui is not None:
            ui_sock = bind(ui[0], ui[1], "the web interface")
            ui_where = address_of(ui_sock)
            app.cleanup_ctx.append(with_ui(node, ui_sock, click.echo))
        if admin is not None:
            app.cleanup_ctx.append(with_admin(node, bind(admin[0], admin[1], "the admin address"), click.echo))
        asyncio.run(run(app, sock, Notifier.from_environment(), lambda: started(node, where, ui_where)))
    finally:
        node.close()
        lock.close()
