"""Migration 0007_networks: networks this node operates or belongs to, their members, and peers trusted through a
network."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0007_networks"


def apply(db: Database) -> None:
    """Networks this node operates or belongs to, their members, and peers trusted through a network."""
    for statement in (
        """
        CREATE TABLE networks (
            id TEXT PRIMARY KEY,            -- derived from the network key (protocol.network.network_id_for)
            name TEXT NOT NULL,
            public TEXT NOT NULL,           -- base64url network public key; the operator keeps the private
                                            -- key in networks/<id>.key, never the node key
            role TEXT NOT NULL CHECK (role IN ('operator', 'member')),
            operator_node TEXT NOT NULL,
            operator_url TEXT NOT NULL,
            operator_fingerprint TEXT NOT NULL,
            certificate TEXT NOT NULL,      -- this node's own membership certificate (JSON)
            revocations TEXT,               -- the newest signed revocation list held (JSON)
            revocations_version INTEGER NOT NULL DEFAULT 0,  -- only ever grows: no rollback
            created TEXT NOT NULL,
            refreshed TEXT,                 -- last refresh that reached the operator
            refresh_error TEXT              -- why the last refresh failed or what it refused, if it did
        )
        """,
        """
        CREATE TABLE network_members (      -- operator: register of admitted members; member: verified cache
            network TEXT NOT NULL REFERENCES networks(id),
            serial INTEGER NOT NULL,
            node_id TEXT NOT NULL,
            url TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            roles TEXT NOT NULL,            -- JSON list
            not_before TEXT NOT NULL,       -- UTC, second precision, with Z (compared as text)
            expires TEXT NOT NULL,
            certificate TEXT NOT NULL,      -- the signed certificate (JSON)
            revoked_since TEXT,
            PRIMARY KEY (network, serial)
        )
        """,
        "CREATE UNIQUE INDEX networks_name ON networks (name)",  # names are how officers refer to networks
        "CREATE INDEX network_members_node ON network_members (node_id, network)",
        "ALTER TABLE peers ADD COLUMN network TEXT",  # trusted through this network (NULL: paired directly)
        "ALTER TABLE peers ADD COLUMN certificate TEXT",  # the membership certificate it is trusted by
    ):
        db.execute(statement)
