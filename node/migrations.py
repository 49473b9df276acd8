"""The database schema, as ordered named migrations (sqlite_utils.Migrations)."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database, Migrations

migrations = Migrations("praevnet")


@migrations(name="0001_initial")
def initial(db: Database) -> None:
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


@migrations(name="0002_audit")
def audit(db: Database) -> None:
    """The hash-chained, append-only audit log, its head, and triggers that refuse changes (see node/audit.py)."""
    for statement in (
        """
        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,        -- contiguous from 1
            time TEXT NOT NULL,             -- ISO 8601, UTC, with Z
            user TEXT NOT NULL,
            action TEXT NOT NULL,
            record_id TEXT,
            version INTEGER,
            recipients TEXT NOT NULL,       -- JSON array of node ids
            digest TEXT,                    -- sha256:<base64url> of the bytes that left or arrived
            detail TEXT,
            prev TEXT NOT NULL,             -- hash of the previous entry, '' for the first
            hash TEXT NOT NULL              -- base64url SHA-256 of the canonical JSON of the fields above
        )
        """,
        "CREATE INDEX audit_record ON audit (record_id, seq)",
        """
        CREATE TABLE audit_head (           -- seq and hash of the last entry, moved with every append
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL
        )
        """,
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '')",
        """
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END
        """,
        """
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END
        """,
        """
        CREATE TRIGGER audit_append_only BEFORE INSERT ON audit
        WHEN NEW.seq IS NOT (SELECT seq + 1 FROM audit_head WHERE id = 1)
            OR NEW.prev IS NOT (SELECT hash FROM audit_head WHERE id = 1)
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only: a new entry must follow the head'); END
        """,
        """
        CREATE TRIGGER audit_head_no_insert BEFORE INSERT ON audit_head
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only: the head exists once'); END
        """,
        """
        CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END
        """,
        """
        CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head
        WHEN NEW.id IS NOT OLD.id OR NEW.seq IS NOT OLD.seq + 1
            OR NEW.hash IS NOT (SELECT hash FROM audit WHERE seq = NEW.seq)
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only: the head only moves to the next entry'); END
        """,
    ):
        db.execute(statement)


@migrations(name="0003_users")
def users(db: Database) -> None:
    """Local users with roles, their scrypt password hashes and the SHA-256 of their personal token."""
    db.execute(
        """
        CREATE TABLE users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('officer', 'approver', 'admin')),
            password TEXT NOT NULL,         -- scrypt$N$r$p$<salt b64>$<hash b64>, never the plaintext
            token_hash TEXT,                -- SHA-256 (hex) of the personal token, if one was issued
            created TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0
        )
        """
    )


@migrations(name="0004_delivery")
def delivery(db: Database) -> None:
    """Per-peer delivery state: pull-only peers, a catch-up request after a gap, cursors and forks."""
    for statement in (
        "ALTER TABLE peers ADD COLUMN pull_only INTEGER NOT NULL DEFAULT 0",  # never push; it pulls
        "ALTER TABLE peers ADD COLUMN catch_up INTEGER NOT NULL DEFAULT 0",  # a gap was seen: pull soon
        "ALTER TABLE peers ADD COLUMN served_cursor INTEGER NOT NULL DEFAULT 0",  # how far it pulled from us
        "ALTER TABLE peers ADD COLUMN forks INTEGER NOT NULL DEFAULT 0",  # forked envelopes it sent, refused
        "CREATE INDEX inbox_ref ON inbox (origin, ref)",
    ):
        db.execute(statement)


@migrations(name="0005_pairing")
def pairing(db: Database) -> None:
    """One-time invitations for pairing in one step, and each peer's confirmed pair safety number."""
    for statement in (
        """
        CREATE TABLE invitations (
            id INTEGER PRIMARY KEY,
            secret_hash TEXT NOT NULL UNIQUE,  -- base64url SHA-256 of the secret; the secret is never stored
            created TEXT NOT NULL,
            created_by TEXT NOT NULL,
            expires TEXT NOT NULL,          -- UTC, second precision, with Z (compared as text)
            used_by TEXT,                   -- node id of the node that paired with it
            used_at TEXT
        )
        """,
        "ALTER TABLE peers ADD COLUMN verified TEXT",  # when the officers confirmed the pair safety number
        "ALTER TABLE peers ADD COLUMN verified_by TEXT",
        "ALTER TABLE peers ADD COLUMN verified_fingerprint TEXT",  # the peer key that number was computed with
    ):
        db.execute(statement)


@migrations(name="0006_keys")
def keys(db: Database) -> None:
    """This node's key versions (rotation, revocation), and what we know of each peer's old and revoked keys."""
    for statement in (
        """
        CREATE TABLE own_keys (
            version INTEGER PRIMARY KEY,
            public TEXT NOT NULL,           -- base64url; the private key is in keys/ed25519-<version>.key
            created TEXT NOT NULL,
            expired TEXT,                   -- when it stopped being the current key
            revoked_since TEXT              -- compromised from this time on
        )
        """,
        "ALTER TABLE peers ADD COLUMN old_keys TEXT NOT NULL DEFAULT '{}'",  # kid -> {key, expired}
        "ALTER TABLE peers ADD COLUMN revoked TEXT NOT NULL DEFAULT '{}'",  # kid -> {since}
        "ALTER TABLE peers ADD COLUMN revocation_version INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE peers ADD COLUMN descriptor_acked INTEGER NOT NULL DEFAULT 0",  # our key generation it has
    ):
        db.execute(statement)


@migrations(name="0007_networks")
def networks(db: Database) -> None:
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


@migrations(name="0008_relays")
def relays(db: Database) -> None:
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


@migrations(name="0009_audit_head_trigger")
def audit_head_trigger(db: Database) -> None:
    """Move the audit head with every insert, so that a batch of entries is one executemany."""
    db.execute(
        """
        CREATE TRIGGER audit_head_follows AFTER INSERT ON audit
        BEGIN UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1; END
        """
    )


@migrations(name="0010_invitations_and_leaving")
def invitations_and_leaving(db: Database) -> None:
    """Revoked invitations, the key an invitation was used with, and why a network member was revoked."""
    for statement in (
        "ALTER TABLE invitations ADD COLUMN used_fingerprint TEXT",  # the key that signed the pairing request
        "ALTER TABLE invitations ADD COLUMN revoked TEXT",  # when an officer revoked it (never usable after)
        "ALTER TABLE invitations ADD COLUMN revoked_by TEXT",
        "ALTER TABLE network_members ADD COLUMN revoked_reason TEXT",  # operator: 'revoked' or 'left'
    ):
        db.execute(statement)


@migrations(name="0011_peerings")
def peerings(db: Database) -> None:
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


def allocate_cursors(conn: Any, count: int) -> list[int]:
    """`count` fresh outbox cursors from the sequence of `grants.cursor`, so that a hub's relays and its
    own grants share one ascending order (SQLite's AUTOINCREMENT never hands out a cursor taken here)."""
    if count <= 0:
        return []
    conn.execute(
        """INSERT INTO sqlite_sequence (name, seq)
           SELECT 'grants', coalesce((SELECT max(cursor) FROM grants), 0)
           WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'grants')"""
    )
    (last,) = conn.execute(
        "UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'grants' RETURNING seq", (count,)
    ).fetchone()
    return list(range(int(last) - count + 1, int(last) + 1))


@migrations(name="0012_relay_cursors_and_via_hub")
def relay_cursors_and_via_hub(db: Database) -> None:
    """Outbox cursors for relays (a hub's outbox serves them after its grants, in one order), and whether
    this node sends a network's shares only to its hubs."""
    db.execute("ALTER TABLE relays ADD COLUMN cursor INTEGER")  # from the grants' sequence (allocate_cursors)
    db.execute("CREATE UNIQUE INDEX relays_cursor ON relays (peer_id, cursor)")
    db.execute("ALTER TABLE networks ADD COLUMN via_hub INTEGER NOT NULL DEFAULT 0")  # 1: shares go to hubs only
    pending = [row[0] for row in db.execute("SELECT id FROM relays WHERE state = 'pending' ORDER BY id").fetchall()]
    for relay_id, cursor in zip(pending, allocate_cursors(db.conn, len(pending)), strict=True):
        db.execute("UPDATE relays SET cursor = ? WHERE id = ?", (cursor, relay_id))


@migrations(name="0013_drop_inbox_ref")
def drop_inbox_ref(db: Database) -> None:
    """The inbox no longer looks envelopes up by ref: an envelope's prev is compared with the ref of the
    origin's envelope seq - 1, found by the primary key. The index on random hashes cost every insert."""
    db.execute("DROP INDEX IF EXISTS inbox_ref")


@migrations(name="0014_share_versions")
def share_versions(db: Database) -> None:
    """The version a share asks to release (four-eyes binds a release to it), and the edit that voided a request.

    A share waiting for release names its version; an edit to a newer version voids it (state
    `withdrawn`, `voided_by_version` set). Shares not withdrawn take their record's current version,
    the one they would have released.
    """
    db.execute("ALTER TABLE shares ADD COLUMN version INTEGER")  # pending: the version to release; else last released
    db.execute("ALTER TABLE shares ADD COLUMN voided_by_version INTEGER")  # the edit (new version) that voided it
    db.execute(
        """UPDATE shares SET version = (SELECT version FROM records WHERE records.id = shares.record_id)
           WHERE state != 'withdrawn'"""
    )


@migrations(name="0015_audit_checkpoints")
def audit_checkpoints(db: Database) -> None:
    """The newest signed checkpoints of the audit log's head (node.checkpoints); copies belong outside the node."""
    db.execute(
        """
        CREATE TABLE audit_checkpoints (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            seq INTEGER NOT NULL,           -- the audit entry it vouches for (the head when it was made)
            made TEXT NOT NULL,             -- its time (UTC, second precision, with Z)
            checkpoint TEXT NOT NULL        -- the signed checkpoint, canonical JSON (protocol.checkpoint)
        )
        """
    )
