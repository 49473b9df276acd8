"""Migration 0011_peerings: peering statements between networks, and the peer network's revocation list held for
crossings."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0011_peerings"


def apply(db: Database) -> None:
    """Peering statements between networks, and the peer network's revocation list held for crossings."""
    db.execute(
        """
        CREATE TABLE peerings (             -- our network's signed statement about a peered network
            network TEXT NOT NULL REFERENCES networks(id),
            peer_network TEXT NOT NULL,
            peer_name TEXT,                 -- from the peer's network card (operator side only)
            peer_key TEXT NOT NULL,         -- base64url network key of the peer network, as the statement names it
            peer_operator TEXT,             -- node id of the peer network's operator (operator side only)
            peer_operator_url TEXT,
            statement TEXT NOT NULL,        -- the peering statement signed by our network key (JSON)
            serial INTEGER NOT NULL,        -- only ever grows: no rollback
            labels TEXT NOT NULL,           -- JSON list; empty once withdrawn
            expires TEXT NOT NULL,
            revocations TEXT,               -- the peer network's newest signed revocation list held (JSON)
            revocations_version INTEGER NOT NULL DEFAULT 0,
            updated TEXT NOT NULL,
            PRIMARY KEY (network, peer_network)
        )
        """
    )
