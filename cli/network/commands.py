"""`praevnet network ...`: operate a network of cities (create, admit, revoke) or belong to one (join,
refresh, leave); peering with other networks comes from cli.network.peering."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from cli.common import acting_user, emit, home_option, json_option, opened, print_table, short, url_or_file, user_option
from cli.network.options import expires_option, network_option, push_report_human
from cli.network.peering import PEERING_COMMANDS
from node.networks.leave import leave_network
from node.networks.operator import admit_member, create_network
from node.networks.push import revoke_and_push
from node.networks.registry import list_members, list_networks, parse_expiry, set_via_hub
from node.networks.sync import join_network, refresh_now
from node.trust.pairing import descriptor_from_file
from node.trust.peers import peer_id_of
from protocol.network import ROLES


@click.group("network")
def network_group() -> None:
    """Networks of cities: members accept each other for network-scoped records without pairing one by one."""


@network_group.command("create")
@home_option
@json_option
@user_option
@click.argument("name")
def create(home: Path | None, as_json: bool, user: str | None, name: str) -> None:
    """Make this node the operator of a new network NAME, with a network key of its own.

    The key is kept in the home directory under networks/ (mode 0600), apart from the node key:
    back it up. Admit members with `praevnet network admit`.
    """
    with opened(home) as node:
        network = create_network(node, name, by=acting_user(node, user))

    def human(item: dict[str, Any]) -> None:
        click.echo(f"created network {item['name']} ({item['id']}); this node is its operator")
        click.echo("admit members with `praevnet network admit NODE_URL --fingerprint FP`")

    emit(network, as_json, human)


@network_group.command("admit")
@home_option
@json_option
@user_option
@network_option
@click.argument("url", metavar="NODE_URL_OR_FILE")
@click.option("--fingerprint", required=True, help="The node's fingerprint (SHA256:...), obtained from its officer.")
@expires_option("certificate")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(ROLES),
    help="A role of the member (repeatable; default member).",
)
@click.option(
    "--pull-only",
    is_flag=True,
    help="The node makes only outbound connections: never push to it; it pulls from this node's outbox "
    "what is shared and relayed for it.",
)
def admit(
    home: Path | None,
    as_json: bool,
    user: str | None,
    network: str | None,
    url: str,
    fingerprint: str,
    lifetime: str,
    roles: tuple[str, ...],
    pull_only: bool,
) -> None:
    """Admit the node at NODE_URL to the network this node operates, and print its join code.

    The node's descriptor must show the fingerprint you got from its officer. For a node this one
    cannot reach (a small town behind a firewall), give its descriptor FILE instead (`praevnet id
    --descriptor` on that node), usually with --pull-only. Give the printed code to that officer over
    a channel you trust; the node joins with `praevnet network join CODE`.
    """
    duration = parse_expiry(lifetime)
    address, path = url_or_file(url)
    descriptor = descriptor_from_file(path) if address is None else None
    with opened(home) as node:
        admitted = asyncio.run(
            admit_member(
                node,
                descriptor["url"] if descriptor is not None else url,
                fingerprint,
                network=network,
                lifetime=duration,
                roles=roles or ("member",),
                pull_only=pull_only,
                descriptor=descriptor,
                by=acting_user(node, user),
            )
        )

    def human(item: dict[str, Any]) -> None:
        click.echo(item["code"])
        click.echo(
            f"admitted {item['member_name']} ({item['node_id']}) to {item['name']} as serial {item['serial']}, "
            f"valid until {item['expires']}; it joins with `praevnet network join CODE`",
            err=True,
        )

    emit(admitted, as_json, human)


@network_group.command("join")
@home_option
@json_option
@user_option
@click.argument("source", metavar="CODE_OR_FILE")
@click.option(
    "--via-hub",
    is_flag=True,
    help="Send this node's network shares only to the network's hubs (its operator and members with the "
    "role hub), which relay them; for a small town that connects to one hub. Change with `network set`.",
)
def join(home: Path | None, as_json: bool, user: str | None, source: str, via_hub: bool) -> None:
    """Join a network with the join code its operator gave you (or a file holding it; `-` reads standard input).

    The code's certificate must name this node and its current key; the operator's fingerprint is
    checked, then the member list is fetched and the other members are trusted for network-scoped
    records. Any mismatch changes nothing here.
    """
    if source == "-":
        source = sys.stdin.readline().strip() or "-"
    with opened(home) as node:
        joined = asyncio.run(join_network(node, source, via_hub=via_hub, by=acting_user(node, user)))

    def human(item: dict[str, Any]) -> None:
        network, report = item["network"], item["refresh"]
        click.echo(
            f"joined {network['name']} ({network['id']}) operated by {network['operator']['url']}; "
            f"{network['members']} current member(s)"
        )
        _report_human(report)

    emit(joined, as_json, human)


@network_group.command("set")
@home_option
@json_option
@user_option
@click.argument("name")
@click.option(
    "--via-hub/--direct",
    "via_hub",
    required=True,
    default=None,
    help="--via-hub: send this node's shares within network NAME only to its hubs, which relay them to the "
    "other members; --direct: send them to every member.",
)
def set_(home: Path | None, as_json: bool, user: str | None, name: str, via_hub: bool) -> None:
    """Choose how this node's shares within network NAME leave: through the network's hubs or to every member.

    A small town that can make only outbound connections joins with --via-hub and is admitted by the
    operator with `network admit --pull-only`: it sends to the hub and pulls from the hub's outbox.
    """
    with opened(home) as node:
        network = set_via_hub(node, name, via_hub, by=acting_user(node, user))

    def human(item: dict[str, Any]) -> None:
        how = "only to its hubs, which relay them" if item["via_hub"] else "directly to every member"
        click.echo(f"{item['name']} ({item['id']}): this node's shares go {how}")

    emit(network, as_json, human)


def _report_human(report: dict[str, Any]) -> None:
    label = report.get("name", report["network"])
    if report.get("error"):
        click.echo(f"{label}: failed: {report['error']}")
    parts = [f"{len(report['trusted'])} newly trusted", f"{len(report['removed'])} no longer trusted"]
    if report.get("renewed"):
        parts.append("renewed " + " and ".join(report["renewed"]))
    click.echo(f"{label}: " + ", ".join(parts))
    for refused in report["refused"]:
        click.echo(f"  refused {refused['node_id']}: {short(refused['reason'], 100)}")


@network_group.command("refresh")
@home_option
@json_option
@click.argument("name", required=False)
def refresh(home: Path | None, as_json: bool, name: str | None) -> None:
    """Fetch the member and revocation lists of every network (or NAME) now, and trust or drop members.

    A running node does this at start and every pull_interval. A revocation list older than the one
    held is refused. Exits with status 1 if any network could not be refreshed.
    """
    with opened(home) as node:
        reports = asyncio.run(refresh_now(node, name))

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("this node belongs to no network")
        for report in data:
            _report_human(report)

    emit(reports, as_json, human)
    if any(report.get("error") for report in reports):
        sys.exit(1)


@network_group.command("revoke")
@home_option
@json_option
@user_option
@network_option
@click.argument("member", metavar="MEMBER")
def revoke(home: Path | None, as_json: bool, user: str | None, network: str | None, member: str) -> None:
    """Revoke MEMBER's membership: publish a new revocation list; this node stops trusting it at once.

    MEMBER is the member's node id, or the name (or a unique beginning of it) of a member this
    node trusts.

    The new list is pushed to every current member at once; a member that cannot be reached (or
    is pull-only) learns of it at its next refresh, within its pull_interval.
    """
    with opened(home) as node:
        node_id = peer_id_of(node, member)
        revoked = asyncio.run(revoke_and_push(node, node_id, network=network, by=acting_user(node, user)))

    def human(d: dict[str, Any]) -> None:
        click.echo(f"revoked {d['node_id']} from {d['name']}; revocation list version {d['version']}")
        push_report_human(d["push"])

    emit(revoked, as_json, human)


@network_group.command("leave")
@home_option
@json_option
@user_option
@click.argument("name")
def leave(home: Path | None, as_json: bool, user: str | None, name: str) -> None:
    """Leave the network NAME (or id): ask its operator to revoke this node, then drop the network here.

    This node stops trusting the members it knew only through NAME, and drops what was queued for
    NAME. If the operator cannot be reached, the node leaves all the same and says so; the operator
    then still lists it until it runs `praevnet network revoke`. The operator cannot leave its own
    network. A node that left cannot be admitted to NAME again (the revocation names the node).
    """
    with opened(home) as node:
        left = asyncio.run(leave_network(node, name, by=acting_user(node, user)))

    def human(d: dict[str, Any]) -> None:
        click.echo(
            f"left {d['name']} ({d['network']}); {len(d['removed'])} network peer(s) no longer trusted, "
            f"{d['dropped']} queued item(s) dropped"
        )
        if d["operator_notified"]:
            click.echo(f"the operator revoked this node's membership (revocation list version {d['version']})")
        else:
            click.echo(
                f"WARNING: the operator at {d['operator']['url']} was not told: {short(d['operator_error'], 200)}",
                err=True,
            )
            click.echo(
                "it still lists this node as a member; ask its officer to run "
                f"`praevnet network revoke {d['node_id']}`",
                err=True,
            )

    emit(left, as_json, human)


@network_group.command("members")
@home_option
@json_option
@network_option
def members(home: Path | None, as_json: bool, network: str | None) -> None:
    """List a network's members: the operator's register (with revoked and left ones), or a member's
    last verified list."""
    with opened(home) as node:
        listing = list_members(node, network)

    def human(data: dict[str, Any]) -> None:
        click.echo(f"{data['name']} ({data['network']}), this node is {data['role']}")
        print_table(
            ["SERIAL", "NAME", "NODE ID", "STATE", "ROLES", "UNTIL", "URL"],
            (
                [
                    m["serial"],
                    short(m["name"] or "?", 24),
                    m["node_id"],
                    m["state"],
                    ",".join(m["roles"]),
                    m["expires"],
                    m["url"],
                ]
                for m in data["members"]
            ),
        )

    emit(listing, as_json, human)


@network_group.command("list")
@home_option
@json_option
def list_(home: Path | None, as_json: bool) -> None:
    """List the networks this node operates or belongs to."""
    with opened(home) as node:
        items = list_networks(node)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no networks; create one with `praevnet network create NAME` or join with a code")
            return
        lines = []
        for item in data:
            notes = ["via hub"] if item["via_hub"] else []
            notes += [f"last refresh: {short(item['refresh_error'], 60)}"] if item["refresh_error"] else []
            lines.append(
                [
                    short(item["name"], 30),
                    item["id"],
                    item["role"],
                    item["members"],
                    f"v{item['revocations_version']}",
                    item["expires"],
                    "; ".join(notes),
                ]
            )
        print_table(["NAME", "ID", "ROLE", "MEMBERS", "REVOCATIONS", "CERTIFICATE UNTIL", "NOTES"], lines)

    emit(items, as_json, human)


for _command in PEERING_COMMANDS:
    network_group.add_command(_command)
