"""`praevnet inbox ...`: what peers sent to this node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.common import (
    PEER_HELP,
    F,
    acting_user,
    emit,
    home_option,
    json_option,
    opened,
    print_table,
    short,
    user_option,
)
from node.exchange.received import history, list_inbox, show_received
from node.networks.forwarding import forward_received
from node.trust.peers import peer_id_of


@click.group("inbox")
def inbox_group() -> None:
    """Records and alerts received from peers."""


def _signature(item: dict[str, Any]) -> str:
    return "verified" if item["verified"] else f"NOT VERIFIED ({item['problem']})"


def _title(item: dict[str, Any]) -> str:
    content = item["content"] or {}
    return str(content.get("title") or content.get("headline") or "")


@inbox_group.command("list")
@home_option
@json_option
@click.option("--all", "include_lapsed", is_flag=True, help="Include expired alerts and retracted records.")
def list_(home: Path | None, as_json: bool, include_lapsed: bool) -> None:
    """List what peers sent (newest version of each): kind, id, origin, content, and whether it verifies.

    Read one with `praevnet inbox show ID`.
    """
    with opened(home) as node:
        items = list_inbox(node, include_lapsed=include_lapsed)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("the inbox is empty")
            return
        print_table(
            ["KIND", "ID", "VERSION", "LABEL", "FROM", "SIGNATURE", "TITLE"],
            (
                [
                    item["kind"],
                    item["id"],
                    f"v{item['version']}",
                    item["tlp"],
                    short(item["origin_name"] or item["origin"], 25),
                    _signature(item),
                    short(_title(item), 50) + (" (retracted)" if item["erased"] else ""),
                ]
                for item in data
            ),
        )

    emit(items, as_json, human)


def origin_option(func: F) -> F:
    """--origin PEER: which origin is meant, if records with this id came from several."""
    return click.option(
        "--origin",
        metavar="PEER",
        default=None,
        help=f"The origin, if records with this id came from several: {PEER_HELP}.",
    )(func)


@inbox_group.command("show")
@home_option
@json_option
@origin_option
@click.argument("record_id")
def show(home: Path | None, as_json: bool, origin: str | None, record_id: str) -> None:
    """Show one record or alert a peer sent: content, origin, signature, label, state and versions.

    The signature is checked again now: "verified" means the origin city's key signed exactly this
    content. A retracted record or a lapsed alert shows its state; its content is gone.
    """
    with opened(home) as node:
        item = show_received(node, record_id, peer_id_of(node, origin) if origin is not None else None)
    emit(item, as_json, _show_human)


def _show_human(item: dict[str, Any]) -> None:
    peer = "trusted peer" if item["origin_trusted"] else "no longer a trusted peer"
    if item["origin_confirmed"]:
        peer += f", safety number compared on {item['origin_confirmed']}"
    state = item["state"]
    if item["retracted"]:
        state += f" (retraction of version {item['retracted']['version']} received {item['retracted']['received']})"
    facts = [
        ("title", _title(item)),
        ("kind", item["kind"]),
        ("id", item["id"]),
        ("version", f"v{item['version']}"),
        ("label", item["tlp"]),
        ("from", f"{item['origin_name'] or '?'} ({item['origin']}), {peer}"),
        ("signature", _signature(item)),
        ("network", item["network"]),
        ("created", item["created"]),
        ("received", item["received"]),
        ("expires", item["expires"]),
        ("state", state),
    ]
    for name, value in facts:
        if value:
            click.echo(f"{name + ':':11} {value}")
    click.echo("versions:")
    for entry in item["versions"]:
        what = "retraction" if entry["kind"] == "retraction" else ("erased" if entry["erased"] else "content")
        click.echo(
            f"  v{entry['version']:<3} {entry['tlp']:17} created {entry['created']}  received {entry['received']}"
            f"  {what:10} {_signature(entry)}"
        )
    if item["content"]:
        click.echo("content:")
        for path, value in _flatten(item["content"]):
            _field(path, value)


def _flatten(content: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name, value in content.items():
        if isinstance(value, dict):
            found += _flatten(value, f"{prefix}{name}.")
        else:
            found.append((f"{prefix}{name}", value))
    return found


def _field(path: str, value: Any) -> None:
    text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    lines = text.splitlines() or [""]
    click.echo(f"  {path}: {lines[0]}")
    for line in lines[1:]:
        click.echo(f"      {line}")


@inbox_group.command("history")
@home_option
@json_option
@click.argument("record_id")
def history_(home: Path | None, as_json: bool, record_id: str) -> None:
    """Show every version (and retraction) of a received record that this node holds."""
    with opened(home) as node:
        items = history(node, record_id)

    def human(data: list[dict[str, Any]]) -> None:
        for item in data:
            mark = "verified" if item["verified"] else f"NOT VERIFIED ({item['problem']})"
            what = "retraction" if item["kind"] == "retraction" else ("erased" if item["erased"] else "content")
            click.echo(f"v{item['version']:<3} {item['tlp']:17} {item['created']}  {what:10} {mark}")

    emit(items, as_json, human)


@inbox_group.command("forward")
@home_option
@json_option
@user_option
@origin_option
@click.argument("record_id")
def forward(home: Path | None, as_json: bool, user: str | None, origin: str | None, record_id: str) -> None:
    """Pass a received TLP:GREEN or TLP:CLEAR network record on to the network's other members.

    The record leaves exactly as its origin signed it, within the network the origin shared it in.
    Other labels, records not shared within a network, retracted records and expired alerts are
    refused.
    """
    with opened(home) as node:
        sender = peer_id_of(node, origin) if origin is not None else None
        outcome = forward_received(node, record_id, origin=sender, by=acting_user(node, user))

    def human(data: dict[str, Any]) -> None:
        count = len(data["recipients"])
        click.echo(f"{data['id']} v{data['version']} queued for {count} member(s) of network {data['network']}")

    emit(outcome, as_json, human)
