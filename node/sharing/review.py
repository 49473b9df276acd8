"""Reviewing a share before it leaves, and sharing exactly what was reviewed.

`review` shows the current version of a record as one audience would receive it: the content as it
is signed (local fields and marks left out, counts as bands), the fields that stay local, the
personal-data findings, and, once nothing blocks it, the sealed bytes and their SHA-256 (as
node.sharing.preview seals them: from then on that version's envelope for this audience is fixed).
While the check finds possible personal data that nobody confirmed, nothing is sealed: the officer
edits the record or confirms (`confirm_pii`, recorded as pii_confirmed_by and in the audit log).

`share_reviewed` shares like node.sharing.shares.share_record, but only the version and envelope a
review showed: it is refused, and nothing is shared, if the record changed since or that envelope
was never sealed, so nothing leaves that was not on screen.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from node import audit
from node.errors import NodeError, NotFound, PolicyError
from node.home import Node
from node.networks.registry import resolve_network
from node.sharing import policy
from node.sharing.shares import add_shares, check_pii, distribute, outgoing, record_row, seal, version_row
from node.store import first_row, write
from node.users import Actor


class StalePreview(PolicyError):
    """A share named a version or envelope other than the one it would send now: the preview is out of date."""


def kept_local(stored: Mapping[str, Any], shared: Mapping[str, Any]) -> list[str]:
    """The fields of `stored` content (and members of its objects) that are absent from the `shared` content,
    as dotted paths in the order of `stored`: what stays on this node."""
    paths: list[str] = []
    for name, value in stored.items():
        if name not in shared:
            paths.append(name)
        elif isinstance(value, Mapping) and isinstance(shared[name], Mapping):
            paths.extend(f"{name}.{inner}" for inner in value if inner not in shared[name])
    return paths


def _envelope_text(conn: sqlite3.Connection, seq: int) -> str:
    return str(conn.execute("SELECT envelope FROM envelopes WHERE seq = ?", (seq,)).fetchone()[0])


def review(
    node: Node,
    record_id: str,
    to: Sequence[str] = (),
    all_peers: bool = False,
    *,
    network: str | None = None,
    by: Actor,
    confirm_pii: bool = False,
) -> dict[str, Any]:
    """What the current version of a record would send to the named peers, all peers or a network.

    Returns the version, label, scope, recipients (peer ids), the content as signed, the content as
    `written` (local fields included, for this node's eyes), `kept_local` (paths), the PII `findings`
    (node.sharing.pii.Finding), `pii_confirmed_by`, and `sealed`: None while unconfirmed findings block
    the share, else the envelope's `bytes`, `sha256` and `size`.
    """
    by.require("author")
    peers, scope = policy.audience(node, to, all_peers, network)
    network_id = resolve_network(node, network)["id"] if network is not None else None
    sealed: dict[str, Any] | None = None
    with write(node.db) as conn:
        record = record_row(conn, record_id)
        version = version_row(conn, record_id, record["version"])
        policy.check_scope(version["tlp"], scope)
        content = outgoing(node, record, version)
        blocked = False
        try:
            check_pii(node, conn, record, version, by, confirm_pii)
        except NodeError:
            if confirm_pii:
                raise
            blocked = True  # the findings wait for the officer: nothing is sealed before they edit or confirm
        if not blocked:
            text = _envelope_text(conn, seal(node, conn, record, version, network_id))
            content = json.loads(text)["content"]
            sealed = _sealed_text(text)
        confirmed_by = conn.execute(
            "SELECT pii_confirmed_by FROM versions WHERE record_id = ? AND version = ?", (record_id, version["version"])
        ).fetchone()[0]
    shown = _shown(record, version, content, sealed, confirmed_by)
    return {**shown, "scope": scope, "network": network_id, "recipients": peers}


def _shown(
    record: Mapping[str, Any],
    version: Mapping[str, Any],
    content: dict[str, Any],
    sealed: dict[str, Any] | None,
    confirmed_by: str | None,
) -> dict[str, Any]:
    """What a review shows of one version, whoever it is for."""
    written = json.loads(version["content"])
    return {
        "id": record["id"],
        "kind": record["kind"],
        "version": version["version"],
        "tlp": version["tlp"],
        "content": content,
        "written": written,
        "kept_local": kept_local(written, content),
        "findings": policy.pii_findings(content),
        "pii_confirmed_by": confirmed_by,
        "sealed": sealed,
    }


def _sealed_text(text: str) -> dict[str, Any]:
    return {"bytes": text, "sha256": audit.digest_of(text.encode()), "size": len(text.encode())}


def pending_review(node: Node, share_id: int) -> dict[str, Any]:
    """What a share waiting for release sends, for the approver to look at, as `review` shows it: the version the
    share names, sealed for its audience (listing pending shares sealed it already, see
    node.sharing.release.pending_shares). NotFound unless the share waits for release."""
    with write(node.db) as conn:
        share = first_row(
            conn,
            "SELECT * FROM shares WHERE id = ? AND state = 'pending' AND voided_by_version IS NULL",
            (share_id,),
        )
        if share is None:
            raise NotFound(f"no share with id {share_id} waits for release")
        record = record_row(conn, share["record_id"])
        version = version_row(conn, record["id"], share["version"])
        text = _envelope_text(conn, seal(node, conn, record, version, share["network"]))
    shown = _shown(record, version, json.loads(text)["content"], _sealed_text(text), version["pii_confirmed_by"])
    return {**shown, "scope": share["scope"], "network": share["network"], "recipients": [share["peer_id"]]}


def _sealed_digest(conn: sqlite3.Connection, record_id: str, version: int, network_id: str | None) -> str | None:
    """The SHA-256 of the envelope already sealed for this version and audience (see `seal`), or None."""
    if network_id is None:
        found = conn.execute(
            """SELECT e.envelope FROM versions v JOIN envelopes e ON e.seq = v.seq
               WHERE v.record_id = ? AND v.version = ?""",
            (record_id, version),
        ).fetchone()
    else:
        found = conn.execute(
            """SELECT e.envelope FROM network_seals s JOIN envelopes e ON e.seq = s.seq
               WHERE s.record_id = ? AND s.version = ? AND s.network = ?""",
            (record_id, version, network_id),
        ).fetchone()
    return None if found is None else audit.digest_of(str(found[0]).encode())


def share_reviewed(
    node: Node,
    record_id: str,
    to: Sequence[str],
    all_peers: bool,
    *,
    network: str | None = None,
    version: int,
    sha256: str,
    by: Actor,
) -> dict[str, Any]:
    """Share a record as `share_record` does, but only the `version` and envelope (`sha256`) a review showed.

    Raises StalePreview, and shares nothing, if the record is at another version now, or the envelope
    this audience would receive is not the one named (or was never sealed by a review). Returns
    recipients, scope and state (pending with four-eyes release).
    """
    by.require("author")
    peers, scope = policy.audience(node, to, all_peers, network)
    network_id = resolve_network(node, network)["id"] if network is not None else None
    with write(node.db) as conn:
        record = record_row(conn, record_id)
        if record["version"] != version:
            raise StalePreview(
                f"{record_id} changed since the preview: it is at version {record['version']}, the preview showed "
                f"version {version}; nothing was shared, look at the preview again"
            )
        digest = _sealed_digest(conn, record_id, version, network_id)
        if digest is None or digest != sha256:
            raise StalePreview(
                f"what {record_id} would send to this audience is not the previewed {sha256[:80]!r}; "
                "nothing was shared, look at the preview again"
            )
        state, recipients = add_shares(node, conn, record, peers, scope, by=by, confirm_pii=False, network=network)
    return {"id": record_id, "recipients": recipients, "scope": scope, "state": state, "sha256": digest}


def outdated_shares(node: Node, record_id: str) -> list[dict[str, Any]]:
    """The released shares of a record whose peer holds an older version than the current one (after an edit
    made without `distribute`): id, peer_id, peer name, scope, network and the version it holds."""
    with write(node.db) as conn:
        record = record_row(conn, record_id)
        found = conn.execute(
            """SELECT s.id, s.peer_id, p.name AS peer_name, s.scope, s.network, s.version
               FROM shares s LEFT JOIN peers p ON p.node_id = s.peer_id
               WHERE s.record_id = ? AND s.state = 'released' AND (s.version IS NULL OR s.version < ?)
               ORDER BY s.network IS NOT NULL, s.network, s.scope, s.id""",
            (record_id, record["version"]),
        ).fetchall()
    keys = ("id", "peer_id", "peer_name", "scope", "network", "version")
    return [dict(zip(keys, row, strict=True)) for row in found]


def _audiences(shares: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str | None], list[str]]:
    """The peers of outdated shares by what they receive: (scope, network) -> peer ids."""
    grouped: dict[tuple[str, str | None], list[str]] = {}
    for share in shares:
        grouped.setdefault((share["scope"], share["network"]), []).append(share["peer_id"])
    return grouped


def review_update(node: Node, record_id: str, *, by: Actor, confirm_pii: bool = False) -> list[dict[str, Any]]:
    """What the current version of a record would send to the peers of its outdated shares, one review (as `review`
    returns it, with `recipients` the peers of those shares) per audience: the direct shares to named peers, to all
    peers, and each network's. An audience its label no longer allows is returned with `refused` (the reason) and
    nothing sealed: `send_reviewed_update` withholds it. NodeError if no share is outdated."""
    shares = outdated_shares(node, record_id)
    if not shares:
        raise NodeError(f"every partner of {record_id} holds its current version already")
    shown: list[dict[str, Any]] = []
    for (scope, network), peers in _audiences(shares).items():
        try:
            one = review(
                node,
                record_id,
                peers if scope == "named" else (),
                scope == "all-peers",
                network=network,
                by=by,
                confirm_pii=confirm_pii,
            )
        except NodeError as exc:  # the label no longer allows this audience, or the network is gone
            shown.append({"scope": scope, "network": network, "recipients": peers, "refused": str(exc)})
            continue
        shown.append({**one, "recipients": peers, "refused": None})
    return shown


def send_reviewed_update(
    node: Node, record_id: str, *, version: int, digests: Mapping[str, str], by: Actor
) -> dict[str, Any]:
    """Send the current version to the peers of the record's outdated shares (node.sharing.shares.distribute:
    granted at once, or back to pending with four-eyes release), but only the `version` and envelopes a
    `review_update` showed: `digests` maps each audience's network id ("" for direct shares) to the SHA-256
    shown. StalePreview, and nothing is sent, if the record or any of those envelopes is not the one shown.
    Returns the recipients and the state of their shares."""
    by.require("author")
    with write(node.db) as conn:
        record = record_row(conn, record_id)
        if record["version"] != version:
            raise StalePreview(
                f"{record_id} changed since the preview: it is at version {record['version']}, the preview showed "
                f"version {version}; nothing was sent, look at the preview again"
            )
        shares = conn.execute(
            """SELECT peer_id, network FROM shares
               WHERE record_id = ? AND state = 'released' AND (version IS NULL OR version < ?)""",
            (record_id, version),
        ).fetchall()
        if not shares:
            raise NodeError(f"every partner of {record_id} holds its current version already")
        for network in {network for _peer, network in shares}:
            digest = _sealed_digest(conn, record_id, version, network)
            if digest is None or digests.get(network or "") != digest:
                raise StalePreview(
                    f"what {record_id} would send to {network or 'its partners'} is not what the preview showed; "
                    "nothing was sent, look at the preview again"
                )
        distribute(node, conn, record, by)
    return {
        "id": record_id,
        "recipients": [peer for peer, _network in shares],
        "state": "pending" if node.config.release.four_eyes else "released",
    }
