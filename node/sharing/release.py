"""Four-eyes release: shares waiting for a second user, releasing exactly what was reviewed, and voiding.

With `release.four_eyes`, a share waits (state `pending`) for a user with the approver role. A
pending share names the version it asks to release. Listing the pending shares seals those versions
(node.sharing.shares.seal), so their signed bytes are fixed; a release names the version and the
SHA-256 of that envelope and is refused unless both are what the share sends. Neither the user
who requested the share nor the one who made the version may release it, and both must be named
users: the node's built-in actors (node.users.ADMIN, NODE) never request, release or author a
released share. An edit voids every request for an older version (`share.void` in the audit log;
the share shows as `voided`), so a version nobody reviewed never leaves under an approval given
for another. An approver may instead reject a pending share with a comment its author reads
(`reject_share`; the share shows as `rejected`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from node import audit
from node.errors import NodeError, NotFound, PolicyError
from node.home import Node
from node.sharing import policy
from node.sharing.shares import grant, record_row, seal, version_row, was_granted
from node.store import first_row, now_text, rows, write
from node.users import BUILTIN_NAMES, Actor


def _sealed(
    node: Node, conn: sqlite3.Connection, record: dict[str, Any], version: dict[str, Any], network: str | None
) -> tuple[int, str]:
    """Seal a version (see `seal`); return its seq and the SHA-256 of the envelope's bytes, as a preview shows it."""
    seq = seal(node, conn, record, version, network)
    text = conn.execute("SELECT envelope FROM envelopes WHERE seq = ?", (seq,)).fetchone()[0]
    return seq, audit.digest_of(text.encode())


def pending_shares(node: Node) -> list[dict[str, Any]]:
    """Shares waiting for four-eyes release, oldest first: each with the version it asks to release, its
    `title` (or an alert's headline), who made that version (`made_by`), and the SHA-256 of the sealed
    envelope its release sends (`sha256`).

    Listing seals each such version not sealed yet, as a preview does: from then on its bytes are fixed,
    and a release must name them. Shares of an alert whose content was purged are left out.
    """
    with write(node.db) as conn:
        found = rows(
            node.db,
            """SELECT s.id, s.record_id, r.kind, s.version, v.tlp, v.author AS made_by, s.peer_id,
                      p.name AS peer_name, s.scope, s.network, s.author, s.created,
                      coalesce(json_extract(v.content, '$.title'), json_extract(v.content, '$.headline')) AS title
               FROM shares s JOIN records r ON r.id = s.record_id
               JOIN versions v ON v.record_id = s.record_id AND v.version = s.version
               LEFT JOIN peers p ON p.node_id = s.peer_id
               WHERE s.state = 'pending' AND r.purged IS NULL ORDER BY s.id""",
        )
        for item in found:
            record = record_row(conn, item["record_id"])
            version = version_row(conn, record["id"], item["version"])
            _, item["sha256"] = _sealed(node, conn, record, version, item["network"])
    return found


def list_shares(node: Node, *, record_id: str | None = None, requested_by: str | None = None) -> list[dict[str, Any]]:
    """Shares of this node's records, oldest first, optionally of one record or requested by one user.

    `state` is pending, released, withdrawn, voided (an edit to `voided_by_version` voided the
    request), or rejected (an approver, `rejected_by`, refused to release it and said why in
    `reject_comment`; see `reject_share`); `version` is the version a pending share asks to release,
    or the last one released.
    """
    return rows(
        node.db,
        """SELECT s.id, s.record_id, r.kind, s.version, s.peer_id, p.name AS peer_name, s.scope, s.network,
                  CASE WHEN s.voided_by_version IS NOT NULL THEN 'voided'
                       WHEN s.rejected IS NOT NULL THEN 'rejected' ELSE s.state END AS state,
                  s.voided_by_version, s.author, s.created, s.released_by, s.released, s.withdrawn_by, s.withdrawn,
                  s.rejected_by, s.rejected, s.reject_comment
           FROM shares s JOIN records r ON r.id = s.record_id
           LEFT JOIN peers p ON p.node_id = s.peer_id
           WHERE (:record IS NULL OR s.record_id = :record) AND (:user IS NULL OR s.author = :user)
           ORDER BY s.id""",
        {"record": record_id, "user": requested_by},
    )


def release_share(node: Node, share_id: int, *, version: int, sha256: str, by: Actor) -> dict[str, Any]:
    """Release a pending share: a different user with the approver role lets the version it asks for go out.

    `version` and `sha256` must name what the share sends, as `pending_shares` lists them. `by` is a
    named user (never a built-in actor), and neither the user who requested the share nor the one who
    made that version, both named users too. A refusal changes nothing.
    """
    by.require("release")
    with write(node.db) as conn:
        share = first_row(conn, "SELECT * FROM shares WHERE id = ?", (share_id,))
        if share is None:
            raise NotFound(f"no share with id {share_id}")
        if share["voided_by_version"] is not None:
            raise NodeError(
                f"share {share_id} was voided by the edit to version {share['voided_by_version']}; "
                "that version goes out only if the record is shared again"
            )
        if share["state"] != "pending":
            raise NodeError(f"share {share_id} is {share['state']}, not pending")
        if share["author"] in BUILTIN_NAMES:
            raise PolicyError(
                f"share {share_id} was requested by the node's built-in {share['author']}, not a named user; "
                "withdraw it (`praevnet records unshare`) and let a named user share the record again"
            )
        if share["author"] == by.name:
            raise PolicyError(f"{by.name} requested share {share_id}; a different approver must release it")
        if share["version"] != version:
            raise PolicyError(
                f"share {share_id} asks to release version {share['version']} of {share['record_id']}, "
                f"not version {version}"
            )
        if conn.execute("SELECT 1 FROM peers WHERE node_id = ?", (share["peer_id"],)).fetchone() is None:
            raise NodeError(f"{share['peer_id']} is no longer a trusted peer; withdraw the share instead")
        record = record_row(conn, share["record_id"])
        pinned = version_row(conn, record["id"], version)
        if pinned["author"] in BUILTIN_NAMES:
            raise PolicyError(
                f"version {version} of {record['id']} was made by the node's built-in {pinned['author']}, "
                "not a named user; a named user must edit the record before it can be released"
            )
        if pinned["author"] == by.name:
            raise PolicyError(
                f"{by.name} made version {version} of {record['id']}; a different approver must release it"
            )
        policy.check_scope(pinned["tlp"], share["scope"])
        seq, digest = _sealed(node, conn, record, pinned, share["network"])
        if sha256 != digest:
            raise PolicyError(
                f"share {share_id} sends {digest}, not {sha256!r}: look at it again with `praevnet shares pending`"
            )
        conn.execute(
            "UPDATE shares SET state = 'released', released_by = ?, released = ? WHERE id = ?",
            (by.name, now_text(), share_id),
        )
        grant(conn, seq, share["peer_id"], record["kind"])
        audit.append(
            conn,
            user=by.name,
            action="share.release",
            record_id=record["id"],
            version=version,
            recipients=[share["peer_id"]],
            digest=digest,
            detail=f"share {share_id} requested by {share['author']}, version {version} made by {pinned['author']}",
        )
    return {
        "id": share_id,
        "record_id": record["id"],
        "version": version,
        "sha256": digest,
        "peer_id": share["peer_id"],
    }


def void_older_requests(conn: sqlite3.Connection, record_id: str, version: int, by: Actor) -> None:
    """Void every share waiting to release a version older than `version` (audited as `share.void`). A peer
    that holds an earlier version keeps a share: a new one, waiting for the release of `version`, requested by `by`
    (so `by` must be a named user)."""
    stamp = now_text()
    stale = conn.execute(
        """SELECT id, peer_id, scope, network, author, version FROM shares
           WHERE record_id = ? AND state = 'pending' AND version < ?""",
        (record_id, version),
    ).fetchall()
    for share_id, peer_id, scope, network, requester, old in stale:
        conn.execute(
            """UPDATE shares SET state = 'withdrawn', withdrawn_by = ?, withdrawn = ?, voided_by_version = ?
               WHERE id = ?""",
            (by.name, stamp, version, share_id),
        )
        audit.append(
            conn,
            user=by.name,
            action="share.void",
            record_id=record_id,
            version=version,
            recipients=[peer_id],
            detail=f"share {share_id} of version {old}, requested by {requester}, voided by the edit to {version}",
        )
        if was_granted(conn, record_id, peer_id):
            by.require_person("request shares")  # `by` asks for the release of `version` (the transaction rolls back)
            conn.execute(
                """INSERT INTO shares (record_id, peer_id, scope, state, author, created, network, version)
                   VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)""",
                (record_id, peer_id, scope, by.name, stamp, network, version),
            )


MAX_COMMENT = 1000
"""The longest comment a rejection may carry, in characters."""


def _last_granted(conn: sqlite3.Connection, record_id: str, peer_id: str) -> int | None:
    found = conn.execute(
        """SELECT max(e.version) FROM grants g JOIN envelopes e ON e.seq = g.seq
           WHERE g.peer_id = ? AND e.id = ? AND e.kind != 'retraction'""",
        (peer_id, record_id),
    ).fetchone()
    return None if found[0] is None else int(found[0])


def reject_share(node: Node, share_id: int, *, comment: str, by: Actor) -> dict[str, Any]:
    """Reject a pending share with a comment its author sees (`list_shares`): nothing is sent for it.

    `by` is a named user with the approver role other than the one who requested the share; the comment
    is required (at most MAX_COMMENT characters). The share ends (state `withdrawn`, shown as `rejected`);
    the author may edit the record and share it again. A peer that already holds an earlier version keeps
    it and keeps its share for that version (a new released share row), so later edits and withdrawals
    still reach it. Audited as `share.reject`. A refusal changes nothing.
    """
    by.require("release")
    text = comment.strip()
    if not text:
        raise NodeError("a rejection needs a comment that tells the author why (--comment TEXT)")
    if len(text) > MAX_COMMENT:
        raise NodeError(f"the comment is {len(text)} characters long; at most {MAX_COMMENT} are allowed")
    with write(node.db) as conn:
        share = first_row(conn, "SELECT * FROM shares WHERE id = ?", (share_id,))
        if share is None:
            raise NotFound(f"no share with id {share_id}")
        if share["voided_by_version"] is not None or share["state"] != "pending":
            state = "voided" if share["voided_by_version"] is not None else share["state"]
            raise NodeError(f"share {share_id} is {state}, not pending; only a share waiting for release is rejected")
        if share["author"] == by.name:
            raise PolicyError(
                f"{by.name} requested share {share_id}; withdraw it (`praevnet records unshare`) instead of "
                "rejecting it"
            )
        stamp = now_text()
        conn.execute(
            """UPDATE shares SET state = 'withdrawn', withdrawn_by = ?, withdrawn = ?,
                                 rejected_by = ?, rejected = ?, reject_comment = ?
               WHERE id = ?""",
            (by.name, stamp, by.name, stamp, text, share_id),
        )
        held = _last_granted(conn, share["record_id"], share["peer_id"])
        if held is not None:  # the peer keeps what it holds, and its share for that version
            conn.execute(
                """INSERT INTO shares (record_id, peer_id, scope, state, author, created, network, version)
                   VALUES (?, ?, ?, 'released', ?, ?, ?, ?)""",
                (share["record_id"], share["peer_id"], share["scope"], share["author"], stamp, share["network"], held),
            )
        audit.append(
            conn,
            user=by.name,
            action="share.reject",
            record_id=share["record_id"],
            version=share["version"],
            recipients=[share["peer_id"]],
            detail=f"share {share_id} requested by {share['author']}: {text}",
        )
    return {"id": share_id, "record_id": share["record_id"], "version": share["version"], "peer_id": share["peer_id"]}
