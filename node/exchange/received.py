"""What peers sent, as officers read it: the newest version of each received record and alert, and
a record's history, each entry re-verified at the moment it is read."""

from __future__ import annotations

import json
from typing import Any

from node.errors import NotFound
from node.home import Node
from node.store import now, rows
from node.trust.peer_keys import KeyBook
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
