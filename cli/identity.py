"""`praevnet init` and `praevnet id`: create a node, and show who it is."""

from __future__ import annotations

from pathlib import Path

import click

from cli.common import emit, emit_json, home_option, json_option, opened, resolve_home
from node.home import CONFIG_FILE, Node, init_home, loopback_port


@click.command()
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


@click.command("id")
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
