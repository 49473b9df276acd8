"""Migration 0008_relays: envelopes sealed for a network (signed `network` member), and a hub's queue of relayed
envelopes."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0008_relays"


def apply(db: Database) -> None:
    """Envelopes sealed for a network (signed `network` member), and a hub's queue of relayed envelopes."""
    for statement in (
        """
        CREATE TABLE network_seals (        -- the envelope of a version sealed for distribution within a network
            record_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            network TEXT NOT NULL,
            seq INTEGER NOT NULL,           -- envelopes.seq
            PRIMARY KEY (record_id, version, network)
        )
        """,
        "ALTER TABLE shares ADD COLUMN network TEXT",  # the network of a network-scoped share
        """
        CREATE TABLE relays (               -- a hub's queue: another origin's envelope (inbox) to pass on unchanged
            id INTEGER PRIMARY KEY,
            peer_id TEXT NOT NULL,
            origin TEXT NOT NULL,
            seq INTEGER NOT NULL,           -- inbox (origin, seq)
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'refused')),
            txn_id TEXT,
            reason TEXT,
            enqueued TEXT NOT NULL,
            finished TEXT,
            UNIQUE (peer_id, origin, seq)
        )
        """,
        "CREATE INDEX relays_pending ON relays (peer_id, state)",
    ):
        db.execute(statement)
