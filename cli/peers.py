"""`praevnet peers ...`: pair with other cities' nodes, list and remove them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from cli.common import emit, home_option, json_option, opened, short
from node.pairing import add_peer
from node.peers import list_peers, remove_peer


@click.group("peers")
def peers_group() -> None:
    """Trusted peers: other cities' nodes this node exchanges with."""


@peers_group.command("add")
@home_option
@json_option
@click.argument("base_url")
@click.option("--fingerprint", required=True, help="The peer's fingerprint (SHA256:...), obtained from its officer.")
def add(home: Path | None, as_json: bool, base_url: str, fingerprint: str) -> None:
    """Pair with the node at BASE_URL after checking its fingerprint; refuses on any mismatch."""
    with opened(home) as node:
        peer = asyncio.run(add_peer(node, base_url, fingerprint))
    emit(peer, as_json, lambda p: click.echo(f"trusted {p['name']} ({p['node_id']}) at {p['url']}"))


@peers_group.command("list")
@home_option
@json_option
def list_(home: Path | None, as_json: bool) -> None:
    """List trusted peers."""
    with opened(home) as node:
        peers = list_peers(node)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no trusted peers; pair with `praevnet peers add URL --fingerprint FP`")
        for peer in data:
            click.echo(f"{peer['node_id']}  {short(peer['name'], 30):30}  {peer['url']}  {peer['fingerprint']}")

    emit(peers, as_json, human)


@peers_group.command("remove")
@home_option
@click.argument("node_id")
def remove(home: Path | None, node_id: str) -> None:
    """Stop trusting NODE_ID: nothing more is sent to it or accepted from it."""
    with opened(home) as node:
        remove_peer(node, node_id)
    click.echo(f"removed {node_id}")
