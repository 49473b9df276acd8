"""The database schema, as ordered named migrations (sqlite_utils.Migrations)."""

from __future__ import annotations

import unicodedata
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


# Full-text search (node.search): what 0016 builds, and the cleanup every erasure runs.
#
# The text of each indexable record is folded in SQL, by triggers, so that any connection that writes
# the tables keeps the index right. Folding (the same as node.search.fold in Python): the letters in
# SEARCH_FOLDS become their replacement (umlauts and ß as in German, other diacritics dropped, capitals
# lowered), then ASCII is lowered; FTS5's trigram tokenizer folds the case of everything else.
# Changing SEARCH_FOLDS, SEARCH_SKIPPED or the shards needs a new migration that rebuilds the search tables.

_GERMAN = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}
_NO_DECOMPOSITION = {
    "æ": "ae",
    "œ": "oe",
    "ø": "o",
    "ł": "l",
    "đ": "d",
    "ð": "d",
    "ħ": "h",
    "\u0131": "i",
    "þ": "th",
}  # \u0131: dotless i


def _fold_letter(letter: str) -> str:
    lower = "i" if letter == "İ" else letter.lower()
    if lower in _GERMAN or lower in _NO_DECOMPOSITION:
        return _GERMAN.get(lower) or _NO_DECOMPOSITION[lower]
    return "".join(part for part in unicodedata.normalize("NFD", lower) if not unicodedata.combining(part))


SEARCH_FOLDS: dict[str, str] = {
    letter: _fold_letter(letter)
    for letter in map(chr, [*range(0xC0, 0x180), *range(0x218, 0x21C), 0x1E9E])  # Latin-1, Extended-A, ș ț, ẞ
    if letter not in "\u00d7\u00f7"  # not the signs for times and division
    and _fold_letter(letter) != letter
}
"""Letters that fold to something else: German umlauts and ß, the other diacritics of the Latin letters
European names use, and the capitals of these. Every other character is only lowered."""

SEARCH_SKIPPED = (
    "title",  # indexed as the title
    "headline",
    "evidence_level",  # codes, not text: filters and labels
    "evaluation.kind",
    "urgency",
    "severity",
    "certainty",
    "trend",
    "case_band",
    "expires",
    "effective",
    "area.ars",
)
"""The fields (dotted paths) of a record's content whose text its searchable body leaves out."""

SEARCH_SHARDS = 64
SEARCH_SHARD_SIZE = 2000
"""The index is split into shards (FTS5 tables search_text_N) of at most this many records each, so that
removing the traces of an erased record rewrites one shard, not the whole index (search_erase_traces).
Shards fill in order; the last takes what the others cannot."""

_FOLD_STEP = 12  # replace() calls nested in one expression: in a view, SQLite's parser stack allows about 16


def fold_sql(expression: str) -> str:
    """An SQL expression for the folded text of `expression` (see SEARCH_FOLDS), in steps of nested replace().

    The letters are grouped by the first byte of their UTF-8 form: the second step notes which of these
    bytes the text holds (a lead byte is never part of another character), and the letters of a group
    the text does not hold are replaced as '', which replace() passes at once. German text needs the
    Latin-1 group only.
    """
    groups: dict[bytes, list[tuple[str, str]]] = {}
    for letter, replacement in SEARCH_FOLDS.items():
        groups.setdefault(letter.encode()[:1], []).append((letter, replacement))
    flags = ", ".join(f"h{number}" for number in range(len(groups)))
    holds = ", ".join(f"instr(CAST(x AS BLOB), X'{lead.hex()}')" for lead in groups)
    pairs = [
        (letter, replacement, f"h{number}")
        for number, group in enumerate(groups.values())
        for letter, replacement in group
    ]
    steps = [
        f"s0(x) AS (SELECT {expression})",
        f"s1(x, {flags}) AS MATERIALIZED (SELECT x, {holds} FROM s0)",  # noqa: S608 - constants
    ]
    for index in range(0, len(pairs), _FOLD_STEP):
        text = "x"
        for letter, replacement, flag in pairs[index : index + _FOLD_STEP]:
            text = f"replace({text}, iif({flag}, '{letter}', ''), '{replacement}')"
        steps.append(f"s{len(steps)}(x, {flags}) AS (SELECT {text}, {flags} FROM s{len(steps) - 1})")  # noqa: S608
    return f"(WITH {', '.join(steps)} SELECT lower(x) FROM s{len(steps) - 1})"  # noqa: S608 - constants


def _skipped(field: str) -> str:
    """A field of SEARCH_SKIPPED as json_tree names it by `path || '/' || key` (its `fullkey` quotes some keys)."""
    *parents, key = field.split(".")
    return "'$" + "".join(f".{parent}" for parent in parents) + f"/{key}'"


def _body_sql(content: str) -> str:
    skipped = ", ".join(map(_skipped, SEARCH_SKIPPED))
    return (
        f"coalesce((SELECT group_concat(value, char(10)) FROM json_tree({content}) "  # noqa: S608 - constants
        f"WHERE type = 'text' AND path || '/' || key NOT IN ({skipped})), '')"
    )


def _indexed_sql(content: str) -> str:
    """The indexed columns computed from a record's content (JSON text), in the order of search_docs: one fold
    of its title, text and topics together, as a JSON array (folding leaves JSON syntax as it is)."""
    title = f"coalesce(json_extract({content}, '$.title'), json_extract({content}, '$.headline'), '')"
    topics = f"coalesce(json_extract({content}, '$.topics'), '[]')"
    return f"""json_extract({content}, '$.evidence_level') AS evidence, {topics} AS topics,
        {fold_sql(f"json_array({title}, {_body_sql(content)}, json({topics}))")} AS folded"""


_DOC_COLUMNS = "origin, record_id, version, seq, kind, tlp, created, received, expires, evidence, topics, folded"


def _refresh_sql(view: str, origin: str, record_id: str) -> list[str]:
    """Statements that make search_docs hold what `view` says of one record: its row, or none."""
    updated = ", ".join(f"{column} = excluded.{column}" for column in _DOC_COLUMNS.split(", ")[2:])
    changed = " OR ".join(f"search_docs.{column} IS NOT excluded.{column}" for column in _DOC_COLUMNS.split(", ")[2:])
    return [
        f"""DELETE FROM search_docs WHERE origin = {origin} AND record_id = {record_id}
            AND NOT EXISTS (SELECT 1 FROM {view} v WHERE v.origin = {origin} AND v.record_id = {record_id})""",  # noqa: S608 - constants
        f"""INSERT INTO search_docs (shard, {_DOC_COLUMNS})
            SELECT coalesce((SELECT shard FROM search_shards WHERE docs < {SEARCH_SHARD_SIZE} ORDER BY shard LIMIT 1),
                            {SEARCH_SHARDS - 1}), {_DOC_COLUMNS}
            FROM {view} WHERE origin = {origin} AND record_id = {record_id}
            ON CONFLICT (origin, record_id) DO UPDATE SET {updated} WHERE {changed}""",  # noqa: S608 - constants
    ]


def refresh_own_sql(record_id: str) -> list[str]:
    """Statements that index the current version of one own record, or take it out (`record_id`: SQL)."""
    return _refresh_sql("search_own", "''", record_id)


def refresh_received_sql(origin: str, record_id: str) -> list[str]:
    """Statements that index the newest unerased version of one received record, or take it out."""
    return _refresh_sql("search_received", origin, record_id)


def _trigger(name: str, event: str, statements: list[str], when: str = "") -> str:
    condition = f" WHEN {when}" if when else ""
    return f"CREATE TRIGGER {name} {event}{condition} BEGIN {'; '.join(statements)}; END"


def _each_shard(template: str) -> list[str]:
    """`template` for each shard: {k} becomes the shard's number (other braces must be doubled)."""
    return [template.replace("{k}", str(k)) for k in range(SEARCH_SHARDS)]


_ADD = (
    "INSERT INTO search_text_{k} (rowid, title, body)"
    " VALUES (NEW.doc, json_extract(NEW.folded, '$[0]'), json_extract(NEW.folded, '$[1]'))"
)
_REMOVE = (
    "INSERT INTO search_text_{k} (search_text_{k}, rowid, title, body)"
    " VALUES ('delete', OLD.doc, json_extract(OLD.folded, '$[0]'), json_extract(OLD.folded, '$[1]'))"
)
_DIRTY_RECEIVED = """UPDATE search_shards SET dirty = 1
    WHERE shard = (SELECT shard FROM search_docs WHERE origin = OLD.origin AND record_id = OLD.id)"""


def search_schema() -> list[str]:
    """The statements of migration 0016: the search tables, the views of what is indexable, the triggers."""
    fts = "USING fts5(title, body, tokenize = 'trigram', content = '')"
    own_refresh = refresh_own_sql("NEW.record_id")
    return [
        *_each_shard(f"CREATE VIRTUAL TABLE search_text_{{k}} {fts}"),
        """CREATE TABLE search_shards (
            shard INTEGER PRIMARY KEY,
            docs INTEGER NOT NULL DEFAULT 0,    -- records indexed in search_text_<shard>
            dirty INTEGER NOT NULL DEFAULT 0    -- 1: an erased record's traces may remain until search_erase_traces
        )""",
        f"WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < {SEARCH_SHARDS - 1}) "  # noqa: S608 - constants
        "INSERT INTO search_shards (shard) SELECT k FROM n",
        """CREATE TABLE search_docs (           -- one row per searchable record: own, or received (newest version)
            doc INTEGER PRIMARY KEY,            -- its rowid in search_text_<shard>
            shard INTEGER NOT NULL,
            origin TEXT NOT NULL,               -- '' for this node's own records, else the origin's node id
            record_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            seq INTEGER,                        -- received: the inbox row (origin, seq) indexed
            kind TEXT NOT NULL,
            tlp TEXT NOT NULL,
            created TEXT,                       -- when this version was made
            received TEXT,                      -- received: when it arrived
            expires TEXT,
            evidence TEXT,
            topics TEXT NOT NULL,               -- JSON list as written
            folded TEXT NOT NULL,               -- JSON [title, text, [topics]], folded: what search_text_<shard> holds
            UNIQUE (origin, record_id)
        )""",
        f"""CREATE VIEW search_own AS
            SELECT '' AS origin, r.id AS record_id, r.version AS version, NULL AS seq, r.kind AS kind, v.tlp AS tlp,
                   v.created AS created, NULL AS received, r.expires AS expires, {_indexed_sql("v.content")}
            FROM records r JOIN versions v ON v.record_id = r.id AND v.version = r.version
            WHERE r.retracted IS NULL AND r.purged IS NULL""",  # noqa: S608 - constants
        f"""CREATE VIEW search_received AS
            SELECT i.origin AS origin, i.id AS record_id, i.version AS version, i.seq AS seq, i.kind AS kind,
                   i.tlp AS tlp, json_extract(i.envelope, '$.created') AS created, i.received AS received,
                   i.expires AS expires, {_indexed_sql("json_extract(i.envelope, '$.content')")}
            FROM inbox i
            WHERE i.kind != 'retraction' AND i.erased IS NULL AND i.seq = (
                SELECT j.seq FROM inbox j WHERE j.origin = i.origin AND j.id = i.id AND j.kind != 'retraction'
                AND j.erased IS NULL ORDER BY j.version DESC, j.seq LIMIT 1)""",  # noqa: S608 - constants
        *_each_shard(
            _trigger(
                "search_docs_insert_{k}",
                "AFTER INSERT ON search_docs",
                ["UPDATE search_shards SET docs = docs + 1 WHERE shard = NEW.shard", _ADD],
                "NEW.shard = {k}",
            )
        ),
        *_each_shard(
            _trigger(
                "search_docs_update_{k}",
                "AFTER UPDATE OF folded ON search_docs",
                [_REMOVE, _ADD],
                "NEW.shard = {k} AND OLD.folded IS NOT NEW.folded",
            )
        ),
        *_each_shard(
            _trigger(
                "search_docs_delete_{k}",
                "AFTER DELETE ON search_docs",
                ["UPDATE search_shards SET docs = docs - 1, dirty = 1 WHERE shard = OLD.shard", _REMOVE],
                "OLD.shard = {k}",
            )
        ),
        _trigger(
            "search_docs_fixed",
            "BEFORE UPDATE OF doc, shard, origin, record_id ON search_docs",
            ["SELECT RAISE(ABORT, 'a search document keeps its doc, shard, origin and record id')"],
        ),
        _trigger(
            "search_records_update",
            "AFTER UPDATE OF version, kind, expires, retracted, purged ON records",
            refresh_own_sql("NEW.id"),
        ),
        _trigger("search_records_delete", "AFTER DELETE ON records", refresh_own_sql("OLD.id")),
        _trigger("search_versions_insert", "AFTER INSERT ON versions", own_refresh),
        _trigger("search_versions_update", "AFTER UPDATE OF content, tlp, created ON versions", own_refresh),
        _trigger("search_versions_delete", "AFTER DELETE ON versions", refresh_own_sql("OLD.record_id")),
        _trigger(
            "search_inbox_insert",
            "AFTER INSERT ON inbox",
            refresh_received_sql("NEW.origin", "NEW.id"),
            "NEW.kind != 'retraction'",
        ),
        _trigger(
            "search_inbox_update",
            "AFTER UPDATE OF envelope, erased, version, kind ON inbox",
            [_DIRTY_RECEIVED, *refresh_received_sql("OLD.origin", "OLD.id")],
        ),
        _trigger(
            "search_inbox_delete",
            "AFTER DELETE ON inbox",
            [_DIRTY_RECEIVED, *refresh_received_sql("OLD.origin", "OLD.id")],
        ),
    ]


@migrations(name="0016_search")
def search(db: Database) -> None:
    """Full-text search over own and received records (node.search): shards, documents, views and triggers,
    filled from what the tables hold now."""
    for statement in search_schema():
        db.execute(statement)
    for (record_id,) in db.execute("SELECT id FROM records ORDER BY rowid").fetchall():
        for statement in refresh_own_sql(":id"):
            db.execute(statement, {"id": record_id})
    received = db.execute("SELECT DISTINCT origin, id FROM inbox WHERE kind != 'retraction' ORDER BY origin, id")
    for origin, record_id in received.fetchall():
        for statement in refresh_received_sql(":origin", ":id"):
            db.execute(statement, {"origin": origin, "id": record_id})


def search_erase_traces(conn: Any) -> list[int]:
    """Inside the transaction of an erasure: rewrite each search shard an erasure touched (FTS5 'optimize'),
    so that no segment keeps the terms of erased text. Returns the shards rewritten.

    An FTS5 delete only marks a document deleted; its terms stay in the older segments until these are
    merged. Triggers mark the shard of every erased document dirty; this merges those shards.
    """
    shards = [int(shard) for (shard,) in conn.execute("SELECT shard FROM search_shards WHERE dirty = 1")]
    for shard in shards:
        conn.execute(f"INSERT INTO search_text_{shard} (search_text_{shard}) VALUES ('optimize')")  # noqa: S608 - constants
    if shards:
        conn.execute("UPDATE search_shards SET dirty = 0 WHERE dirty = 1")
    return shards


@migrations(name="0017_user_language")
def user_language(db: Database) -> None:
    """The interface language each user chose (NULL: German, the default)."""
    db.execute("ALTER TABLE users ADD COLUMN language TEXT")


@migrations(name="0018_share_rejections")
def share_rejections(db: Database) -> None:
    """An approver's rejection of a share waiting for release, with the comment its author reads
    (node.sharing.release.reject_share). The state CHECK of 0001 allows no new state: a rejected share is
    `withdrawn`, and `rejected` set tells it from one its author withdrew."""
    db.execute("ALTER TABLE shares ADD COLUMN rejected_by TEXT")  # the approver who rejected it
    db.execute("ALTER TABLE shares ADD COLUMN rejected TEXT")  # when
    db.execute("ALTER TABLE shares ADD COLUMN reject_comment TEXT")  # why, for the author
