"""Passing a received record on within its network: TLP:GREEN may go to the community it was shared
in, TLP:CLEAR anywhere; here both go to the other current members of the network the origin signed
into the envelope, unchanged, through the relay queue (node.networks.relays) and node.sharing.policy.relayable.

An officer decides this per record (`praevnet inbox forward`); nothing is forwarded automatically
except by a hub. A node that reaches the network through its hubs (`network set NAME --via-hub`)
passes records on to the hubs only (node.networks.registry.share_audience). The envelope leaves exactly as
the origin signed it, so receivers check the origin's signature and refuse it if the label does not
allow passing it on.
"""

from __future__ import annotations

import json
from typing import Any

from node import audit
from node.errors import NodeError, NotFound, PolicyError
from node.home import Node
from node.networks.registry import share_audience
from node.networks.relays import enqueue
from node.store import now, now_text, rows, write
from node.users import Actor
from protocol.canonical import canonical_bytes
from protocol.timestamps import parse_timestamp
from protocol.tlp import may_forward


def _held(node: Node, record_id: str, origin: str | None) -> dict[str, Any]:
    """The newest version of a received record (not a retraction), from `origin` if given."""
    found = rows(
        node.db,
        """SELECT * FROM inbox WHERE id = ? AND kind != 'retraction' AND (? IS NULL OR origin = ?)
           ORDER BY version DESC, seq DESC""",
        (record_id, origin, origin),
    )
    if not found:
        raise NotFound(f"no received record with id {record_id!r}" + (f" from {origin}" if origin else ""))
    if len({row["origin"] for row in found}) > 1:
        raise NodeError(f"records with id {record_id!r} came from several origins; name one with --origin")
    return found[0]


def forward_received(node: Node, record_id: str, *, origin: str | None = None, by: Actor) -> dict[str, Any]:
    """Queue a received network-scoped TLP:GREEN or CLEAR record for the network's other members.

    Refuses (PolicyError) a record without a network, with another label, retracted, or a lapsed
    alert; returns the record's id, version, network and the members it will go to.
    """
    by.require("author")
    if node.config.release.four_eyes:
        by.require("release")
    row = _held(node, record_id, origin)
    envelope = json.loads(row["envelope"])
    network = envelope.get("network")
    if network is None:
        raise PolicyError(f"{record_id} was not shared within a network; only network records can be passed on")
    if not may_forward(row["tlp"], shared_in=network, forward_in=network):
        raise PolicyError(f"{row['tlp']} may not be passed on; only TLP:GREEN and TLP:CLEAR may")
    if row["erased"] is not None or "content" not in envelope:
        raise PolicyError(f"{record_id} was retracted by its origin")
    if row["expires"] is not None and parse_timestamp(row["expires"]) <= now():
        raise PolicyError(f"the alert {record_id} has expired")
    _, members = share_audience(node, network)
    targets = [peer for peer in members if peer not in (row["origin"], row["sender"])]
    with write(node.db) as conn:
        enqueue(conn, targets, row["origin"], row["seq"], now_text())
        audit.append(
            conn,
            user=by.name,
            action="forwarded",
            record_id=row["id"],
            version=row["version"],
            recipients=targets,
            digest=audit.digest_of(canonical_bytes(envelope)),
            detail=f"{row['kind']} of {row['origin']} passed on within network {network}",
        )
    return {"id": row["id"], "version": row["version"], "network": network, "recipients": targets}
