"""The sharing policy: the single gate through which every byte bound for another node passes.

It decides which content may be signed (local fields never are), who may be named as a recipient,
and which signed envelopes a given peer may receive, whether pushed to it or pulled by it. The
push sender and the outbox handler both get their envelopes only from `releasable` and
`outbox_page`; nothing else in the node reads the envelopes table for sending.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from node.errors import NodeError, PolicyError
from node.home import Node
from node.store import rows
from protocol.records import LOCAL_FIELDS, shared_content


def outgoing_content(content: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a record that may be signed and sent: everything but its local fields."""
    return shared_content(content)


def audience(node: Node, to: Sequence[str], all_peers: bool) -> list[str]:
    """Resolve a share's recipients to trusted peer ids. An empty audience is an error, never 'everybody'."""
    if all_peers and to:
        raise NodeError("give either --to NODE_ID ... or --all-peers, not both")
    trusted = [row["node_id"] for row in rows(node.db, "SELECT node_id FROM peers ORDER BY node_id")]
    if all_peers:
        if not trusted:
            raise NodeError("there are no trusted peers yet; pair with `praevnet peers add` first")
        return trusted
    if not to:
        raise NodeError("no recipients: name them with --to NODE_ID (repeatable) or use --all-peers")
    unknown = [peer for peer in to if peer not in trusted]
    if unknown:
        raise NodeError(f"{unknown[0]} is not a trusted peer (see `praevnet peers list`); nothing was shared")
    return sorted(set(to))


def _check_clean(envelope: Mapping[str, Any]) -> None:
    content = envelope.get("content", {})
    leaked = LOCAL_FIELDS & set(content)
    if leaked:  # the chain was written by something other than this module: refuse to send at all
        raise PolicyError(f"envelope {envelope.get('id')} carries local field {sorted(leaked)[0]}; not sending it")


MAX_PAGE_BYTES = 4 * 1024 * 1024

_RELEASABLE = """
    SELECT e.seq, e.envelope FROM envelopes e
    JOIN shares s ON s.seq = e.seq
    JOIN peers p ON p.node_id = s.peer_id
    WHERE s.peer_id = ? AND e.seq IN ({marks})
"""


def releasable(node: Node, peer_id: str, seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The signed envelopes among `seqs` that `peer_id` may receive now, by seq."""
    if not seqs:
        return {}
    sql = _RELEASABLE.format(marks=",".join("?" * len(seqs)))
    allowed: dict[int, dict[str, Any]] = {}
    for row in rows(node.db, sql, (peer_id, *seqs)):
        envelope = json.loads(row["envelope"])
        _check_clean(envelope)
        allowed[row["seq"]] = envelope
    return allowed


def outbox_page(node: Node, peer_id: str, since: int, limit: int) -> tuple[list[dict[str, Any]], int, bool]:
    """What `peer_id` may pull after cursor `since`: envelopes, the next cursor, and whether more remain.

    A page holds at most `limit` envelopes and stops early at MAX_PAGE_BYTES (but never holds
    fewer than one), so that pages stay well below what a client accepts.
    """
    found = rows(
        node.db,
        """
        SELECT s.cursor, e.envelope FROM shares s
        JOIN envelopes e ON e.seq = s.seq
        JOIN peers p ON p.node_id = s.peer_id
        WHERE s.peer_id = ? AND s.cursor > ?
        ORDER BY s.cursor LIMIT ?
        """,
        (peer_id, since, limit + 1),
    )
    envelopes: list[dict[str, Any]] = []
    cursor, size = since, 0
    for row in found[:limit]:
        size += len(row["envelope"])
        if envelopes and size > MAX_PAGE_BYTES:
            break
        envelope = json.loads(row["envelope"])
        _check_clean(envelope)
        envelopes.append(envelope)
        cursor = row["cursor"]
    return envelopes, cursor, len(found) > len(envelopes)
