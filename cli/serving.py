"""Running `praevnet serve` as a service: listeners bound first, readiness told, a graceful stop on SIGTERM.

Every listener is bound before anything runs, so a port that is taken is reported (and the process
exits non-zero) before the node says it serves or starts to deliver. Then the app starts (background
delivery and pulls, the web interface), the node says it serves, logs its start, gives the memory
start-up freed back to the system (`release_free_memory`) and tells the service manager READY=1
(cli.sd_notify). SIGTERM or SIGINT stops it: STOPPING=1, the listeners close, requests
being answered finish (up to SHUTDOWN_TIMEOUT), the transaction being sent to each peer finishes or goes
back to the queue (node.exchange.worker), one line is logged and the process exits 0.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import signal
import socket
from collections.abc import Callable
from importlib.metadata import version

import click
from aiohttp import web

from cli.sd_notify import Notifier
from node.exchange.server import WORKER
from node.home import Node
from node.logs import FORMATS, LEVELS
from node.logs import configure as configure_logging

log = logging.getLogger("praevnet.service")
SHUTDOWN_TIMEOUT = 10.0  # seconds that requests being answered may take to finish after SIGTERM
BACKLOG = 128  # as aiohttp's own listeners

log_format_option = click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default=None,
    help="Log lines as JSON objects (one a line) or text; auto: text on a terminal, else JSON (default [log] format).",
)
log_level_option = click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default=None,
    help="Least important lines logged: debug, info, warning or error (default [log] level, info).",
)


def start_logging(node: Node, log_format: str | None, log_level: str | None) -> None:
    """Log to stderr as --log-format/--log-level say, else as [log] in praevnet.toml says."""
    configure_logging(log_format or node.config.log.format, (log_level or node.config.log.level).lower())


def bind(host: str, port: int, what: str) -> socket.socket:
    """A listening TCP socket on host:port; a ClickException naming `what` and the address if it cannot be had."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
    except OSError as exc:
        raise click.ClickException(f"{what} cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(False)
    return sock


def release_free_memory() -> bool:
    """Give the C heap's free pages back to the system (glibc's malloc_trim): start-up frees much of what it
    allocated, and glibc otherwise keeps it for later. False where the C library has no malloc_trim."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim(0)
    return True


def peer_count(node: Node) -> int:
    """How many peers this node trusts."""
    return int(node.db.execute("SELECT count(*) FROM peers").fetchone()[0])


async def run(app: web.Application, sock: socket.socket, notifier: Notifier, ready: Callable[[], None]) -> None:
    """Serve `app` on the bound `sock` until SIGTERM or SIGINT, then stop gracefully and log one line."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[str] = []

    def stop_on(signum: signal.Signals) -> None:
        received.append(signum.name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_on, signum)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    try:
        await runner.setup()
        await web.SockSite(runner, sock).start()
        ready()
        release_free_memory()
        notifier.notify("READY=1", "STATUS=serving")
        await stop.wait()
        notifier.notify("STOPPING=1", f"STATUS=stopping on {received[0]}")
    finally:
        await runner.cleanup()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    worker = app.get(WORKER)
    finished, handed_back = (0, 0) if worker is None else (worker.finished, worker.handed_back)
    log.info(
        "stopped on %s: %d transaction(s) in flight finished, %d handed back to the queue (sent after the restart)",
        received[0],
        finished,
        handed_back,
        extra={"event": "node.stop", "finished": finished, "handed_back": handed_back},
    )


def started(node: Node, where: str, ui: str | None) -> None:
    """Say that the node serves (stdout), and log its version, home, listen addresses and peer count."""
    click.echo(f"praevnet: {node.config.name} ({node.node_id}) serving {node.config.url} on {where}")
    listen = where if ui is None else f"{where}, web interface {ui}"
    log.info(
        "praevnet %s started: %s (%s) in %s, listening on %s, %d peer(s)",
        version("praevnet"),
        node.config.name,
        node.node_id,
        node.home.resolve(),
        listen,
        peer_count(node),
        extra={
            "event": "node.start",
            "version": version("praevnet"),
            "home": str(node.home.resolve()),
            "listen": listen,
            "peers": peer_count(node),
        },
    )
