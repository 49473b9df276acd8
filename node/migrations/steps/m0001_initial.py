"""Migration 0001_initial: records and their versions, the signed chain, shares and grants, delivery, peers and the
inbox."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0001_initial"


def apply(db: Database) -> None:
    """Records and their versions, the signed chain, shares and grants, delivery, peers and the inbox."""
    for statement in _statements(
        """
        CREATE TABLE records (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('experience', 'alert')),
            created TEXT NOT NULL,
            author TEXT NOT NULL,
            version INTEGER NOT NULL,       -- the current version
            local_fields TEXT NOT NULL DEFAULT '[]',  -- officer's local marks (JSON list), which only grow
            expires TEXT,                   -- alerts: when they lapse (UTC ISO 8601)
            retracted TEXT,                 -- when it was retracted everywhere
            purged TEXT                     -- when its content was purged after expiry and retention
        );
        CREATE TABLE envelopes (            -- this node's own signed chain
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL,
            version INTEGER NOT NULL,
            kind TEXT NOT NULL,
            ref TEXT NOT NULL UNIQUE,
            envelope TEXT NOT NULL,         -- canonical JSON as signed, never with local fields
            created TEXT NOT NULL
        );
        CREATE INDEX envelopes_id ON envelopes (id, version);
        CREATE TABLE versions (
            record_id TEXT NOT NULL REFERENCES records(id),
            version INTEGER NOT NULL,
            content TEXT NOT NULL,          -- JSON, including local fields
            tlp TEXT NOT NULL,
            author TEXT NOT NULL,
            created TEXT NOT NULL,
            seq INTEGER REFERENCES envelopes(seq),  -- set once this version is sealed (signed)
            pii_confirmed_by TEXT,          -- who confirmed sharing despite PII findings
            PRIMARY KEY (record_id, version)
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
        CREATE TABLE shares (               -- an officer's decision that a peer receives a record
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            record_id TEXT NOT NULL REFERENCES records(id),
            peer_id TEXT NOT NULL,
            scope TEXT NOT NULL CHECK (scope IN ('named', 'all-peers', 'network')),
            state TEXT NOT NULL CHECK (state IN ('pending', 'released', 'withdrawn')),
            author TEXT NOT NULL,
            created TEXT NOT NULL,
            released_by TEXT,
            released TEXT,
            withdrawn_by TEXT,
            withdrawn TEXT
        );
        CREATE UNIQUE INDEX shares_active ON shares (record_id, peer_id) WHERE state != 'withdrawn';
        CREATE TABLE grants (               -- which signed envelope a peer may receive, in outbox (cursor) order
            cursor INTEGER PRIMARY KEY AUTOINCREMENT,
            seq INTEGER NOT NULL REFERENCES envelopes(seq),
            peer_id TEXT NOT NULL,
            created TEXT NOT NULL,
            UNIQUE (seq, peer_id)
        );
        CREATE INDEX grants_peer ON grants (peer_id, cursor);
        CREATE TABLE deliveries (           -- the durable push queue, one row per (peer, envelope)
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            peer_id TEXT NOT NULL,
            seq INTEGER NOT NULL REFERENCES envelopes(seq),
            priority INTEGER NOT NULL,      -- 0 alerts and retractions, 1 experience records
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
            version INTEGER NOT NULL,
            kind TEXT NOT NULL,
            tlp TEXT NOT NULL,
            ref TEXT NOT NULL,
            envelope TEXT NOT NULL,         -- as received, or only its tombstone once erased
            sender TEXT NOT NULL,
            received TEXT NOT NULL,
            expires TEXT,                   -- alerts: when they lapse
            erased TEXT,                    -- when the content was erased (retraction or expiry)
            PRIMARY KEY (origin, seq)
        );
        CREATE INDEX inbox_id ON inbox (origin, id, version);
        CREATE TABLE retractions (          -- the newest retraction each origin sent for each record
            origin TEXT NOT NULL,
            id TEXT NOT NULL,
            version INTEGER NOT NULL,       -- every version up to this one is retracted
            received TEXT NOT NULL,
            PRIMARY KEY (origin, id)
        );
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
    ):
        db.execute(statement)


def _statements(script: str) -> list[str]:
    """Split a script of plain statements (no triggers) so that each runs inside the migration's transaction."""
    return [part.strip() for part in script.split(";") if part.strip()]
