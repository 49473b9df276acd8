"""What peers sent, as officers read it: the newest version of each received record and alert, and
a record's history, each entry re-verified at the moment it is read."""

from __future__ import annotations

import json
from typing import Any

from node.errors import NodeError, NotFound
from node.home import Node
from node.store import now, rows
from node.trust.peer_keys import KeyBook
from node.trust.peers import get_peer, peer_exists
from protocol.envelope import verify_envelope
from protocol.errors import ProtocolError
from protocol.timestamps import parse_timestamp


def _entry(row: dict[str, Any], book: KeyBook) -> dict[str, Any]:
    envelope = json.loads(row["envelope"])
    try:
        checked = verify_envelope(envelope, book.resolve)
        problem = book.problem(checked.origin, checked.key_id, checked.created, parse_timestamp(row["received"]))
        verified = problem is None
    except ProtocolError as exc:
        verified, problem = False, str(exc)
    return {
        "kind": row["kind"],
        "id": row["id"],
        "version": row["version"],
        "tlp": row["tlp"],
        "origin": row["origin"],
        "origin_name": row.get("origin_name"),
        "seq": row["seq"],
        "created": envelope.get("created"),
        "received": row["received"],
        "expires": row["expires"],
        "erased": row["erased"],
        "verified": verified,
        "problem": problem,
        "content": envelope.get("content"),
    }


def list_inbox(node: Node, kind: str | None = None, *, include_lapsed: bool = False) -> list[dict[str, Any]]:
    """The newest version of each record and alert peers sent, newest first, re-verified now.

    A version the origin sealed more than once (e.g. for a network share; its type, label and content
    are the same, node.exchange.inbox_store) is shown once, as first received.

    Retracted (erased) entries and lapsed alerts are left out unless `include_lapsed` is given.
    """
    book = KeyBook.load(node.db.conn)
    found = rows(
        node.db,
        """SELECT i.*, p.name AS origin_name FROM inbox i LEFT JOIN peers p ON p.node_id = i.origin
           WHERE i.kind != 'retraction' AND i.rowid = (
               SELECT j.rowid FROM inbox j WHERE j.origin = i.origin AND j.id = i.id AND j.kind != 'retraction'
               ORDER BY j.version DESC, j.rowid LIMIT 1)
           ORDER BY i.received DESC, i.rowid DESC""",
    )
    moment = now()
    entries = []
    for row in found:
        if kind is not None and row["kind"] != kind:
            continue
        lapsed = row["erased"] is not None or (row["expires"] is not None and parse_timestamp(row["expires"]) <= moment)
        if lapsed and not include_lapsed:
            continue
        entries.append(_entry(row, book))
    return entries


def history(node: Node, record_id: str) -> list[dict[str, Any]]:
    """Every version (and retraction) of a received record that this node holds, oldest first."""
    found = rows(
        node.db,
        """SELECT i.*, p.name AS origin_name FROM inbox i LEFT JOIN peers p ON p.node_id = i.origin
           WHERE i.id = ? ORDER BY i.origin, i.version, i.seq""",
        (record_id,),
    )
    if not found:
        raise NotFound(f"no received record with id {record_id!r}")
    book = KeyBook.load(node.db.conn)
    return [_entry(row, book) for row in found]


def _held_versions(node: Node, record_id: str, origin: str | None) -> list[dict[str, Any]]:
    """Every row held of `record_id` (from `origin`, if given), by origin, version and seq; NotFound if none.

    Refused when several origins sent a record with this id and `origin` does not say which.
    """
    found = rows(
        node.db,
        """SELECT i.*, p.name AS origin_name FROM inbox i LEFT JOIN peers p ON p.node_id = i.origin
           WHERE i.id = ? AND (? IS NULL OR i.origin = ?) ORDER BY i.origin, i.version, i.seq""",
        (record_id, origin, origin),
    )
    if not any(row["kind"] != "retraction" for row in found):
        sender = f" from {origin}" if origin is not None else ""
        raise NotFound(f"no received record or alert with id {record_id!r}{sender} (see `praevnet inbox list --all`)")
    origins = {row["origin"]: row["origin_name"] for row in found}
    if len(origins) > 1:
        named = ", ".join(f"{name or '?'} ({node_id})" for node_id, name in sorted(origins.items()))
        raise NodeError(f"{len(origins)} peers sent a record with id {record_id}: {named}; say which with --origin")
    return found


def show_received(node: Node, record_id: str, origin: str | None = None) -> dict[str, Any]:
    """One record or alert peers sent, as an officer reads it (the CLI's `inbox show`, the web's Bericht page).

    The newest version's content, label and origin (node id and name), whether its signature verifies
    now (`verified`, else `problem`), and its state: `current`, `expired` (an alert past `expires`),
    `retracted` (its origin withdrew it; `retracted` says when and up to which version) or `erased`
    (its content was purged after expiry). `versions` lists every version and retraction held, oldest
    first, without content. `origin_trusted` says whether the origin is still a trusted peer, and
    `origin_confirmed` when its officers compared the safety number (`praevnet peers verify`), if they did.
    `origin` (a node id) is needed only when several peers sent a record with this id.
    """
    found = _held_versions(node, record_id, origin)
    book = KeyBook.load(node.db.conn)
    entries = [_entry(row, book) for row in found]
    contents = [entry for entry in entries if entry["kind"] != "retraction"]
    newest = next(entry for entry in contents if entry["version"] == contents[-1]["version"])
    sender = found[0]["origin"]
    retraction = rows(
        node.db, "SELECT version, received FROM retractions WHERE origin = ? AND id = ?", (sender, record_id)
    )
    peer = get_peer(node, sender) if peer_exists(node, sender) else None
    expired = newest["expires"] is not None and parse_timestamp(newest["expires"]) <= now()
    if retraction and retraction[0]["version"] >= newest["version"]:
        state = "retracted"
    elif expired:
        state = "expired"
    else:
        state = "erased" if newest["erased"] is not None else "current"
    envelope = json.loads(next(row for row in found if row["seq"] == newest["seq"])["envelope"])
    return {
        **newest,
        "network": envelope.get("network"),
        "state": state,
        "expired": expired,
        "retracted": retraction[0] if retraction else None,
        "origin_trusted": peer is not None,
        "origin_confirmed": peer["verified"] if peer is not None else None,
        "versions": [{key: value for key, value in entry.items() if key != "content"} for entry in entries],
    }
