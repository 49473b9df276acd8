"""`praevnet network card|peer|unpeer|peerings`: peering a network this node operates with another."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from cli.common import acting_user, emit, emit_json, home_option, json_option, opened, print_table, user_option
from cli.network.options import expires_option, push_report_human
from node.networks.peering import list_peerings, network_card, peer_network, unpeer_and_push
from node.networks.registry import parse_expiry
from protocol.keys import fingerprint, public_key_from_b64


@click.command("card")
@home_option
@click.argument("name", required=False)
def card(home: Path | None, name: str | None) -> None:
    """Print the network card of NAME (a network this node operates), signed by the network key.

    Give it to the operator of the network you agree to peer with, together with the network key's
    fingerprint (printed on standard error), which its officer checks with you on the phone.
    """
    with opened(home) as node:
        signed = network_card(node, name)
    emit_json(signed)
    click.echo(f"network key fingerprint: {fingerprint(public_key_from_b64(signed['key']))}", err=True)


@click.command("peer")
@home_option
@json_option
@user_option
@click.argument("name")
@click.argument("card_file", metavar="CARD_FILE")
@click.option(
    "--fingerprint",
    "network_fingerprint",
    required=True,
    help="The other network key's fingerprint (SHA256:...), read out by its operator's officer.",
)
@expires_option("peering statement")
def peer(
    home: Path | None,
    as_json: bool,
    user: str | None,
    name: str,
    card_file: str,
    network_fingerprint: str,
    lifetime: str,
) -> None:
    """Peer the network NAME (operated here) with the network whose card is in CARD_FILE.

    The card must be signed by a network key with the fingerprint given; the other operator's node
    must show the card's operator fingerprint. Then it is paired with this node, and this network
    signs a statement that TLP:CLEAR network records may cross (nothing else ever does). The other
    operator runs the same with this network's card. Running it again renews the statement.
    """
    duration = parse_expiry(lifetime)
    with opened(home) as node:
        peering = asyncio.run(
            peer_network(node, name, card_file, network_fingerprint, lifetime=duration, by=acting_user(node, user))
        )

    def human(item: dict[str, Any]) -> None:
        click.echo(
            f"{item['name']} now peers with {item['peer_name']} ({item['peer_network']}): "
            f"{', '.join(item['labels'])} may cross until {item['expires']} (serial {item['serial']})"
        )
        click.echo(f"its operator {item['peer_operator']['node_id']} is paired with this node")

    emit(peering, as_json, human)


@click.command("unpeer")
@home_option
@json_option
@user_option
@click.argument("name")
@click.argument("peer_network", metavar="PEER_NETWORK")
def unpeer(home: Path | None, as_json: bool, user: str | None, name: str, peer_network: str) -> None:
    """Withdraw the peering of the network NAME (operated here) with PEER_NETWORK (its name or id).

    Nothing crosses to or from that network here from now on; the withdrawal is sent to the members
    at once (those that cannot be reached learn of it at their next refresh). The other operator
    stays paired (`praevnet peers remove` ends that).
    """
    with opened(home) as node:
        peering = asyncio.run(unpeer_and_push(node, name, peer_network, by=acting_user(node, user)))

    def human(item: dict[str, Any]) -> None:
        click.echo(f"{item['name']} no longer peers with {item['peer_name'] or item['peer_network']}")
        push_report_human(item["push"])

    emit(peering, as_json, human)


@click.command("peerings")
@home_option
@json_option
@click.argument("name", required=False)
def peerings(home: Path | None, as_json: bool, name: str | None) -> None:
    """List the peerings of this node's networks (or of NAME): those it signed as operator, or learned
    from its operator as a member."""
    with opened(home) as node:
        items = list_peerings(node, name)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no peerings; operators agree on one with `praevnet network card` and `network peer`")
            return
        print_table(
            ["NETWORK", "PEERS WITH", "PEER NETWORK ID", "STATE", "LABELS", "UNTIL", "SERIAL"],
            (
                [
                    item["name"],
                    item["peer_name"] or "?",
                    item["peer_network"],
                    item["state"],
                    ",".join(item["labels"]) or "-",
                    item["expires"],
                    item["serial"],
                ]
                for item in data
            ),
        )

    emit(items, as_json, human)


PEERING_COMMANDS = (card, peer, unpeer, peerings)
"""The commands this module adds to the `network` group."""
