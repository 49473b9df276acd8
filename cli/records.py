"""`praevnet records ...` and `praevnet alerts ...`: the officer's own records and alerts, and sharing them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cli.common import (
    PEER_HELP,
    F,
    acting_user,
    emit,
    emit_json,
    home_option,
    json_option,
    opened,
    peer_ids,
    print_table,
    short,
    user_option,
)
from cli.record_files import FILE_COMMANDS
from node.inputs import read_content_file
from node.sharing.preview import preview
from node.sharing.records import add_record, edit_record, get_record, list_records, send_alert
from node.sharing.shares import retract, share_record, unshare
from node.trust.peers import peer_id_of
from protocol.errors import ProtocolError
from protocol.tlp import DEFAULT, LABELS, parse_label


def to_option(func: F) -> F:
    """--to PEER (repeatable): a recipient peer, by name or node id."""
    return click.option("--to", "to", multiple=True, metavar="PEER", help=f"A recipient: {PEER_HELP} (repeatable).")(
        func
    )


def all_peers_option(func: F) -> F:
    """--all-peers: share with every paired peer."""
    return click.option(
        "--all-peers", is_flag=True, help="Every peer paired with this node (not allowed for TLP:RED)."
    )(func)


def network_option(func: F) -> F:
    """--network NAME: share with every current member of a network."""
    return click.option(
        "--network",
        "network",
        metavar="NAME",
        default=None,
        help="Every current member of this network (not allowed for TLP:RED).",
    )(func)


def confirm_pii_option(func: F) -> F:
    """--confirm-pii: share despite a personal-data warning."""
    return click.option(
        "--confirm-pii", is_flag=True, help="Share despite possible personal data found by the check (recorded)."
    )(func)


def local_option(func: F) -> F:
    """--local FIELD (repeatable): keep an optional field on this node."""
    return click.option(
        "--local",
        "local",
        multiple=True,
        metavar="FIELD",
        help="Mark an optional field local (e.g. problem, implementation.costs): it never leaves, in any version "
        "(internal_notes and case_count always stay here).",
    )(func)


def _label(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return parse_label(value)
    except ProtocolError:
        raise click.BadParameter(f"{value!r}; use one of {', '.join(LABELS)}") from None


def tlp_option(default: str | None) -> Callable[[F], F]:
    """--tlp LABEL, accepted as `red`, `amber+strict`, `TLP:GREEN`, ..."""
    text = f"TLP 2.0 label (default {DEFAULT})" if default else "New TLP 2.0 label"
    return click.option(
        "--tlp", default=default, callback=_label, metavar="LABEL", help=f"{text}: {', '.join(LABELS)}."
    )


@click.group("records")
def records_group() -> None:
    """Experience records (Erfahrungsberichte) of this node.

    Start a record with `praevnet records template experience > bericht.toml`, fill it in and store
    it with `praevnet records add bericht.toml`.
    """


for _command in FILE_COMMANDS:
    records_group.add_command(_command)


@records_group.command("add")
@home_option
@json_option
@user_option
@tlp_option(DEFAULT)
@local_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def add(home: Path | None, as_json: bool, user: str | None, tlp: str, local: tuple[str, ...], file: Path) -> None:
    """Store the experience record in FILE locally and print its id; nothing is shared yet.

    FILE is TOML, as `praevnet records template experience` writes it, or JSON (a file named *.json,
    or one starting with `{`). Every problem in it is listed at once, each with its field.
    """
    with opened(home) as node:
        record_id = add_record(
            node, "experience", read_content_file(file), tlp=tlp, local=local, by=acting_user(node, user)
        )
    emit({"id": record_id}, as_json, lambda d: click.echo(d["id"]))


@records_group.command("edit")
@home_option
@json_option
@user_option
@tlp_option(None)
@local_option
@confirm_pii_option
@click.argument("record_id")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def edit(
    home: Path | None,
    as_json: bool,
    user: str | None,
    tlp: str | None,
    local: tuple[str, ...],
    confirm_pii: bool,
    record_id: str,
    file: Path | None,
) -> None:
    """Make a new version of RECORD_ID (record or alert) from FILE and/or a new label or local marks.

    FILE is TOML or JSON, as for `records add`; `praevnet records export RECORD_ID` writes the current
    content to start from. Peers the record is shared with receive the new version (after release,
    with four-eyes).
    """
    with opened(home) as node:
        content = read_content_file(file) if file is not None else None
        version = edit_record(
            node, record_id, content, tlp=tlp, local=local, by=acting_user(node, user), confirm_pii=confirm_pii
        )
    emit(
        {"id": record_id, "version": version},
        as_json,
        lambda d: click.echo(f"{d['id']} is now version {d['version']}"),
    )


def _state(item: dict[str, Any]) -> str:
    if item["retracted"]:
        return "retracted"
    if item["shared_with"] or item["pending"]:
        state = f"shared with {len(item['shared_with'])}"
        return state + (f", {len(item['pending'])} pending" if item["pending"] else "")
    return "local"


def _list_human(data: list[dict[str, Any]], title_field: str) -> None:
    if not data:
        click.echo("nothing here yet")
        return
    alerts = title_field == "headline"
    headers = ["ID", "VERSION", "LABEL", "STATE", *(["EXPIRES"] if alerts else []), title_field.upper()]
    print_table(
        headers,
        (
            [
                item["id"],
                f"v{item['version']}",
                item["tlp"],
                _state(item),
                *([item["expires"]] if alerts else []),
                short(item["content"].get(title_field), 50),
            ]
            for item in data
        ),
    )


_LIMIT = click.option(
    "--limit", type=click.IntRange(min=1), default=None, metavar="N", help="Only the newest N (default: all)."
)


@records_group.command("list")
@home_option
@json_option
@_LIMIT
def list_(home: Path | None, as_json: bool, limit: int | None) -> None:
    """List this node's experience records, newest first."""
    with opened(home) as node:
        items = list_records(node, "experience", limit=limit)
    emit(items, as_json, lambda d: _list_human(d, "title"))


@records_group.command("show")
@home_option
@json_option
@click.argument("record_id")
def show(home: Path | None, as_json: bool, record_id: str) -> None:
    """Show one of this node's records or alerts: content with local fields, label, versions and shares.

    What peers sent is shown by `praevnet inbox show ID`.
    """
    with opened(home) as node:
        item = get_record(node, record_id)
    emit(item, as_json, emit_json)


@records_group.command("share")
@home_option
@json_option
@user_option
@confirm_pii_option
@click.argument("record_id")
@to_option
@all_peers_option
@network_option
def share(
    home: Path | None,
    as_json: bool,
    user: str | None,
    confirm_pii: bool,
    record_id: str,
    to: tuple[str, ...],
    all_peers: bool,
    network: str | None,
) -> None:
    """Sign RECORD_ID and share it with the named peers, all paired peers or a network's members.

    Local fields stay here. A network share reaches the members trusted at the time of sharing.
    """
    with opened(home) as node:
        outcome = share_record(
            node,
            record_id,
            peer_ids(node, to),
            all_peers,
            by=acting_user(node, user),
            confirm_pii=confirm_pii,
            network=network,
        )

    def human(d: dict[str, Any]) -> None:
        verb = "shared" if d["state"] == "released" else "waiting for release (four-eyes):"
        click.echo(f"{verb} {d['id']} with {len(d['recipients'])} peer(s): {', '.join(d['recipients'])}")

    emit(outcome, as_json, human)


@records_group.command("preview")
@home_option
@json_option
@user_option
@confirm_pii_option
@click.argument("record_id")
@click.option("--to", "peer_id", metavar="PEER", default=None, help=f"The peer to preview for: {PEER_HELP}.")
@click.option("--network", "network", metavar="NAME", default=None, help="Or: the network to preview for.")
def preview_(
    home: Path | None,
    as_json: bool,
    user: str | None,
    confirm_pii: bool,
    record_id: str,
    peer_id: str | None,
    network: str | None,
) -> None:
    """Print the exact canonical bytes a peer (or a network's members) would receive for RECORD_ID, and their SHA-256.

    This seals (signs) the current version, so any share of it sends exactly these bytes.
    """
    with opened(home) as node:
        recipient = peer_id_of(node, peer_id) if peer_id is not None else None
        shown = preview(
            node, record_id, recipient, network=network, by=acting_user(node, user), confirm_pii=confirm_pii
        )

    def human(d: dict[str, Any]) -> None:
        click.echo(f"# {d['id']} version {d['version']} ({d['tlp']}) for {d['to']}: {d['size']} bytes, {d['sha256']}")
        click.echo(d["bytes"])

    emit(shown, as_json, human)


@records_group.command("unshare")
@home_option
@user_option
@click.argument("record_id")
@click.option(
    "--from", "peer", required=True, metavar="PEER", help=f"The peer to withdraw the record from: {PEER_HELP}."
)
def unshare_(home: Path | None, user: str | None, record_id: str, peer: str) -> None:
    """Withdraw RECORD_ID from one peer; if it received anything, it gets a signed retraction."""
    with opened(home) as node:
        peer_id = peer_id_of(node, peer)
        reached = unshare(node, record_id, peer_id, by=acting_user(node, user))
    click.echo(f"withdrew {record_id} from {peer_id}" + ("; retraction queued" if reached else ""))


@records_group.command("retract")
@home_option
@user_option
@click.argument("record_id")
def retract_(home: Path | None, user: str | None, record_id: str) -> None:
    """Retract RECORD_ID everywhere: every peer that received any version erases its content."""
    with opened(home) as node:
        reached = retract(node, record_id, by=acting_user(node, user))
    click.echo(f"retracted {record_id}; retraction queued for {len(reached)} peer(s)")


@click.group("alerts")
def alerts_group() -> None:
    """Early-warning alerts (Frühwarnmeldungen)."""


@alerts_group.command("send")
@home_option
@json_option
@user_option
@tlp_option(DEFAULT)
@local_option
@confirm_pii_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@to_option
@all_peers_option
@network_option
def send(
    home: Path | None,
    as_json: bool,
    user: str | None,
    tlp: str,
    local: tuple[str, ...],
    confirm_pii: bool,
    file: Path,
    to: tuple[str, ...],
    all_peers: bool,
    network: str | None,
) -> None:
    """Sign the alert in FILE and send it to the named peers, all paired peers or a network's members.

    FILE is TOML, as `praevnet records template alert` writes it, or JSON. An exact case_count stays
    here; peers receive only its band (small numbers are never shared).
    """
    with opened(home) as node:
        outcome = send_alert(
            node,
            read_content_file(file),
            peer_ids(node, to),
            all_peers,
            tlp=tlp,
            local=local,
            by=acting_user(node, user),
            confirm_pii=confirm_pii,
            network=network,
        )
    emit(outcome, as_json, lambda d: click.echo(f"{d['id']}  {d['state']} for {len(d['recipients'])} peer(s)"))


@alerts_group.command("list")
@home_option
@json_option
@click.option("--all", "include_lapsed", is_flag=True, help="Include alerts that have expired.")
@_LIMIT
def alerts_list(home: Path | None, as_json: bool, include_lapsed: bool, limit: int | None) -> None:
    """List this node's alerts that have not expired, newest first."""
    with opened(home) as node:
        items = list_records(node, "alert", include_lapsed=include_lapsed, limit=limit)
    emit(items, as_json, lambda d: _list_human(d, "headline"))
