"""Exactly what leaves: the canonical bytes a recipient would receive for a record, and their hash.

Previewing seals the record's current version (node.sharing.shares.seal), so from then on its signed
envelope is fixed and any share of that version sends exactly these bytes. A direct share and a
network share send different envelopes (the latter names its network), so a preview is either
for one peer or for one network.
"""

from __future__ import annotations

from typing import Any

from node import audit
from node.errors import NodeError, NotFound
from node.home import Node
from node.networks.registry import resolve_network
from node.sharing import policy
from node.sharing.shares import check_pii, record_row, seal, version_row
from node.store import write
from node.users import Actor


def preview(
    node: Node,
    record_id: str,
    peer_id: str | None = None,
    *,
    network: str | None = None,
    by: Actor,
    confirm_pii: bool = False,
) -> dict[str, Any]:
    """The exact canonical bytes `peer_id` (or every member of `network`) would receive, and their hash."""
    by.require("author")
    if (peer_id is None) == (network is None):
        raise NodeError("preview for one recipient: give either --to NODE_ID or --network NAME")
    network_id = resolve_network(node, network)["id"] if network is not None else None
    with write(node.db) as conn:
        if peer_id is not None and conn.execute("SELECT 1 FROM peers WHERE node_id = ?", (peer_id,)).fetchone() is None:
            raise NotFound(f"{peer_id} is not a trusted peer (see `praevnet peers list`)")
        record = record_row(conn, record_id)
        version = version_row(conn, record_id, record["version"])
        policy.check_scope(version["tlp"], "named" if network_id is None else "network")
        check_pii(node, conn, record, version, by, confirm_pii)
        seq = seal(node, conn, record, version, network_id)
        data = conn.execute("SELECT envelope FROM envelopes WHERE seq = ?", (seq,)).fetchone()[0].encode()
    return {
        "id": record_id,
        "version": record["version"],
        "to": peer_id if peer_id is not None else network_id,
        "tlp": version["tlp"],
        "sha256": audit.digest_of(data),
        "size": len(data),
        "bytes": data.decode(),
    }
