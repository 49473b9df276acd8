"""The sharing policy: the single gate through which every byte bound for another node passes.

It decides what of a record may be signed (never local fields, never the officer's local marks,
never exact small case counts), who may be named as a recipient under which TLP label, whether
PII findings block a share, and which signed envelopes a given peer may receive, pushed or pulled.
The push sender and the outbox handler get their envelopes only from `releasable` and
`outbox_page`; nothing else in the node reads the envelopes table for sending. A hub's relays of
other origins' envelopes leave only through `relayable` (pushed) and `outbox_page` (pulled), both
by `_relay_outgoing`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from node.errors import NodeError, PolicyError
from node.home import Node
from node.networks import crossing
from node.networks.registry import share_audience
from node.sharing.chain import held_above
from node.sharing.pii import Finding, scan_content
from node.store import rows
from protocol.canonical import canonical_bytes
from protocol.envelope import MAX_SEQ
from protocol.records import LOCAL_FIELDS, SCHEMAS, Kind, case_band
from protocol.tlp import RED, Scope, scope_refusal

MAX_PAGE_BYTES = 4 * 1024 * 1024


def markable_fields(kind: Kind) -> list[str]:
    """The fields an officer may mark local: every optional field, and optional members of objects."""
    schema = SCHEMAS[kind]
    required = set(schema["required"])
    names: list[str] = []
    for name, sub in schema["properties"].items():
        if name in LOCAL_FIELDS:
            continue
        if name not in required:
            names.append(name)
        if sub.get("type") == "object":
            inner_required = set(sub.get("required", []))
            names.extend(f"{name}.{inner}" for inner in sub["properties"] if inner not in inner_required)
    return names


def check_marks(kind: Kind, marks: Iterable[str]) -> list[str]:
    """Validate local marks (dotted field paths); return them sorted and de-duplicated."""
    allowed = set(markable_fields(kind))
    checked = sorted(set(marks))
    for mark in checked:
        if mark not in allowed:
            why = _not_markable(kind, mark)
            raise NodeError(f"--local {mark}: cannot be marked local ({why}); markable: {', '.join(sorted(allowed))}")
    return checked


def _not_markable(kind: Kind, mark: str) -> str:
    """Why `mark` cannot be marked local: it is local anyway, required, or no field at all."""
    properties = SCHEMAS[kind]["properties"]
    if mark in LOCAL_FIELDS and mark in properties:
        return f"{mark} always stays on this node and never leaves; it needs no --local"
    parent, _, child = mark.partition(".")
    known = parent in properties and (not child or child in properties[parent].get("properties", {}))
    if known:
        return "required fields always leave with the record"
    return f"{'an experience record' if kind == 'experience' else 'an alert'} has no field {mark}"


def outgoing_content(
    kind: Kind, content: Mapping[str, Any], marks: Sequence[str] = (), *, threshold: int = 5
) -> dict[str, Any]:
    """What of a record's content may be signed: without local fields and marks, counts as bands.

    An object all of whose members are marked local leaves out entirely (not as `{}`), and an alert's
    exact case count leaves only as its band, computed here from the count (a band stored with the
    content, as older versions kept one, never wins), unless the officer marked the band local too.
    """
    shared: dict[str, Any] = {}
    nested_marks: dict[str, set[str]] = {}
    for mark in marks:
        parent, _, child = mark.partition(".")
        if child:
            nested_marks.setdefault(parent, set()).add(child)
    for name, value in content.items():
        if name in LOCAL_FIELDS or name in marks:
            continue
        if name in nested_marks and isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if k not in nested_marks[name]}
            if not value:
                continue
        shared[name] = value
    if kind == "alert" and "case_count" in content and "case_band" not in marks:
        shared["case_band"] = case_band(int(content["case_count"]), threshold)  # never a stored band
    return shared


def pii_findings(content: Mapping[str, Any]) -> list[Finding]:
    """PII in content that is about to be signed; the record's own function mailbox is allowed."""
    contact = content.get("contact")
    mailbox = contact.get("mailbox") if isinstance(contact, Mapping) else None
    return scan_content(content, allowed_mailbox=mailbox if isinstance(mailbox, str) else None)


def pii_refusal(findings: Sequence[Finding]) -> NodeError:
    """The error that stops a share because of PII findings, listing each with field and position."""
    lines = "\n".join(f"  - {finding.describe()}" for finding in findings)
    return NodeError(
        f"possible personal data found; edit the record, or confirm with --confirm-pii (recorded):\n{lines}"
    )


def audience(node: Node, to: Sequence[str], all_peers: bool, network: str | None = None) -> tuple[list[str], Scope]:
    """Resolve a share's recipients to trusted peer ids. An empty audience is an error, never 'everybody'.

    `--all-peers` means the peers this node paired with; peers trusted only through a network are
    reached with `network` (a network's name or id): its current members other than this node, or
    only its hubs when this node reaches that network through them (node.networks.registry.share_audience).
    """
    if all_peers and to:
        raise NodeError("give either --to NODE_ID ... or --all-peers, not both")
    if network is not None and (to or all_peers):
        raise NodeError("--network NAME cannot be combined with --to or --all-peers")
    if network is not None:
        _, members = share_audience(node, network)
        if not members:
            raise NodeError(f"network {network} has no other members yet (see `praevnet network members`)")
        return members, "network"
    if all_peers:
        paired = [row["node_id"] for row in rows(node.db, "SELECT node_id FROM peers WHERE network IS NULL")]
        if not paired:
            raise NodeError("there are no trusted peers yet; pair with `praevnet peers add` first")
        return sorted(paired), "all-peers"
    trusted = [row["node_id"] for row in rows(node.db, "SELECT node_id FROM peers ORDER BY node_id")]
    if not to:
        raise NodeError("no recipients: name them with --to NODE_ID (repeatable), --all-peers or --network NAME")
    unknown = [peer for peer in to if peer not in trusted]
    if unknown:
        raise NodeError(f"{unknown[0]} is not a trusted peer (see `praevnet peers list`); nothing was shared")
    return sorted(set(to)), "named"


def check_scope(label: str, scope: Scope) -> None:
    """Refuse a share whose scope the record's label does not allow (TLP:RED only to named recipients)."""
    refusal = scope_refusal(label, scope)
    if refusal is not None:
        raise PolicyError(f"{refusal}; nothing was shared")


class Stored(NamedTuple):
    """A signed envelope as held: parsed, and its stored canonical text (the bytes that leave)."""

    envelope: dict[str, Any]
    text: str
    relay: int | None = None  # the relay id (node.networks.relays) when a hub passes on another origin's envelope


def _check_clean(envelope: Mapping[str, Any]) -> None:
    content = envelope.get("content", {})
    leaked = LOCAL_FIELDS & set(content)
    if leaked:  # the chain was written by something other than this module: refuse to send at all
        raise PolicyError(f"envelope {envelope.get('id')} carries local field {sorted(leaked)[0]}; not sending it")


_RELEASABLE = """
    SELECT e.seq, e.envelope FROM envelopes e
    JOIN grants g ON g.seq = e.seq
    JOIN peers p ON p.node_id = g.peer_id
    WHERE g.peer_id = ? AND e.seq IN ({marks})
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
        crossed = crossing.own_outgoing(node, peer_id, envelope)  # an operator's own record to a peered network
        if not isinstance(crossed, str):
            allowed[row["seq"]] = envelope if crossed is None else crossed
    return allowed


_RELAYABLE = """
    SELECT r.id, i.envelope, i.erased, i.tlp FROM relays r
    JOIN inbox i ON i.origin = r.origin AND i.seq = r.seq
    JOIN peers p ON p.node_id = r.peer_id
    WHERE r.peer_id = ? AND r.id IN ({marks})
"""


def _relay_outgoing(node: Node, peer_id: str, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """A relay's envelope (inbox row) as it may go to `peer_id`, or None if it may not go now: exactly as
    the origin signed it, network-scoped, not erased, never RED; one that crosses into a peered network
    only as node.networks.crossing.outgoing allows, with the attachment that lets the other network verify it."""
    if row["erased"] is not None or row["tlp"] == RED:
        return None
    envelope = json.loads(row["envelope"])
    if "network" not in envelope or "content" not in envelope:
        return None
    _check_clean(envelope)
    crossed = crossing.outgoing(node, peer_id, envelope)
    if isinstance(crossed, str):  # bound for another network, and the peering does not allow it
        return None
    return envelope if crossed is None else crossed


def relayable(node: Node, peer_id: str, relay_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The envelopes of other origins queued for relaying (node.networks.relays) among `relay_ids` that `peer_id`
    may receive now, by relay id, as `_relay_outgoing` allows."""
    if not relay_ids:
        return {}
    sql = _RELAYABLE.format(marks=",".join("?" * len(relay_ids)))
    allowed: dict[int, dict[str, Any]] = {}
    for row in rows(node.db, sql, (peer_id, *relay_ids)):
        envelope = _relay_outgoing(node, peer_id, row)
        if envelope is not None:
            allowed[row["id"]] = envelope
    return allowed


# A relay the outbox serves: not pushed and not claimed by a push in flight, or served by pull before
# (so that a page asked for again after a lost answer holds it again).
PUSHED = "d.state = 'delivered' AND d.reason IS NULL"
"""A delivery the peer acknowledged, by push, as accepted or duplicate (node.exchange.delivery): it holds that
envelope, so its outbox passes over it (SPEC 8.3). A delivered row with a reason is not passed over
(`forget_pushed`)."""
FORGOTTEN = "pushed; the peer pulled from an earlier cursor since"
"""The reason `forget_pushed` gives an acknowledged delivery whose envelope the peer may have lost."""

_OUTBOX = f"""
    SELECT g.cursor AS cursor, e.envelope AS envelope, NULL AS relay, NULL AS erased, NULL AS tlp
    FROM grants g JOIN envelopes e ON e.seq = g.seq JOIN peers p ON p.node_id = g.peer_id
    WHERE g.peer_id = :peer AND g.cursor > :since AND g.cursor < :bound AND NOT EXISTS (
        SELECT 1 FROM deliveries d WHERE d.peer_id = g.peer_id AND d.seq = g.seq AND {PUSHED})
    UNION ALL
    SELECT r.cursor, i.envelope, r.id, i.erased, i.tlp
    FROM relays r JOIN inbox i ON i.origin = r.origin AND i.seq = r.seq JOIN peers p ON p.node_id = r.peer_id
    WHERE r.peer_id = :peer AND r.cursor > :since AND r.cursor < :bound
      AND ((r.state = 'pending' AND r.txn_id IS NULL) OR (r.state = 'delivered' AND r.reason = 'pulled'))
    ORDER BY 1 LIMIT :limit
"""  # noqa: S608 - PUSHED is a constant


def outbox_remaining(node: Node, peer_id: str, after: int) -> int:
    """How many envelopes `peer_id` could still pull after cursor `after` (grants and relays).

    The grants the peer acknowledged by push are counted from its deliveries (CROSS JOIN keeps SQLite from
    looking each grant up instead: that made every page of a long catch-up cost as much as what remains)."""
    found = node.db.execute(
        f"""SELECT (SELECT count(*) FROM grants g JOIN peers p ON p.node_id = g.peer_id
                    WHERE g.peer_id = :peer AND g.cursor > :after)
                 - (SELECT count(*) FROM deliveries d CROSS JOIN grants g ON g.seq = d.seq AND g.peer_id = d.peer_id
                    WHERE d.state = 'delivered' AND d.peer_id = :peer AND {PUSHED} AND g.cursor > :after)
                 + (SELECT count(*) FROM relays r JOIN peers p ON p.node_id = r.peer_id
                    WHERE r.peer_id = :peer AND r.cursor > :after AND (r.state = 'pending' AND r.txn_id IS NULL
                         OR r.state = 'delivered' AND r.reason = 'pulled'))""",  # noqa: S608 - PUSHED is a constant
        {"peer": peer_id, "after": after},
    ).fetchone()
    return int(found[0])


def _bound(node: Node, peer_id: str, since: int) -> int:
    """The cursor a page must stop before: that of the first own envelope held back (node.sharing.chain), so that
    the peer's cursor never passes it; past every cursor when nothing is held."""
    above = held_above(node.db.conn)
    found = None
    if above is not None:
        found = node.db.execute(
            "SELECT min(cursor) FROM grants WHERE peer_id = ? AND cursor > ? AND seq > ?", (peer_id, since, above)
        ).fetchone()[0]
    return MAX_SEQ if found is None else int(found)


class OutboxPage(NamedTuple):
    """One outbox page for a peer: what leaves, the next cursor, whether more remain, and the relays
    passed over because they may not go to this peer now (to be marked refused)."""

    envelopes: list[Stored]
    cursor: int
    more: bool
    withheld: list[int]


def outbox_page(node: Node, peer_id: str, since: int, limit: int) -> OutboxPage:
    """What `peer_id` may pull after cursor `since`: this node's own envelopes granted to it and, on a hub,
    the envelopes of other origins queued for it (node.networks.relays, as `relayable` allows), in one cursor order.

    Each envelope comes with its stored canonical text, which is what leaves. A page holds at most
    `limit` envelopes and stops early at MAX_PAGE_BYTES (but never holds fewer than one), so that
    pages stay well below what a client accepts. While this node's chain is held (node.sharing.chain), a page
    ends before the first own envelope held back.
    """
    bound = _bound(node, peer_id, since)
    found = rows(node.db, _OUTBOX, {"peer": peer_id, "since": since, "limit": limit + 1, "bound": bound})
    envelopes: list[Stored] = []
    withheld: list[int] = []
    cursor, size, taken = since, 0, 0
    for row in found[:limit]:
        text = row["envelope"]
        size += len(text)
        if envelopes and size > MAX_PAGE_BYTES:
            break
        cursor, taken = row["cursor"], taken + 1
        if row["relay"] is not None:
            relayed = _relay_outgoing(node, peer_id, row)
            if relayed is None:
                withheld.append(row["relay"])
            else:
                envelopes.append(Stored(relayed, canonical_bytes(relayed).decode(), row["relay"]))
            continue
        envelope = json.loads(text)
        _check_clean(envelope)
        own = crossing.own_outgoing(node, peer_id, envelope)  # an operator's own record to a peered network
        if isinstance(own, dict):
            envelopes.append(Stored(own, canonical_bytes(own).decode()))
        elif own is None:
            envelopes.append(Stored(envelope, text))
    more = len(found) > taken
    if not more:  # whatever is left before the bound the peer acknowledged by push: move its cursor past that too
        passed = node.db.execute(
            f"""SELECT max(g.cursor) FROM grants g JOIN deliveries d ON d.peer_id = g.peer_id AND d.seq = g.seq
                WHERE g.peer_id = ? AND g.cursor > ? AND g.cursor < ? AND {PUSHED}""",  # noqa: S608 - a constant
            (peer_id, cursor, bound),
        ).fetchone()[0]
        cursor = max(cursor, int(passed or 0))
    return OutboxPage(envelopes, cursor, more, withheld)


def forget_pushed(conn: sqlite3.Connection, peer_id: str, since: int) -> int:
    """The peer asks from `since`, before where it asked last (`served_cursor`): it may have lost what it held
    (restored from a backup), so what it acknowledged by push after `since` is served again (given the reason
    FORGOTTEN, no longer skipped). Returns how many acknowledgements were forgotten."""
    return conn.execute(
        f"""UPDATE deliveries AS d SET reason = ? WHERE d.peer_id = ? AND {PUSHED}
            AND d.seq IN (SELECT seq FROM grants WHERE peer_id = ? AND cursor > ?)""",  # noqa: S608 - a constant
        (FORGOTTEN, peer_id, peer_id, since),
    ).rowcount
