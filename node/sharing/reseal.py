"""Continuing this node's chain after the head its peers hold (see node.sharing.chain).

`adopt_head` takes what the peers reported (node.exchange.chain_head asks them) and, in one write
transaction: keeps the newest head, so that the next envelope follows it; signs again, after it, every
own envelope that collides with what the peers hold (the same record, version, label, content and
network under a new seq, which a receiver stores as the same version sealed again, SPEC 4.2), grants
each new envelope to the peers the old one was granted to (queued for push as usual), and ends the
hold on sending. Every step is audited.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

from node import audit
from node.home import Node
from node.sharing.chain import FORK, append_envelope
from node.sharing.shares import grant
from node.store import now_text, write
from node.users import NODE
from protocol.canonical import canonical_bytes

log = logging.getLogger("praevnet.chain")

Head = tuple[int, str]
"""(seq, ref) of the newest envelope of this node's chain that a peer holds."""


def adopt_head(node: Node, heads: Mapping[str, Head | None]) -> dict[str, Any]:
    """Continue the chain after the newest of `heads` (per peer that answered: what it holds of our chain, or
    None) and end the hold; return `head` (seq or None), `resealed` ([old seq, new seq] pairs) and `peers`."""
    known = [head for head in heads.values() if head is not None]
    best = max(known, default=None)
    resealed: list[list[int]] = []
    with write(node.db) as conn:
        state = conn.execute("SELECT pending, held_above, head_seq FROM chain_state WHERE id = 1").fetchone()
        pending, above, held_head = state[0], int(state[1]), int(state[2])
        if best is not None:
            seq, ref = best
            if seq > held_head:
                conn.execute("UPDATE chain_state SET head_seq = ?, head_ref = ? WHERE id = 1", (seq, ref))
            if pending is not None:
                for old in _colliding(conn, above, seq, ref):
                    new = _reseal(node, conn, old, seq)
                    if new is not None:
                        resealed.append([old, new])
        conn.execute("UPDATE chain_state SET pending = NULL, held_above = 0, learned = ? WHERE id = 1", (now_text(),))
        top = conn.execute("SELECT coalesce(max(seq), 0) FROM envelopes").fetchone()[0]
        detail = (
            f"asked {len(heads)} peer(s): "
            + (f"they hold this node's chain up to seq {best[0]}" if best is not None else "none holds any of it")
            + f"; this node's newest is seq {top}"
            + (f"; {len(resealed)} envelope(s) sent again after it" if resealed else "")
            + (f" (the chain was held: {pending})" if pending else "")
        )
        audit.append(conn, user=NODE.name, action="chain.head", recipients=sorted(heads), detail=detail)
    log.info("chain head learned: %s", detail)
    return {"head": None if best is None else best[0], "resealed": resealed, "peers": sorted(heads)}


def _colliding(conn: sqlite3.Connection, above: int, head: int, ref: str) -> list[int]:
    """Own envelopes that peers hold other envelopes under the seq of: those above the hold up to the head,
    unless our envelope at the head is the one the peers hold (then only those a peer refused as a fork).
    Envelopes already signed again are left out."""
    ours = conn.execute("SELECT ref FROM envelopes WHERE seq = ?", (head,)).fetchone()
    same = ours is not None and ours[0] == ref
    only_refused = "AND seq IN (SELECT seq FROM deliveries WHERE reason LIKE ?)" if same else ""
    params: tuple[Any, ...] = (above, head) + ((f"{FORK}%",) if only_refused else ())
    found = conn.execute(
        f"""SELECT seq FROM envelopes WHERE seq > ? AND seq <= ?
            AND seq NOT IN (SELECT old_seq FROM chain_resealed) {only_refused} ORDER BY seq""",  # noqa: S608 - constants
        params,
    )
    return [int(seq) for (seq,) in found]


def _reseal(node: Node, conn: sqlite3.Connection, old: int, head: int) -> int | None:
    """Sign the envelope at `old` again at the end of the chain and pass its place on; None for a tombstone
    (its content expired or was erased: there is nothing to send again, and nothing was queued for it)."""
    envelope = json.loads(conn.execute("SELECT envelope FROM envelopes WHERE seq = ?", (old,)).fetchone()[0])
    if "content" not in envelope:
        return None
    new, sealed = append_envelope(
        node,
        conn,
        kind=envelope["type"],
        record_id=envelope["id"],
        version=envelope["version"],
        tlp=envelope["tlp"],
        content=envelope["content"],
        network=envelope.get("network"),
    )
    conn.execute("INSERT INTO chain_resealed (old_seq, new_seq, resealed) VALUES (?, ?, ?)", (old, new, now_text()))
    conn.execute("UPDATE versions SET seq = ? WHERE seq = ?", (new, old))
    conn.execute("UPDATE network_seals SET seq = ? WHERE seq = ?", (new, old))
    peers = [peer for (peer,) in conn.execute("SELECT peer_id FROM grants WHERE seq = ? ORDER BY cursor", (old,))]
    conn.execute("DELETE FROM deliveries WHERE seq = ? AND state = 'pending'", (old,))
    conn.execute("DELETE FROM grants WHERE seq = ?", (old,))
    for peer in peers:
        grant(conn, new, peer, envelope["type"])
    audit.append(
        conn,
        user=NODE.name,
        action="chain.reseal",
        record_id=envelope["id"],
        version=envelope["version"],
        recipients=peers,
        digest=audit.digest_of(canonical_bytes(sealed)),
        detail=f"{envelope['type']} seq {old} signed again as seq {new}: peers hold seq {head} of this node's chain",
    )
    return new
