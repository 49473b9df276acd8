"""Sharing records: sealing versions into signed envelopes, shares and their release, withdrawal, retraction.

A *share* is an officer's decision that a peer receives a record; with four-eyes release it stays
pending until a different user with the approver role releases exactly the version it names
(node.sharing.release). A released share *grants* the peer the sealed (signed) current version,
and later versions as the record is edited. Withdrawing a share, or retracting the record, sends a
signed retraction to every peer that was granted any version. Every step is checked by
node.sharing.policy and written to the audit log.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from node import audit, wake
from node.errors import NodeError, NotFound
from node.home import Node
from node.migrations import search_erase_traces
from node.networks import crossing
from node.networks.registry import resolve_network
from node.sharing import policy
from node.sharing.chain import append_envelope
from node.store import first_row, flush_erased, now_text, write
from node.users import Actor
from protocol.tlp import Scope, scope_allowed

PRIORITY = {"alert": 0, "retraction": 0, "experience": 1}


def record_row(conn: sqlite3.Connection, record_id: str) -> dict[str, Any]:
    """The record's row, for use inside a write transaction; NotFound if absent, NodeError if retracted."""
    row = first_row(conn, "SELECT * FROM records WHERE id = ?", (record_id,))
    if row is None:
        raise NotFound(f"no record or alert with id {record_id!r} on this node")
    if row["retracted"]:
        raise NodeError(f"{record_id} was retracted on {row['retracted']}; it cannot be shared or changed")
    if row["purged"]:
        raise NodeError(f"{record_id} expired and its content was purged")
    return row


def version_row(conn: sqlite3.Connection, record_id: str, version: int) -> dict[str, Any]:
    """One version of a record."""
    row = first_row(conn, "SELECT * FROM versions WHERE record_id = ? AND version = ?", (record_id, version))
    if row is None:
        raise NotFound(f"record {record_id} has no version {version}")
    return row


def outgoing(node: Node, record: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
    """The content of a version as it would be signed: the policy applied to what the officer wrote."""
    return policy.outgoing_content(
        record["kind"],
        json.loads(version["content"]),
        json.loads(record["local_fields"]),
        threshold=node.config.alerts.small_number_threshold,
    )


def check_pii(
    node: Node, conn: sqlite3.Connection, record: dict[str, Any], version: dict[str, Any], by: Actor, confirm: bool
) -> None:
    """Refuse to go on while the version's outgoing content has PII findings, unless confirmed (and recorded)."""
    if version["pii_confirmed_by"] or version["seq"] is not None:
        return
    findings = policy.pii_findings(outgoing(node, record, version))
    if not findings:
        return
    if not confirm:
        raise policy.pii_refusal(findings)
    conn.execute(
        "UPDATE versions SET pii_confirmed_by = ? WHERE record_id = ? AND version = ?",
        (by.name, record["id"], version["version"]),
    )
    detail = "; ".join(finding.describe() for finding in findings)
    audit.append(
        conn, user=by.name, action="pii.confirm", record_id=record["id"], version=version["version"], detail=detail
    )


def seal(
    node: Node, conn: sqlite3.Connection, record: dict[str, Any], version: dict[str, Any], network: str | None = None
) -> int:
    """Sign a version into this node's chain once; return its seq. The envelope never changes afterwards.

    With `network` (a network id), the version is sealed once more, separately, into an envelope whose
    signed `network` member names that network: the one a network-scoped share sends, which a hub of
    the network may relay unchanged. Named and all-peers shares never carry it.
    """
    if network is None and version["seq"] is not None:
        return int(version["seq"])
    if network is not None:
        found = conn.execute(
            "SELECT seq FROM network_seals WHERE record_id = ? AND version = ? AND network = ?",
            (record["id"], version["version"], network),
        ).fetchone()
        if found is not None:
            return int(found[0])
    seq, _ = append_envelope(
        node,
        conn,
        kind=record["kind"],
        record_id=record["id"],
        version=version["version"],
        tlp=version["tlp"],
        content=outgoing(node, record, version),
        network=network,
    )
    if network is None:
        conn.execute(
            "UPDATE versions SET seq = ? WHERE record_id = ? AND version = ?", (seq, record["id"], version["version"])
        )
        version["seq"] = seq
    else:
        conn.execute(
            "INSERT INTO network_seals (record_id, version, network, seq) VALUES (?, ?, ?, ?)",
            (record["id"], version["version"], network, seq),
        )
    return seq


def grant(conn: sqlite3.Connection, seq: int, peer_id: str, kind: str) -> None:
    """Let a peer receive one sealed envelope: it enters the peer's outbox, and its push queue unless
    the peer is pull-only (then what it has not pulled yet is its queue)."""
    stamp = now_text()
    conn.execute("INSERT OR IGNORE INTO grants (seq, peer_id, created) VALUES (?, ?, ?)", (seq, peer_id, stamp))
    conn.execute(
        """INSERT OR IGNORE INTO deliveries (peer_id, seq, priority, enqueued)
           SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM peers WHERE node_id = ? AND pull_only = 1)""",
        (peer_id, seq, PRIORITY[kind], stamp, peer_id),
    )
    wake.after_commit(conn)


def _retracted_at(conn: sqlite3.Connection, record_id: str, peer_id: str) -> int:
    found = conn.execute(
        """SELECT max(e.version) FROM envelopes e JOIN grants g ON g.seq = e.seq
           WHERE e.id = ? AND e.kind = 'retraction' AND g.peer_id = ?""",
        (record_id, peer_id),
    ).fetchone()
    return int(found[0] or 0)


def add_shares(
    node: Node,
    conn: sqlite3.Connection,
    record: dict[str, Any],
    peers: Sequence[str],
    scope: Scope,
    *,
    by: Actor,
    confirm_pii: bool,
    network: str | None = None,
) -> tuple[str, list[str]]:
    """Record shares of a record with peers (inside a write transaction); release them unless four-eyes applies.

    `network` names the network of a network-scoped share (its name or id): its envelopes are sealed
    for that network (see `seal`), and the network is named in the audit log; a TLP:CLEAR record
    also goes to the operators of the networks it peers with (node.networks.crossing).
    Returns the state of the shares and the recipients: `peers`, then those operators. With four-eyes
    release the shares wait as requests, which only a named user may make (never a built-in actor).
    """
    if node.config.release.four_eyes:
        by.require_person("request shares")
    network_id = resolve_network(node, network)["id"] if scope == "network" and network is not None else None
    version = version_row(conn, record["id"], record["version"])
    policy.check_scope(version["tlp"], scope)
    check_pii(node, conn, record, version, by, confirm_pii)
    across = crossing.peered_operators(node, network_id, version["tlp"]) if network_id is not None else []
    peers = [*peers, *(peer for peer in across if peer not in peers)]
    state = "pending" if node.config.release.four_eyes else "released"
    stamp = now_text()
    added = []
    for peer_id in peers:
        if _retracted_at(conn, record["id"], peer_id) >= version["version"]:
            raise NodeError(
                f"{record['id']} was withdrawn from {peer_id} at version {version['version']}; "
                "edit the record to share a new version with that peer"
            )
        active = conn.execute(
            "SELECT state FROM shares WHERE record_id = ? AND peer_id = ? AND state != 'withdrawn'",
            (record["id"], peer_id),
        ).fetchone()
        if active is not None:
            continue
        conn.execute(
            """INSERT INTO shares (record_id, peer_id, scope, state, author, created, released_by, released, network,
                                   version)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                record["id"],
                peer_id,
                scope,
                state,
                by.name,
                stamp,
                by.name if state == "released" else None,
                stamp if state == "released" else None,
                network_id,
                version["version"],
            ),
        )
        added.append(peer_id)
        if state == "released":
            grant(conn, seal(node, conn, record, version, network_id), peer_id, record["kind"])
    if not added:
        return state, peers
    action = "share.request" if state == "pending" else "record.share"
    audit.append(
        conn,
        user=by.name,
        action=action,
        record_id=record["id"],
        version=version["version"],
        recipients=added,
        detail=f"scope {scope}"
        + (f" {network}" if network else "")
        + f", {version['tlp']}"
        + (f"; across peerings to the operator(s) {', '.join(across)}" if across else ""),
    )
    return state, peers


def share_record(
    node: Node,
    record_id: str,
    to: Sequence[str],
    all_peers: bool,
    *,
    by: Actor,
    confirm_pii: bool = False,
    network: str | None = None,
) -> dict[str, Any]:
    """Share a record with named peers, all paired peers, or the current members of a network (`network`,
    its name or id); shares add up. Returns recipients and state.

    A TLP:CLEAR record shared with a network this node operates also goes to the operator of every
    network that one peers with now (node.networks.crossing), which passes it on to its members; those
    operators are among the recipients."""
    by.require("author")
    peers, scope = policy.audience(node, to, all_peers, network)
    with write(node.db) as conn:
        record = record_row(conn, record_id)
        state, recipients = add_shares(
            node, conn, record, peers, scope, by=by, confirm_pii=confirm_pii, network=network
        )
    return {"id": record_id, "recipients": recipients, "scope": scope, "state": state}


def was_granted(conn: sqlite3.Connection, record_id: str, peer_id: str) -> bool:
    """Whether the peer was granted any version of the record (retractions aside)."""
    found = conn.execute(
        """SELECT 1 FROM grants WHERE peer_id = ?
           AND seq IN (SELECT seq FROM envelopes WHERE id = ? AND kind != 'retraction') LIMIT 1""",
        (peer_id, record_id),
    ).fetchone()
    return found is not None


def distribute(node: Node, conn: sqlite3.Connection, record: dict[str, Any], by: Actor) -> None:
    """After an edit: send the new version to every released share of an older version, or put them back to
    pending for it (four-eyes: `by` requests their release, so it must be a named user). Requests for older
    versions are voided first (node.sharing.release.void_older_requests)."""
    version = version_row(conn, record["id"], record["version"])
    shares = conn.execute(
        """SELECT id, peer_id, scope, network FROM shares
           WHERE record_id = ? AND state = 'released' AND (version IS NULL OR version < ?)""",
        (record["id"], version["version"]),
    ).fetchall()
    if shares and node.config.release.four_eyes:
        by.require_person("request shares")
    for share_id, peer_id, scope, network in shares:
        refusal = None if scope_allowed(version["tlp"], scope) else f"{version['tlp']} may not go to a {scope} share"
        refusal = refusal or crossing.withheld(node, network, peer_id, version["tlp"])
        if node.config.release.four_eyes:
            conn.execute(
                """UPDATE shares SET state = 'pending', author = ?, version = ?, released_by = NULL, released = NULL
                   WHERE id = ?""",
                (by.name, version["version"], share_id),
            )
        elif refusal is None:
            grant(conn, seal(node, conn, record, version, network), peer_id, record["kind"])
            conn.execute("UPDATE shares SET version = ? WHERE id = ?", (version["version"], share_id))
        else:
            audit.append(
                conn,
                user=by.name,
                action="share.withheld",
                record_id=record["id"],
                version=version["version"],
                recipients=[peer_id],
                detail=refusal,
            )


def _withdraw(
    node: Node, conn: sqlite3.Connection, record: dict[str, Any], peer_ids: Sequence[str], by: Actor
) -> list[str]:
    """Withdraw shares, drop queued sends, and sign a retraction for every peer that was granted a version."""
    reached: list[str] = []
    retraction_seqs: dict[str | None, int] = {}  # one retraction per network (None: not network-scoped)
    stamp = now_text()
    for peer_id in peer_ids:
        scoped = conn.execute(
            "SELECT network FROM shares WHERE record_id = ? AND peer_id = ? ORDER BY id DESC LIMIT 1",
            (record["id"], peer_id),
        ).fetchone()
        network = scoped[0] if scoped is not None else None
        conn.execute(
            """UPDATE shares SET state = 'withdrawn', withdrawn_by = ?, withdrawn = ?
               WHERE record_id = ? AND peer_id = ? AND state != 'withdrawn'""",
            (by.name, stamp, record["id"], peer_id),
        )
        params = (peer_id, record["id"])
        granted = was_granted(conn, record["id"], peer_id)
        conn.execute(
            """DELETE FROM deliveries WHERE peer_id = ? AND state = 'pending'
               AND seq IN (SELECT seq FROM envelopes WHERE id = ? AND kind != 'retraction')""",
            params,
        )
        conn.execute(
            """DELETE FROM grants WHERE peer_id = ?
               AND seq IN (SELECT seq FROM envelopes WHERE id = ? AND kind != 'retraction')""",
            params,
        )
        if granted:
            if network not in retraction_seqs:  # a network's retraction carries it, so that hubs relay it
                version = version_row(conn, record["id"], record["version"])
                retraction_seqs[network], _ = append_envelope(
                    node,
                    conn,
                    kind="retraction",
                    record_id=record["id"],
                    version=record["version"],
                    tlp=version["tlp"],
                    content={},
                    network=network,
                )
            retraction_seq = retraction_seqs[network]
            grant(conn, retraction_seq, peer_id, "retraction")
            reached.append(peer_id)
    return reached


def unshare(node: Node, record_id: str, peer_id: str, *, by: Actor) -> list[str]:
    """Withdraw a record from one peer: it receives a retraction if it was granted any version."""
    by.require("author")
    with write(node.db) as conn:
        record = record_row(conn, record_id)
        active = conn.execute(
            "SELECT count(*) FROM shares WHERE record_id = ? AND peer_id = ? AND state != 'withdrawn'",
            (record_id, peer_id),
        ).fetchone()[0]
        if not active:
            raise NodeError(f"{record_id} is not shared with {peer_id}")
        reached = _withdraw(node, conn, record, [peer_id], by)
        audit.append(
            conn,
            user=by.name,
            action="record.unshare",
            record_id=record_id,
            version=record["version"],
            recipients=[peer_id],
            detail="retraction sent" if reached else "nothing had been sent yet",
        )
    return reached


def retract(node: Node, record_id: str, *, by: Actor) -> list[str]:
    """Retract a record everywhere: every peer that was granted any version receives a signed retraction."""
    by.require("author")
    with write(node.db) as conn:
        record = record_row(conn, record_id)
        peers = [
            peer
            for (peer,) in conn.execute(
                """SELECT DISTINCT peer_id FROM shares WHERE record_id = ?
                   UNION SELECT DISTINCT g.peer_id FROM grants g JOIN envelopes e ON e.seq = g.seq WHERE e.id = ?""",
                (record_id, record_id),
            )
        ]
        reached = _withdraw(node, conn, record, peers, by)
        conn.execute("UPDATE records SET retracted = ? WHERE id = ?", (now_text(), record_id))
        search_erase_traces(conn)  # the record leaves the search index, its segments included
        audit.append(
            conn,
            user=by.name,
            action="record.retract",
            record_id=record_id,
            version=record["version"],
            recipients=reached,
        )
    flush_erased(node.db)
    return reached
