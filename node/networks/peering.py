"""Peering networks: network cards, the operators' peering statements, and the members' copies of them.

Both operators agree: each prints its network card (`network_card`), hands it to the other, and
runs `peer_network` with the other's card and the fingerprint of the other network's key read out
by its officer. That checks the card, pairs the two operator nodes as normal peers (the card's
operator fingerprint checked against the operator's descriptor), and signs with this network's key a
peering statement naming the other network and the labels that may cross (TLP:CLEAR only).
`unpeer_and_push` signs a withdrawal (no labels, a higher serial). Members fetch the statements their
operator signed (`GET /fed/v1/networks/{id}/peerings`, current members only) at every refresh and
keep the newest per peered network (no rollback); each new statement (a peering, a renewal, a
withdrawal) is also pushed to them at once (`push_statement`, `POST /fed/v1/networks/{id}/peerings`,
accepted only from their operator: `receive_statement`). A peered operator may fetch the network's
signed revocation list (`revocations_for`), so that it can check origins of this network (node.networks.crossing).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from node import audit
from node.errors import NodeError, NotFound, PeerError
from node.home import Node
from node.networks.operator import operated_for, revocations_answer
from node.networks.push import from_operator, push_to_members
from node.networks.registry import load_network_key, network_public_key, resolve_network
from node.store import dumps, now, now_text, rows, write
from node.transport.client import fetch_descriptor, new_session, signed_request
from node.trust.peers import check_fingerprint_text, get_peer, trust_descriptor
from node.users import Actor
from protocol.canonical import parse
from protocol.encoding import b64url
from protocol.errors import ProtocolError
from protocol.keys import fingerprint, public_key_from_b64
from protocol.network import check_network_id, verify_revocations
from protocol.peering import Card, Peering, issue_card, issue_peering, verify_card, verify_peering
from protocol.timestamps import format_timestamp, parse_timestamp

MAX_CARD_FILE = 64 * 1024
PEERINGS = "peerings"


def network_card(node: Node, name: str | None = None) -> dict[str, Any]:
    """The card of a network this node operates, signed by the network key, for another network's operator."""
    row = resolve_network(node, name, role="operator")
    return issue_card(
        load_network_key(node, row["id"]),
        name=row["name"],
        operator_node=node.node_id,
        operator_url=node.config.url,
        operator_fingerprint=node.fingerprint,
        issued=now(),
    )


def read_card(source: str) -> Card:
    """A verified network card from a file (JSON); NodeError naming what is wrong."""
    path = Path(source)
    if not path.is_file():
        raise NodeError(f"{source} is not a file; save the other operator's network card to a file first")
    if path.stat().st_size > MAX_CARD_FILE:
        raise NodeError(f"{path} is larger than {MAX_CARD_FILE} bytes; it is no network card")
    try:
        return verify_card(parse(path.read_bytes()))
    except ProtocolError as exc:
        raise NodeError(f"{path} is not a valid network card: {exc}; nothing was changed") from None


def _present(row: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    labels = json.loads(row["labels"])
    stamp = now_text()
    statement = json.loads(row["statement"])
    if not labels:
        state = "withdrawn"
    elif row["expires"] <= stamp:
        state = "expired"
    elif statement["not_before"] > stamp:
        state = "not yet valid"
    else:
        state = "current"
    return {
        "network": row["network"],
        "name": names.get(row["network"]),
        "peer_network": row["peer_network"],
        "peer_name": row["peer_name"],
        "peer_fingerprint": fingerprint(public_key_from_b64(row["peer_key"])),
        "peer_operator": {"node_id": row["peer_operator"], "url": row["peer_operator_url"]},
        "labels": labels,
        "not_before": statement["not_before"],
        "expires": row["expires"],
        "serial": row["serial"],
        "state": state,
        "peer_revocations_version": row["revocations_version"],
    }


def list_peerings(node: Node, name: str | None = None) -> list[dict[str, Any]]:
    """The peering statements held: those this node's networks signed (on an operator) or learned (on a member)."""
    networks = rows(node.db, "SELECT id, name FROM networks")
    names = {row["id"]: row["name"] for row in networks}
    wanted = resolve_network(node, name)["id"] if name else None
    found = rows(
        node.db,
        "SELECT * FROM peerings WHERE (? IS NULL OR network = ?) ORDER BY network, peer_network",
        (wanted, wanted),
    )
    return [_present(row, names) for row in found]


def _next_serial(node: Node, network_id: str) -> int:
    found = node.db.execute("SELECT max(serial) FROM peerings WHERE network = ?", (network_id,)).fetchone()
    return int(found[0] or 0) + 1


async def peer_network(
    node: Node, name: str | None, card_source: str, network_fingerprint: str, *, lifetime: timedelta, by: Actor
) -> dict[str, Any]:
    """Peer the network `name` (operated here) with the network of a card; return the peering.

    The card must verify and its key have `network_fingerprint` (read out by the other operator's
    officer); the other operator's descriptor must have the card's operator fingerprint. Then, in one
    transaction, the other operator is trusted as a paired peer and a peering statement allowing
    TLP:CLEAR, valid for `lifetime`, is signed with this network's key. Running it again renews the
    statement. Audited as `network.peer`.
    """
    by.require("manage_users")
    row = resolve_network(node, name, role="operator")
    expected = check_fingerprint_text(network_fingerprint)
    card = read_card(card_source)
    if fingerprint(card.key) != expected:
        raise NodeError(
            f"fingerprint mismatch: the card's network key is {fingerprint(card.key)}, not {expected}; "
            "not peering, check with the other operator"
        )
    if rows(node.db, "SELECT 1 FROM networks WHERE id = ?", (card.network,)):
        raise NodeError(f"this node belongs to network {card.network} itself; a network peers with other networks")
    if card.operator_node == node.node_id:
        raise NodeError("the card names this node as the other network's operator; not peering")
    async with new_session(node) as session:
        descriptor = await fetch_descriptor(session, card.operator_url)
    if descriptor["node_id"] != card.operator_node:
        raise NodeError(f"the node at {card.operator_url} is {descriptor['node_id']}, not {card.operator_node}")
    key = load_network_key(node, row["id"])
    moment = now()
    with write(node.db) as conn:
        trust_descriptor(node, card.operator_url, card.operator_fingerprint, descriptor, within=conn, by=by)
        serial = conn.execute("SELECT max(serial) FROM peerings WHERE network = ?", (row["id"],)).fetchone()
        statement = issue_peering(
            key,
            peer_key=card.key,
            not_before=moment - timedelta(minutes=5),
            expires=moment + lifetime,
            serial=int(serial[0] or 0) + 1,
        )
        conn.execute(
            """INSERT INTO peerings (network, peer_network, peer_name, peer_key, peer_operator, peer_operator_url,
                                     statement, serial, labels, expires, updated)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (network, peer_network) DO UPDATE SET peer_name = excluded.peer_name,
                   peer_operator = excluded.peer_operator, peer_operator_url = excluded.peer_operator_url,
                   statement = excluded.statement, serial = excluded.serial, labels = excluded.labels,
                   expires = excluded.expires, updated = excluded.updated""",
            (
                row["id"],
                card.network,
                card.name,
                b64url(card.key),
                card.operator_node,
                card.operator_url,
                dumps(statement),
                statement["serial"],
                dumps(statement["labels"]),
                statement["expires"],
                now_text(),
            ),
        )
        audit.append(
            conn,
            user=by.name,
            action="network.peer",
            recipients=[card.operator_node],
            detail=(
                f"{row['name']} ({row['id']}) peers with {card.name} ({card.network}, {expected}) operated by "
                f"{card.operator_url}; labels {', '.join(statement['labels'])}, serial {statement['serial']}, "
                f"until {statement['expires']}"
            ),
        )
    peered = next(item for item in list_peerings(node, row["id"]) if item["peer_network"] == card.network)
    async with new_session(node) as session:
        peered["push"] = await push_statement(node, row["id"], card.network, session)
    return peered


def _peering_row(node: Node, network_id: str, peer: str) -> dict[str, Any]:
    found = rows(
        node.db,
        "SELECT * FROM peerings WHERE network = ? AND (peer_network = ? OR peer_name = ?)",
        (network_id, peer, peer),
    )
    if not found:
        raise NotFound(f"network {network_id} does not peer with {peer!r} (see `praevnet network peerings`)")
    return found[0]


def withdraw_peering(node: Node, name: str | None, peer: str, *, by: Actor) -> dict[str, Any]:
    """Withdraw the peering of the network `name` (operated here) with `peer` (a network id or name).

    A withdrawal statement (no labels, the next serial) replaces the held one, so that an older
    statement can never be brought back; from now on nothing crosses to or from that network here.
    Members learn it when it is pushed (`unpeer_and_push`) or at their next refresh. The other
    operator stays a paired peer (remove it with `praevnet peers remove`). Audited as `network.unpeer`.
    """
    by.require("manage_users")
    row = resolve_network(node, name, role="operator")
    held = _peering_row(node, row["id"], peer)
    if not json.loads(held["labels"]):
        raise NodeError(f"the peering with {held['peer_name'] or held['peer_network']} is already withdrawn")
    key = load_network_key(node, row["id"])
    moment = now()
    expires = max(parse_timestamp(held["expires"]), moment + timedelta(days=1))
    with write(node.db) as conn:
        statement = issue_peering(
            key,
            peer_key=public_key_from_b64(held["peer_key"]),
            labels=(),
            not_before=moment,
            expires=expires,
            serial=_next_serial(node, row["id"]),
        )
        conn.execute(
            """UPDATE peerings SET statement = ?, serial = ?, labels = '[]', expires = ?, updated = ?
               WHERE network = ? AND peer_network = ?""",
            (dumps(statement), statement["serial"], statement["expires"], now_text(), row["id"], held["peer_network"]),
        )
        audit.append(
            conn,
            user=by.name,
            action="network.unpeer",
            recipients=[held["peer_operator"]] if held["peer_operator"] else [],
            detail=f"{row['name']} ({row['id']}) withdrew its peering with {held['peer_network']}, "
            f"serial {statement['serial']}",
        )
    return next(item for item in list_peerings(node, row["id"]) if item["peer_network"] == held["peer_network"])


async def unpeer_and_push(node: Node, name: str | None, peer: str, *, by: Actor) -> dict[str, Any]:
    """`network unpeer`: withdraw the peering (`withdraw_peering`), then push the withdrawal to the current
    members at once, so that they refuse crossings from now on; the push report is under "push"."""
    withdrawn = withdraw_peering(node, name, peer, by=by)
    async with new_session(node) as session:
        withdrawn["push"] = await push_statement(node, withdrawn["network"], withdrawn["peer_network"], session)
    return withdrawn


async def push_statement(
    node: Node, network_id: str, peer_network: str, session: aiohttp.ClientSession
) -> dict[str, Any]:
    """Send the held statement of our network `network_id` about `peer_network` to the current members
    (`POST /fed/v1/networks/{id}/peerings`); returns the push report (node.networks.push.push_to_members)."""
    row = resolve_network(node, network_id, role="operator")
    held = _peering_row(node, row["id"], peer_network)
    statement = json.loads(held["statement"])
    what = f"peering statement about {peer_network}, serial {statement['serial']}"
    report = await push_to_members(node, row, f"/fed/v1/networks/{row['id']}/{PEERINGS}", statement, session, what=what)
    return {"network": row["id"], "peer_network": peer_network, "serial": statement["serial"], **report}


# --- the operator's endpoints ------------------------------------------------------------------


def peerings_answer(node: Node, network_id: str, peer: dict[str, Any]) -> dict[str, Any]:
    """GET /fed/v1/networks/{id}/peerings: every peering statement of the network, for a current member only."""
    operated_for(node, network_id, peer)
    found = rows(node.db, "SELECT statement FROM peerings WHERE network = ? ORDER BY peer_network", (network_id,))
    return {"peerings": [json.loads(row["statement"]) for row in found]}


def revocations_for(node: Node, network_id: str, peer: dict[str, Any]) -> dict[str, Any]:
    """GET /fed/v1/networks/{id}/revocations: for a current member, or for the operator of a network
    this one peers with now (it checks this network's origins of crossing envelopes)."""
    stamp = now_text()
    peered = rows(
        node.db,
        """SELECT n.revocations FROM peerings p JOIN networks n ON n.id = p.network
           WHERE p.network = ? AND n.role = 'operator' AND p.peer_operator = ? AND p.labels != '[]'
             AND p.expires > ?""",
        (network_id, peer["node_id"], stamp),
    )
    if peered:
        document: dict[str, Any] = json.loads(peered[0]["revocations"])
        return document
    return revocations_answer(node, network_id, peer)


# --- keeping statements and lists ---------------------------------------------------------------


def store_statement(node: Node, row: dict[str, Any], statement: object) -> Peering:
    """Keep a peering statement of our network `row` learned from its operator: it must verify with the
    network key and not roll back the serial held; one of the serial held already changes nothing.
    ProtocolError otherwise, and nothing is stored."""
    if not isinstance(statement, dict):
        raise ProtocolError("a peering statement must be a JSON object")
    peer_network = check_network_id(statement.get("peer_network"))
    held = node.db.execute(
        "SELECT serial FROM peerings WHERE network = ? AND peer_network = ?", (row["id"], peer_network)
    ).fetchone()
    peering = verify_peering(statement, network_public_key(row), held_serial=int(held[0]) if held else 0)
    with write(node.db) as conn:
        conn.execute(
            """INSERT INTO peerings (network, peer_network, peer_key, statement, serial, labels, expires, updated)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (network, peer_network) DO UPDATE SET statement = excluded.statement,
                   serial = excluded.serial, labels = excluded.labels, expires = excluded.expires,
                   updated = excluded.updated
               WHERE excluded.serial > peerings.serial""",
            (
                row["id"],
                peering.peer_network,
                b64url(peering.peer_key),
                dumps(statement),
                peering.serial,
                dumps(list(peering.labels)),
                format_timestamp(peering.expires),
                now_text(),
            ),
        )
    return peering


def receive_statement(node: Node, network_id: str, peer: dict[str, Any], body: bytes) -> dict[str, Any]:
    """POST /fed/v1/networks/{id}/peerings at a member: keep a peering statement its operator pushed.

    NotFound (404) unless this node belongs to that network; PolicyError (403) unless `peer` (the
    authenticated sender) is its operator; ProtocolError (400) unless the body is a statement of that
    network verifying with its key and not older than the one held. Nothing is stored then.
    """
    row, statement = from_operator(node, network_id, peer, body, what="peering statement")
    try:
        peering = store_statement(node, row, statement)
    except ProtocolError as exc:
        raise ProtocolError(f"refused the peering statement: {exc}") from None
    held = node.db.execute(
        "SELECT serial FROM peerings WHERE network = ? AND peer_network = ?", (network_id, peering.peer_network)
    ).fetchone()
    return {"network": network_id, "peer_network": peering.peer_network, "serial": int(held[0])}


async def refresh_peerings(
    node: Node, session: aiohttp.ClientSession, row: dict[str, Any], operator: dict[str, Any]
) -> list[dict[str, str]]:
    """A member fetches its operator's peering statements and keeps each that verifies; returns the refused."""
    answer = await signed_request(node, session, operator, "GET", f"/fed/v1/networks/{row['id']}/{PEERINGS}")
    if not isinstance(answer, dict) or set(answer) != {PEERINGS} or not isinstance(answer[PEERINGS], list):
        raise PeerError('the peering list must be {"peerings": [...]}')
    refused = []
    for statement in answer[PEERINGS]:
        try:
            store_statement(node, row, statement)
        except ProtocolError as exc:
            who = statement.get("peer_network") if isinstance(statement, dict) else None
            refused.append({"node_id": f"peering {who if isinstance(who, str) else '?'}", "reason": str(exc)})
    return refused


def store_peer_revocations(node: Node, peering_row: dict[str, Any], document: object) -> int:
    """Keep a revocation list of a peered network if it verifies with that network's key, has not expired
    and is newer than the one held (an older one is refused as a rollback); return the version held now."""
    held = int(peering_row["revocations_version"])
    verified = verify_revocations(document, public_key_from_b64(peering_row["peer_key"]), now=now(), held_version=held)
    with write(node.db) as conn:
        conn.execute(
            """UPDATE peerings SET revocations = ?, revocations_version = ?
               WHERE network = ? AND peer_network = ? AND revocations_version < ?""",
            (dumps(document), verified.version, peering_row["network"], peering_row["peer_network"], verified.version),
        )
    return max(held, verified.version)


async def fetch_peer_revocations(node: Node, session: aiohttp.ClientSession, network_id: str) -> list[dict[str, str]]:
    """An operator fetches the revocation list of every network it peers with now from that network's
    operator; returns the failures (a failure keeps the list held)."""
    failed = []
    stamp = now_text()
    for peering in rows(
        node.db,
        "SELECT * FROM peerings WHERE network = ? AND peer_operator IS NOT NULL AND labels != '[]' AND expires > ?",
        (network_id, stamp),
    ):
        try:
            operator = get_peer(node, peering["peer_operator"])
            path = f"/fed/v1/networks/{peering['peer_network']}/revocations"
            store_peer_revocations(node, peering, await signed_request(node, session, operator, "GET", path))
        except (NodeError, ProtocolError) as exc:
            failed.append({"node_id": f"peering {peering['peer_network']}", "reason": str(exc)})
    return failed
