"""This node's own experience records and alerts: adding, editing into new versions, listing, showing.

A record stays local until it is shared (node.sharing.shares). Every edit makes a new version with the same
id; local marks only ever grow, so a field once marked local never leaves in any version. Alerts
lapse at `expires`: they drop out of lists then, and their content is purged later (node.sharing.expiry).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from uuid6 import uuid7

from node import audit
from node.errors import NodeError, NotFound
from node.home import Node
from node.sharing import policy
from node.sharing import shares as sharing
from node.sharing.release import list_shares, void_older_requests
from node.store import dumps, now, now_text, rows, write
from node.users import Actor
from protocol.errors import ProtocolError
from protocol.records import ContentError, Kind, validate_content
from protocol.timestamps import format_timestamp, parse_timestamp
from protocol.tlp import DEFAULT, check_label


class InvalidContent(NodeError):
    """An officer's content that does not fit its schema; `problems` lists every (field path, reason) at once.

    The message names the one problem on one line, or lists several, one a line.
    """

    def __init__(self, kind: Kind, problems: list[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        lines = [reason if reason.startswith(f"{field} ") else f"{field}: {reason}" for field, reason in problems]
        if len(lines) == 1:
            super().__init__(f"invalid {kind}: {lines[0]}")
        else:
            super().__init__(f"invalid {kind}, {len(lines)} problems:" + "".join(f"\n  {line}" for line in lines))


def _validate(node: Node, kind: Kind, content: object) -> dict[str, Any]:
    """Check an officer's content; an alert's case band is the node's to compute, never the officer's.

    Every problem is reported at once (InvalidContent), each naming its field.
    """
    problems: list[tuple[str, str]] = []
    if kind == "alert" and isinstance(content, Mapping) and "case_band" in content:
        problems.append(
            (
                "case_band",
                "case_band is computed by this node from case_count and its small-number threshold "
                f"(k = {node.config.alerts.small_number_threshold}); give case_count instead: "
                "the exact count stays on this node, peers receive only its band",
            )
        )
        content = {name: value for name, value in content.items() if name != "case_band"}
    try:
        checked = validate_content(kind, content, allow_local=True, now=now())
    except ContentError as exc:
        problems = [*exc.problems, *problems]
    if problems:
        raise InvalidContent(kind, problems)
    return checked


def _expires(kind: Kind, content: Mapping[str, Any]) -> str | None:
    return format_timestamp(parse_timestamp(content["expires"])) if kind == "alert" else None


def insert_record(
    node: Node,
    conn: sqlite3.Connection,
    kind: Kind,
    content: Mapping[str, Any],
    tlp: str,
    marks: Sequence[str],
    by: Actor,
) -> dict[str, Any]:
    """Store a new record with its first version inside a write transaction; return the record row."""
    record_id = uuid7().hex  # time-ordered (RFC 9562), so that every index on record ids grows at its end
    stamp = now_text()
    conn.execute(
        "INSERT INTO records (id, kind, created, author, version, local_fields, expires) VALUES (?, ?, ?, ?, 1, ?, ?)",
        (record_id, kind, stamp, by.name, dumps(list(marks)), _expires(kind, content)),
    )
    conn.execute(
        "INSERT INTO versions (record_id, version, content, tlp, author, created) VALUES (?, 1, ?, ?, ?, ?)",
        (record_id, dumps(content), tlp, by.name, stamp),
    )
    audit.append(conn, user=by.name, action=f"{kind}.add", record_id=record_id, version=1, detail=tlp)
    return sharing.record_row(conn, record_id)


def _label(tlp: str) -> str:
    """A record's TLP label, refused unless it is one of the five labels of TLP 2.0."""
    try:
        return check_label(tlp)
    except ProtocolError as exc:
        raise NodeError(f"invalid label {tlp!r}: {exc}") from None


def add_record(
    node: Node, kind: Kind, content: object, *, tlp: str = DEFAULT, local: Sequence[str] = (), by: Actor
) -> str:
    """Validate and store a new local record or alert; return its id. Nothing is shared."""
    by.require("author")
    tlp = _label(tlp)
    checked = _validate(node, kind, content)
    marks = policy.check_marks(kind, local)
    with write(node.db) as conn:
        return str(insert_record(node, conn, kind, checked, tlp, marks, by)["id"])


def edit_record(
    node: Node,
    record_id: str,
    content: object | None = None,
    *,
    tlp: str | None = None,
    local: Sequence[str] = (),
    by: Actor,
    confirm_pii: bool = False,
    distribute: bool = True,
) -> int:
    """Make a new version (same id, next version number); a shared record's peers get it. Returns the version.

    Shares still waiting to release an older version are voided (node.sharing.release). Without
    `distribute`, the new version stays on this node until node.sharing.review.send_reviewed_update
    sends what a review of it showed (the web interface's way: nothing leaves unseen).
    """
    by.require("author")
    tlp = _label(tlp) if tlp is not None else None
    if content is None and tlp is None and not local:
        raise NodeError("nothing to change: give a FILE with the new content, --tlp or --local")
    with write(node.db) as conn:
        record = sharing.record_row(conn, record_id)
        kind: Kind = record["kind"]
        current = sharing.version_row(conn, record_id, record["version"])
        new_content = _validate(node, kind, content) if content is not None else json.loads(current["content"])
        marks = policy.check_marks(kind, [*json.loads(record["local_fields"]), *local])
        version = record["version"] + 1
        label = tlp or current["tlp"]
        conn.execute(
            "INSERT INTO versions (record_id, version, content, tlp, author, created) VALUES (?, ?, ?, ?, ?, ?)",
            (record_id, version, dumps(new_content), label, by.name, now_text()),
        )
        conn.execute(
            "UPDATE records SET version = ?, local_fields = ?, expires = ? WHERE id = ?",
            (version, dumps(marks), _expires(kind, new_content), record_id),
        )
        record = sharing.record_row(conn, record_id)
        shared = conn.execute(
            "SELECT count(*) FROM shares WHERE record_id = ? AND state != 'withdrawn'", (record_id,)
        ).fetchone()[0]
        if shared and distribute:
            sharing.check_pii(node, conn, record, sharing.version_row(conn, record_id, version), by, confirm_pii)
        audit.append(conn, user=by.name, action=f"{kind}.edit", record_id=record_id, version=version, detail=label)
        if shared:
            void_older_requests(conn, record_id, version, by)
        if shared and distribute:
            sharing.distribute(node, conn, record, by)
    return int(version)


def send_alert(
    node: Node,
    content: object,
    to: Sequence[str],
    all_peers: bool,
    *,
    tlp: str = DEFAULT,
    local: Sequence[str] = (),
    by: Actor,
    confirm_pii: bool = False,
    network: str | None = None,
) -> dict[str, Any]:
    """Validate, store, sign and send an alert in one transaction: on any refusal nothing is stored.

    The audience is the named peers, all paired peers, or the current members of `network`.
    """
    by.require("author")
    tlp = _label(tlp)
    checked = _validate(node, "alert", content)
    marks = policy.check_marks("alert", local)
    peers, scope = policy.audience(node, to, all_peers, network)
    with write(node.db) as conn:
        record = insert_record(node, conn, "alert", checked, tlp, marks, by)
        state, _ = sharing.add_shares(node, conn, record, peers, scope, by=by, confirm_pii=confirm_pii, network=network)
    return {"id": record["id"], "recipients": peers, "scope": scope, "state": state}


def _lapsed(row: Mapping[str, Any]) -> bool:
    return row["expires"] is not None and parse_timestamp(row["expires"]) <= now()


def _summary(node: Node, row: Mapping[str, Any]) -> dict[str, Any]:
    version = rows(node.db, "SELECT * FROM versions WHERE record_id = ? AND version = ?", (row["id"], row["version"]))[
        0
    ]
    shares = rows(
        node.db,
        "SELECT peer_id, scope, state FROM shares WHERE record_id = ? AND state != 'withdrawn' ORDER BY id",
        (row["id"],),
    )
    return {
        "id": row["id"],
        "kind": row["kind"],
        "version": row["version"],
        "tlp": version["tlp"],
        "created": row["created"],
        "author": row["author"],
        "expires": row["expires"],
        "retracted": row["retracted"],
        "local_fields": json.loads(row["local_fields"]),
        "shared_with": [s["peer_id"] for s in shares if s["state"] == "released"],
        "pending": [s["peer_id"] for s in shares if s["state"] == "pending"],
        "content": json.loads(version["content"]),
    }


def list_records(
    node: Node, kind: Kind, *, include_lapsed: bool = False, limit: int | None = None
) -> list[dict[str, Any]]:
    """This node's own records (or alerts), newest first, with local fields; lapsed alerts only on request;
    with `limit` (at least 1) only the newest `limit` of those."""
    if limit is not None and limit < 1:
        raise NodeError(f"the limit must be at least 1, not {limit}")
    found = rows(node.db, "SELECT * FROM records WHERE kind = ? ORDER BY created DESC, rowid DESC", (kind,))
    listed = (row for row in found if include_lapsed or not (_lapsed(row) or row["purged"]))
    return [_summary(node, row) for row in itertools.islice(listed, limit)]


def get_record(node: Node, record_id: str) -> dict[str, Any]:
    """One of this node's records or alerts, with local fields, shares and the history of its versions."""
    found = rows(node.db, "SELECT * FROM records WHERE id = ?", (record_id,))
    if not found:
        raise NotFound(f"no record or alert with id {record_id!r} on this node")
    summary = _summary(node, found[0])
    summary["versions"] = [
        {
            "version": v["version"],
            "tlp": v["tlp"],
            "author": v["author"],
            "created": v["created"],
            "sealed": v["seq"] is not None,
            "pii_confirmed_by": v["pii_confirmed_by"],
        }
        for v in rows(node.db, "SELECT * FROM versions WHERE record_id = ? ORDER BY version", (record_id,))
    ]
    summary["shares"] = list_shares(node, record_id=record_id)
    return summary
