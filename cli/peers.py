"""`praevnet peers ...`: pair with other cities' nodes, list, verify and remove them."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from cli.common import (
    acting_user,
    emit,
    home_option,
    json_option,
    opened,
    print_table,
    short,
    url_or_file,
    user_option,
)
from node.exchange.status import peer_status, retry_now
from node.sharing.chain import chain_state
from node.trust.invites import peer_pair_safety_number
from node.trust.pairing import add_peer, add_peer_from_file
from node.trust.peers import find_peer, list_peers, mark_verified, peer_id_of, remove_peer


@click.group("peers")
def peers_group() -> None:
    """Trusted peers: other cities' nodes this node exchanges with."""


def _notes(peer: dict[str, Any]) -> list[tuple[str, bool]]:
    return [
        ("pull-only", peer["pull_only"]),
        (f"network {peer['network']}", peer["network"] is not None),
        ("verified", peer["verified"] is not None),
    ]


@peers_group.command("add")
@home_option
@json_option
@click.argument("source", metavar="BASE_URL_OR_FILE")
@click.option("--fingerprint", required=True, help="The peer's fingerprint (SHA256:...), obtained from its officer.")
@click.option("--pull-only", is_flag=True, help="Never push to this peer; it pulls what is shared with it.")
@user_option
def add(home: Path | None, as_json: bool, source: str, fingerprint: str, pull_only: bool, user: str | None) -> None:
    """Pair with the node at BASE_URL (https://host:port), or from its descriptor FILE, after checking its
    fingerprint.

    A descriptor file comes from `praevnet id --descriptor` on the other node; use it (usually with
    --pull-only) for a node that cannot be reached from here. Any mismatch refuses the pairing.
    """
    with opened(home) as node:
        by = acting_user(node, user)
        url, path = url_or_file(source)
        if url is not None:
            peer = asyncio.run(add_peer(node, url, fingerprint, pull_only=pull_only, by=by))
        else:
            peer = add_peer_from_file(node, path, fingerprint, pull_only=pull_only, by=by)
    mode = " (pull-only)" if peer["pull_only"] else ""
    emit(peer, as_json, lambda p: click.echo(f"trusted {p['name']} ({p['node_id']}) at {p['url']}{mode}"))


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
            return
        print_table(
            ["NAME", "NODE ID", "URL", "FINGERPRINT", "NOTES"],
            (
                [
                    short(peer["name"], 30),
                    peer["node_id"],
                    peer["url"],
                    peer["fingerprint"],
                    ", ".join(note for note, on in _notes(peer) if on),
                ]
                for peer in data
            ),
        )

    emit(peers, as_json, human)


@peers_group.command("remove")
@home_option
@click.argument("peer", metavar="PEER")
@user_option
def remove(home: Path | None, peer: str, user: str | None) -> None:
    """Stop trusting PEER (its name, a unique beginning of it, or its node id): nothing more is sent to it or
    accepted from it."""
    with opened(home) as node:
        node_id = peer_id_of(node, peer)
        remove_peer(node, node_id, by=acting_user(node, user))
    click.echo(f"removed {node_id}")


@peers_group.command("status")
@home_option
@json_option
def status(home: Path | None, as_json: bool) -> None:
    """Delivery per peer: queue depth, last success and error, next retry, and cursor positions."""
    with opened(home) as node:
        items = peer_status(node)
        held = chain_state(node)["pending"]

    def human(data: list[dict[str, Any]]) -> None:
        if held:
            click.echo(f"this node's own envelopes are held until its peers tell it its chain head: {held}")
        if not data:
            click.echo("no trusted peers")
        for p in data:
            mode = " (pull-only)" if p["pull_only"] else ""
            click.echo(f"{p['name']} {p['node_id']}{mode}")
            click.echo(
                f"  queued {p['queued']} (in flight {p['in_flight']}), delivered {p['delivered']}, "
                f"refused {p['refused']}, forks refused {p['forks_refused']}"
            )
            click.echo(f"  last success {p['last_success'] or 'never'}; next retry {p['next_retry'] or 'now'}")
            if p["chain_fork"]:
                click.echo(f"  FORK: it refused this node's own envelope as a fork: {p['chain_fork']}")
            if p["last_error"]:
                streak = f" ({p['failures']} sends failed in a row)" if p["failures"] else ""
                click.echo(f"  last error{streak}: {short(p['last_error'], 100)}")
            click.echo(
                f"  cursors: ours in their outbox {p['our_cursor_in_their_outbox']}, theirs in ours "
                f"{p['their_cursor_in_our_outbox']} of {p['our_outbox_end_for_them']}"
            )

    emit(items, as_json, human)


@peers_group.command("retry")
@home_option
@click.argument("peer", metavar="PEER")
def retry(home: Path | None, peer: str) -> None:
    """End PEER's backoff (its name or node id): a running node sends what is queued for it at once."""
    with opened(home) as node:
        node_id = peer_id_of(node, peer)
        queued = retry_now(node, node_id)
    click.echo(f"{node_id}: {queued} envelope(s) queued; a running node sends them now")


def _interactive() -> bool:
    """Whether a person at a terminal can answer the confirmation question."""
    return sys.stdin is not None and sys.stdin.isatty()


@peers_group.command("verify")
@home_option
@user_option
@click.argument("peer", metavar="PEER")
@click.option("--yes", is_flag=True, help="Mark the peer verified without asking (the digits were compared).")
def verify(home: Path | None, user: str | None, peer: str, yes: bool) -> None:
    """Show the safety number of this node and PEER, to read aloud on the phone, and mark the peer verified.

    PEER is the peer's name (or a unique beginning of it) or its node id.

    Both officers run this and read the twelve groups to each other; they are the same on both
    sides only if each node holds the other's real key. After they match, confirm (or pass --yes)
    and the peer is marked verified. Without a terminal and without --yes, it only prints.
    """
    with opened(home) as node:
        found = find_peer(node, peer)
        node_id = found["node_id"]
        number, shown = peer_pair_safety_number(node, node_id)
        confirming = yes or _interactive()
        actor = acting_user(node, user) if confirming else None
        groups = number.split()
        click.echo(f"safety number of this node and {found['name']} ({node_id}):")
        for start in range(0, len(groups), 4):
            click.echo("    " + " ".join(groups[start : start + 4]))
        if found["verified"]:
            click.echo(f"verified on {found['verified']} by {found['verified_by']}")
        if actor is None:
            click.echo("not marked verified: run it at a terminal, or pass --yes once the digits match")
            return
        if not yes and not click.confirm("Does the other officer read exactly these digits?", default=False):
            click.echo("not marked verified; if the digits differ, do not exchange anything and call the other city")
            return
        marked = mark_verified(node, node_id, shown, by=actor)
    click.echo(f"marked {marked['name']} ({node_id}) verified")
