"""The public keys this node holds for its peers, as the transport needs them to check a signature.

Trust (node.trust) decides which keys are stored in the peers table; this only reads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from node.home import Node
from protocol.keys import public_key_from_b64


def key_resolver(node: Node) -> Callable[[str, str], bytes | None]:
    """resolve(node_id, key_id) -> the raw public key if that node is a trusted peer holding that key."""

    def resolve(node_id: str, key_id: str) -> bytes | None:
        found = node.db.execute("SELECT keys FROM peers WHERE node_id = ?", (node_id,)).fetchone()
        if found is None:
            return None
        encoded = json.loads(found[0]).get(key_id)
        return public_key_from_b64(encoded) if encoded is not None else None

    return resolve
