"""The database schema, as ordered named migrations (sqlite_utils.Migrations)."""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("praevnet")


@migrations(name="0001_initial")
def initial(db: Database) -> None:
    """Records, the signed chain, shares, delivery queue, peers, inbox, transactions and nonces."""
    db.executescript(
        """
        CREATE TABLE records (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('experience', 'alert')),
            content TEXT NOT NULL,          -- JSON, including local fields
            created TEXT NOT NULL,
            seq INTEGER REFERENCES envelopes(seq)  -- set once the record has been signed
        );
        CREATE TABLE envelopes (            -- this node's own signed chain
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL,
            kind TEXT NOT NULL,
            ref TEXT NOT NULL UNIQUE,
            envelope TEXT NOT NULL,         -- canonical JSON as signed, never with local fields
            created TEXT NOT NULL
        );
        CREATE TABLE peers (
            node_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            url TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            keys TEXT NOT NULL,             -- JSON: key id -> base64url public key
            descriptor TEXT NOT NULL,
            added TEXT NOT NULL,
            pull_cursor INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            next_attempt REAL NOT NULL DEFAULT 0,
            last_error TEXT,
            last_success TEXT
        );
        CREATE TABLE shares (               -- who may receive which envelope; cursor orders the outbox
            cursor INTEGER PRIMARY KEY AUTOINCREMENT,
            seq INTEGER NOT NULL REFERENCES envelopes(seq),
            peer_id TEXT NOT NULL,
            created TEXT NOT NULL,
            UNIQUE (seq, peer_id)
        );
        CREATE INDEX shares_peer ON shares (peer_id, cursor);
        CREATE TABLE deliveries (           -- the durable push queue, one row per (peer, envelope)
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            peer_id TEXT NOT NULL,
            seq INTEGER NOT NULL REFERENCES envelopes(seq),
            priority INTEGER NOT NULL,      -- 0 alerts, 1 experience records
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'refused')),
            txn_id TEXT,
            enqueued TEXT NOT NULL,
            finished TEXT,
            reason TEXT,
            UNIQUE (peer_id, seq)
        );
        CREATE INDEX deliveries_pending ON deliveries (state, peer_id, priority, id);
        CREATE TABLE inbox (                -- what peers sent, verified before it was stored
            origin TEXT NOT NULL,
            seq INTEGER NOT NULL,
            id TEXT NOT NULL,
            kind TEXT NOT NULL,
            ref TEXT NOT NULL,
            envelope TEXT NOT NULL,
            sender TEXT NOT NULL,
            received TEXT NOT NULL,
            PRIMARY KEY (origin, seq)
        );
        CREATE INDEX inbox_id ON inbox (origin, id);
        CREATE TABLE inbound_txns (
            sender TEXT NOT NULL,
            txn_id TEXT NOT NULL,
            response TEXT NOT NULL,
            received TEXT NOT NULL,
            PRIMARY KEY (sender, txn_id)
        );
        CREATE TABLE nonces (
            keyid TEXT NOT NULL,
            nonce TEXT NOT NULL,
            expires REAL NOT NULL,
            PRIMARY KEY (keyid, nonce)
        );
        """
    )
