"""Entry point of the `praevnet` command: the group, error handling, and node-level commands."""

from __future__ import annotations

import asyncio
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from cli.admin import admin_address, admin_listen_option, check_admin_apart, no_admin_option, with_admin
from cli.audit import audit_group
from cli.backup import backup, restore
from cli.common import emit, emit_json, home_option, json_option, opened, output_closed, resolve_home
from cli.config_cmd import config_group
from cli.demo import demo
from cli.doctor import doctor
from cli.inbox import inbox_group
from cli.invite import invite_group
from cli.keys import keys_group
from cli.network.commands import network_group
from cli.peers import peers_group
from cli.records import alerts_group, records_group
from cli.sd_notify import Notifier
from cli.search import search_command
from cli.serving import bind, log_format_option, log_level_option, run, start_logging, started
from cli.shares import shares_group
from cli.socket_activation import address_of, passed_socket
from cli.ui import check_apart, ui_address, with_ui
from cli.users import users_group
from node import serve_lock
from node.errors import NodeError
from node.exchange.pull import sync as sync_now
from node.exchange.server import create_app
from node.home import CONFIG_FILE, Node, init_home, loopback_port
from protocol.errors import ProtocolError

PROGRESS_FROM = 1000  # show a progress bar when at least this many envelopes remain to pull


class PraevnetGroup(click.Group):
    """A group that turns every failure into a one-line message and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; map known failures to click errors."""
        try:
            return super().invoke(ctx)
        except (NodeError, ProtocolError) as exc:
            raise click.ClickException(str(exc)) from None
        except BrokenPipeError:
            raise output_closed() from None
        except OSError as exc:
            raise click.ClickException(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("PRAEVNET_DEBUG"):
                raise
            raise click.ClickException(
                f"unexpected {type(exc).__name__}: {exc} (set PRAEVNET_DEBUG=1 for details)"
            ) from None


@click.group(cls=PraevnetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="praevnet")
def main() -> None:
    """praevnet: share crime-prevention experience and early warnings between cities, signed and under control.

    Each city runs its own node. Records and alerts stay local until an officer shares them with
    trusted peers; every record is signed by its city, and nothing marked local ever leaves.
    """


@main.command()
@home_option
@click.option("--name", required=True, help="Display name of this node, e.g. 'Stadt Augsburg'.")
@click.option(
    "--url", required=True, help="Base URL under which peers reach this node, e.g. https://praevnet.augsburg.de"
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port `serve` listens on ([server] port). Default: the port of a loopback --url, else 8470.",
)
def init(home: Path | None, name: str, url: str, port: int | None) -> None:
    """Create a new node: key, config and database (mode 0600) in a home only its account may enter (0700).

    Never overwrites an existing node. Says where `serve` will listen and why.
    """
    path = resolve_home(home)
    written = init_home(path, name=name, url=url, port=port)
    node = Node.open(path)
    try:
        click.echo(f"created node {node.config.name} in {path}")
        click.echo(f"node id:     {node.node_id}")
        click.echo(f"fingerprint: {node.fingerprint}")
    finally:
        node.close()
    listen = f"{written.server.host}:{written.server.port}"
    if port is not None:
        click.echo(f"serve listens on {listen} (--port)")
    elif loopback_port(written.url) is not None:
        click.echo(f"serve listens on {listen}, the port of --url")
    else:
        click.echo(
            f"serve listens on {listen}, the default: forward {written.url} to it from your reverse proxy, "
            f"or choose another port with [server] port in {path / CONFIG_FILE} (or `serve --port` for one run)"
        )


@main.command()
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


@main.command("id")
@home_option
@json_option
@click.option("--descriptor", is_flag=True, help="Print this node's signed descriptor (JSON) for pairing by file.")
def show_id(home: Path | None, as_json: bool, descriptor: bool) -> None:
    """Show this node's name, node id, URL, fingerprint and safety number.

    With --descriptor, print the signed descriptor instead: the other city pairs with it by
    `praevnet peers add FILE --fingerprint FP` when it cannot reach this node (valid seven days).
    """
    with opened(home) as node:
        identity = {**node.identity(), "ui_url": node.config.ui_url}
        signed = node.descriptor() if descriptor else None
    if signed is not None:
        emit_json(signed)
        return

    def human(data: dict[str, str]) -> None:
        for key in ("name", "node_id", "url", "ui_url", "key_id", "fingerprint", "safety_number"):
            click.echo(f"{key + ':':15} {data[key]}")

    emit(identity, as_json, human)


@main.command()
@home_option
@json_option
def sync(home: Path | None, as_json: bool) -> None:
    """Pull now from every trusted peer what it shares with this node."""
    # Each peer's bar lives in its own ExitStack, closed when that peer is done; `every_bar` closes
    # whichever are still open if the sync raises (closing an ExitStack twice is harmless).
    bars: dict[str, tuple[Any, ExitStack]] = {}

    def progress(peer: str, received: int, remaining: int) -> None:
        if as_json or not sys.stderr.isatty() or (peer not in bars and remaining < PROGRESS_FROM):
            return
        if peer not in bars:
            closer = every_bar.enter_context(ExitStack())
            bar = closer.enter_context(
                click.progressbar(length=received + remaining, label=f"pulling from {peer}", file=sys.stderr)
            )
            bars[peer] = (bar, closer)
            bar.update(received)
        else:
            bar = bars[peer][0]
            bar.length = received + remaining
            bar.update(received - bar.pos)
        if remaining == 0:
            bars.pop(peer)[1].close()

    with opened(home) as node, ExitStack() as every_bar:
        reports = asyncio.run(sync_now(node, progress))

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no trusted peers")
        for report in data:
            if "error" in report:
                click.echo(f"{report['name']}: failed: {report['error']}")
            else:
                counts = ", ".join(f"{report.get(k, 0)} {k}" for k in ("accepted", "duplicate", "refused"))
                click.echo(f"{report['name']}: {counts}")

    emit(reports, as_json, human)
    if any("error" in report for report in reports):
        sys.exit(1)


COMMANDS = (
    peers_group,
    invite_group,
    records_group,
    alerts_group,
    shares_group,
    inbox_group,
    search_command,
    keys_group,
    network_group,
    users_group,
    audit_group,
    config_group,
    backup,
    restore,
    demo,
    doctor,
)
for command in COMMANDS:
    main.add_command(command)


if __name__ == "__main__":
    main()
