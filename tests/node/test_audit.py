"""node.audit: an append-only, hash-chained log whose every change, insertion or deletion `verify` names.

An attacker with write access to the database file is simulated by a second sqlite3 connection
that drops the triggers, changes rows, and (to cover its tracks) puts the triggers back.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import pytest

from node import audit
from node.errors import NodeError
from node.home import DB_FILE, Node
from node.store import write
from tests.node.conftest import NodeFactory

TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
HASH = re.compile(r"^[A-Za-z0-9_-]{43}$")


@pytest.fixture
def node(make_node: NodeFactory) -> Node:
    return make_node("Stadt A")


def log(node: Node, count: int) -> None:
    """Append `count` varied entries, each in its own write transaction."""
    for i in range(count):
        with write(node.db) as conn:
            audit.append(
                conn,
                user=("admin", "node", "erika")[i % 3],
                action=("record.add", "record.share", "sent", "received")[i % 4],
                record_id=f"rec{i:04d}" if i % 5 else None,
                version=i if i % 5 else None,
                recipients=[f"pn{'a' * 31}{i % 7}", "pnbbbb"] if i % 2 else [],
                digest=audit.digest_of(f"payload {i}".encode()) if i % 2 else None,
                detail="Übermittlung" if i % 4 == 3 else None,
            )


@contextmanager
def attacker(node: Node) -> Iterator[sqlite3.Connection]:
    """Someone with the database file: triggers dropped for the block, then put back unchanged."""
    with closing(sqlite3.connect(node.home / DB_FILE, isolation_level=None)) as conn:
        triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
        for name, _ in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        yield conn
        for _, sql in triggers:
            conn.execute(sql)


def row(node: Node, seq: int) -> dict[str, Any]:
    found = node.db.execute(f"SELECT {', '.join(audit.FIELDS)} FROM audit WHERE seq = ?", (seq,)).fetchone()
    return dict(zip(audit.FIELDS, found, strict=True))


def insert(conn: sqlite3.Connection, entry: dict[str, Any]) -> None:
    conn.execute(
        f"INSERT INTO audit ({', '.join(audit.FIELDS)}) VALUES ({', '.join('?' * len(audit.FIELDS))})",
        tuple(entry.get(name) for name in audit.FIELDS),  # records: null unless given
    )


def forged(seq: int, prev: str, **fields: Any) -> dict[str, Any]:
    """A well-formed entry with a correct hash of its own."""
    entry: dict[str, Any] = {
        "seq": seq,
        "time": "2030-01-01T00:00:00Z",
        "user": "admin",
        "action": "record.retract",
        "record_id": "rec9999",
        "version": 1,
        "recipients": [],
        "digest": None,
        "detail": None,
        "prev": prev,
        **fields,
    }
    entry["hash"] = audit.entry_hash(entry)
    return {**entry, "recipients": json.dumps(entry["recipients"])}


# --- appending -------------------------------------------------------------------------------------


def test_append_builds_a_valid_chain(node: Node) -> None:
    with write(node.db) as conn:
        first = audit.append(conn, user="admin", action="user.add", detail="erika (officer)")
        second = audit.append(
            conn,
            user="erika",
            action="record.share",
            record_id="rec0001",
            version=2,
            recipients=["pnb", "pnc"],
            digest=audit.digest_of(b"bytes that left"),
        )
    assert (first, second) == (1, 2)
    entries = audit.list_entries(node)
    assert [e["seq"] for e in entries] == [1, 2]
    assert set(entries[0]) == set(audit.FIELDS)
    assert entries[0]["prev"] == ""
    assert entries[1]["prev"] == entries[0]["hash"]
    for entry in entries:
        assert TIME.match(entry["time"]), entry
        assert HASH.match(entry["hash"]), entry
        assert entry["hash"] == audit.entry_hash(entry)
    assert entries[0]["recipients"] == []
    assert entries[0]["detail"] == "erika (officer)"
    assert entries[1]["recipients"] == ["pnb", "pnc"]
    assert (entries[1]["record_id"], entries[1]["version"]) == ("rec0001", 2)
    assert entries[1]["digest"] == audit.digest_of(b"bytes that left")
    assert audit.head(node) == {"seq": 2, "hash": entries[1]["hash"]}
    assert audit.verify(node) == []


def test_digest_of() -> None:
    # SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
    assert audit.digest_of(b"abc") == "sha256:ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    assert audit.digest_of(b"abc") != audit.digest_of(b"abd")


def test_the_hash_covers_every_field(node: Node) -> None:
    log(node, 2)
    entry = audit.list_entries(node)[1]
    for name in audit.HASHED:
        altered = {**entry, name: "x" if entry[name] != "x" else "y"}
        assert audit.entry_hash(altered) != entry["hash"], name


def test_append_rolls_back_with_the_callers_transaction(node: Node) -> None:
    log(node, 1)

    def failing_work() -> None:
        with write(node.db) as conn:
            audit.append(conn, user="admin", action="record.add", record_id="rec1")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_work()
    assert [e["seq"] for e in audit.list_entries(node)] == [1]
    assert audit.head(node) == {"seq": 1, "hash": audit.list_entries(node)[0]["hash"]}
    log(node, 1)
    assert audit.verify(node) == []


def test_append_needs_a_write_transaction(node: Node) -> None:
    with pytest.raises(RuntimeError, match="inside a write transaction"):
        audit.append(node.db.conn, user="admin", action="record.add")
    assert audit.list_entries(node) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"user": ""}, "user"),
        ({"action": "  "}, "action"),
        ({"record_id": ""}, "record_id"),
        ({"version": -1}, "version"),
        ({"version": True}, "version"),
        ({"version": 2**60}, "version"),
        ({"recipients": "pnb"}, "recipients"),
        ({"recipients": ["pnb", ""]}, "recipients"),
        ({"detail": "lone \ud800 surrogate"}, "cannot log"),
    ],
)
def test_append_refuses_bad_values(node: Node, fields: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"user": "admin", "action": "record.add", **fields}
    with pytest.raises(NodeError, match=message), write(node.db) as conn:
        audit.append(conn, **arguments)
    assert audit.list_entries(node) == []
    assert audit.verify(node) == []


def test_verify_is_clean_after_many_appends(node: Node) -> None:
    log(node, 60)
    assert audit.verify(node) == []
    assert audit.head(node) == {"seq": 60, "hash": row(node, 60)["hash"]}


def test_an_empty_log_verifies_intact(node: Node) -> None:
    assert audit.list_entries(node) == []
    assert audit.head(node) == {"seq": 0, "hash": ""}
    assert audit.verify(node) == []


def test_list_limit_and_record_filter(node: Node) -> None:
    log(node, 12)
    assert [e["seq"] for e in audit.list_entries(node, limit=3)] == [10, 11, 12]
    assert [e["seq"] for e in audit.list_entries(node, limit=50)] == list(range(1, 13))
    assert [e["seq"] for e in audit.list_entries(node, record_id="rec0007")] == [8]
    assert audit.list_entries(node, record_id="nope") == []


# --- the triggers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit SET user = 'mallory' WHERE seq = 2",
        "UPDATE audit SET hash = hash",
        "DELETE FROM audit WHERE seq = 3",
        "DELETE FROM audit",
        "INSERT OR REPLACE INTO audit SELECT * FROM audit WHERE seq = 2",
        "DELETE FROM audit_head",
        "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit WHERE seq = 2)",
        "INSERT OR REPLACE INTO audit_head (id, seq, hash) VALUES (1, 0, '')",
    ],
)
def test_the_triggers_refuse_changes(node: Node, sql: str) -> None:
    log(node, 3)
    before = audit.list_entries(node), audit.head(node)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        node.db.execute(sql)
    assert (audit.list_entries(node), audit.head(node)) == before
    assert audit.verify(node) == []


def test_the_triggers_refuse_an_entry_that_does_not_follow_the_head(node: Node) -> None:
    log(node, 3)
    with pytest.raises(sqlite3.DatabaseError, match="must follow the head"):
        insert(node.db.conn, forged(5, row(node, 3)["hash"]))
    with pytest.raises(sqlite3.DatabaseError, match="must follow the head"):
        insert(node.db.conn, forged(4, "wrong"))
    assert audit.verify(node) == []


def test_dropped_triggers_are_reported(node: Node) -> None:
    log(node, 2)
    with closing(sqlite3.connect(node.home / DB_FILE, isolation_level=None)) as conn:
        conn.execute("DROP TRIGGER audit_no_delete")
    assert audit.verify(node) == ["the append-only protection was removed (trigger audit_no_delete is missing)"]


# --- tampering that verify names ----------------------------------------------------------------------


def test_changed_field_of_a_middle_entry(node: Node) -> None:
    log(node, 10)
    with attacker(node) as conn:
        conn.execute("UPDATE audit SET user = 'mallory' WHERE seq = 5")
    assert audit.verify(node) == ["entry 5 was changed (its hash does not match its content)"]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("time", "2020-01-01T00:00:00Z"),
        ("action", "record.add"),
        ("record_id", None),
        ("version", 99),
        ("recipients", "[]"),
        ("recipients", "not json"),
        ("digest", "sha256:AAAA"),
        ("detail", "harmless"),
        ("prev", ""),
        ("hash", "A" * 43),
    ],
)
def test_any_changed_column_is_named(node: Node, column: str, value: Any) -> None:
    log(node, 8)
    with attacker(node) as conn:
        conn.execute(f"UPDATE audit SET {column} = ? WHERE seq = 4", (value,))
    problems = audit.verify(node)
    assert problems == ["entry 4 was changed (its hash does not match its content)"]


def test_changed_and_rehashed_entry_breaks_the_next_link(node: Node) -> None:
    log(node, 10)
    entry = row(node, 5)
    entry["recipients"] = json.loads(entry["recipients"])
    entry["user"] = "mallory"
    rehashed = audit.entry_hash(entry)
    with attacker(node) as conn:
        conn.execute("UPDATE audit SET user = 'mallory', hash = ? WHERE seq = 5", (rehashed,))
    problems = audit.verify(node)
    assert len(problems) == 1, problems
    assert problems[0].startswith("entry 6 was inserted or the chain was re-linked (prev does not match entry 5)")
    assert "entry 5 was changed and re-hashed" in problems[0]


def test_changed_and_rehashed_last_entry_no_longer_matches_the_head(node: Node) -> None:
    log(node, 4)
    entry = row(node, 4)
    entry["recipients"] = json.loads(entry["recipients"])
    entry["action"] = "record.add"
    with attacker(node) as conn:
        conn.execute("UPDATE audit SET action = 'record.add', hash = ? WHERE seq = 4", (audit.entry_hash(entry),))
    problems = audit.verify(node)
    assert len(problems) == 1, problems
    assert problems[0].startswith("entry 4 does not match the head")


def test_deleted_middle_entry(node: Node) -> None:
    log(node, 10)
    with attacker(node) as conn:
        conn.execute("DELETE FROM audit WHERE seq = 5")
    assert audit.verify(node) == ["entry 5 is missing (seq jumps from 4 to 6)"]


def test_deleted_run_of_entries_and_the_first(node: Node) -> None:
    log(node, 10)
    with attacker(node) as conn:
        conn.execute("DELETE FROM audit WHERE seq IN (1, 4, 5, 6)")
    assert audit.verify(node) == [
        "entry 1 is missing (the log starts at 2)",
        "entries 4 to 6 are missing (seq jumps from 3 to 7)",
    ]


def test_deleted_last_entry(node: Node) -> None:
    log(node, 12)
    with attacker(node) as conn:
        conn.execute("DELETE FROM audit WHERE seq = 12")
    assert audit.verify(node) == ["the last entry was deleted (head says 12, log ends at 11)"]


def test_deleted_last_entries(node: Node) -> None:
    log(node, 12)
    with attacker(node) as conn:
        conn.execute("DELETE FROM audit WHERE seq > 10")
    assert audit.verify(node) == ["the last 2 entries were deleted (head says 12, log ends at 10)"]


def test_deleted_everything(node: Node) -> None:
    log(node, 3)
    with attacker(node) as conn:
        conn.execute("DELETE FROM audit")
    assert audit.verify(node) == ["all 3 entries were deleted (head says 3, the log is empty)"]


def test_known_limit_truncation_with_a_rewound_head(node: Node) -> None:
    """Deleting the end and rewinding the head to the new last entry leaves a valid, shorter chain.

    Only a copy of an earlier head (an export the data-protection officer kept) reveals this.
    """
    log(node, 6)
    kept = json.loads(audit.export(node, "json"))["head"]
    with attacker(node) as conn:
        conn.execute("DELETE FROM audit WHERE seq = 6")
        conn.execute("UPDATE audit_head SET seq = 5, hash = (SELECT hash FROM audit WHERE seq = 5)")
    assert audit.verify(node) == []
    assert audit.head(node) != kept


def test_deleted_head(node: Node) -> None:
    log(node, 3)
    with attacker(node) as conn:
        conn.execute("DELETE FROM audit_head")
    assert audit.verify(node) == ["head is missing"]


def test_forged_entry_replacing_a_deleted_middle_entry(node: Node) -> None:
    log(node, 8)
    with attacker(node) as conn:
        conn.execute("DELETE FROM audit WHERE seq = 4")
        insert(conn, forged(4, row(node, 3)["hash"]))
    problems = audit.verify(node)
    assert len(problems) == 1, problems
    assert problems[0].startswith("entry 5 was inserted or the chain was re-linked (prev does not match entry 4)")
    assert "entry 4 was changed" in problems[0]


def test_forged_entry_at_the_end_without_moving_the_head(node: Node) -> None:
    log(node, 5)
    with attacker(node) as conn:
        insert(conn, forged(6, row(node, 5)["hash"]))
    assert audit.verify(node) == ["entry 6 was inserted (it lies beyond the head, which says the log ends at 5)"]


def test_forged_entry_after_a_seq_gap(node: Node) -> None:
    log(node, 5)
    with attacker(node) as conn:
        insert(conn, forged(9, "whatever"))
    assert audit.verify(node) == ["entry 9 was inserted (it lies beyond the head, which says the log ends at 5)"]


def test_forged_entry_after_a_seq_gap_with_the_head_moved(node: Node) -> None:
    log(node, 5)
    entry = forged(9, "whatever")
    with attacker(node) as conn:
        insert(conn, entry)
        conn.execute("UPDATE audit_head SET seq = 9, hash = ?", (entry["hash"],))
    assert audit.verify(node) == ["entries 6 to 8 are missing (seq jumps from 5 to 9)"]


def test_forged_entry_before_the_first(node: Node) -> None:
    log(node, 3)
    with attacker(node) as conn:
        insert(conn, forged(0, ""))
    assert audit.verify(node) == ["entry 0 was inserted (seq numbers start at 1)"]


def test_forged_first_entry(node: Node) -> None:
    log(node, 3)
    with attacker(node) as conn:
        conn.execute("DELETE FROM audit WHERE seq = 1")
        insert(conn, forged(1, "not-empty"))
    assert audit.verify(node) == [
        "entry 1 was inserted or re-linked (it is the first entry, but its prev is not empty)",
        (
            "entry 2 was inserted or the chain was re-linked (prev does not match entry 1):"
            " entry 1 was changed and re-hashed, or entry 2 was forged"
        ),
    ]


@pytest.mark.parametrize(
    "columns",
    [
        pytest.param([name for name in audit.FIELDS if name != "seq"], id="whole-entries"),
        pytest.param(
            ["time", "user", "action", "record_id", "version", "recipients", "digest", "detail"],
            id="contents-keeping-hashes-and-links",
        ),
    ],
)
def test_swapped_entries(node: Node, columns: list[str]) -> None:
    log(node, 9)
    three, seven = row(node, 3), row(node, 7)
    assignments = ", ".join(f"{name} = ?" for name in columns)
    with attacker(node) as conn:
        conn.execute(f"UPDATE audit SET {assignments} WHERE seq = 3", tuple(seven[name] for name in columns))
        conn.execute(f"UPDATE audit SET {assignments} WHERE seq = 7", tuple(three[name] for name in columns))
    assert audit.verify(node) == [
        "entry 3 was changed (its hash does not match its content)",
        "entry 7 was changed (its hash does not match its content)",
    ]


def test_renumbered_entries(node: Node) -> None:
    log(node, 6)
    with attacker(node) as conn:
        conn.execute("DELETE FROM audit WHERE seq = 3")
        for seq in (4, 5, 6):
            conn.execute("UPDATE audit SET seq = ? WHERE seq = ?", (seq - 1, seq))
        conn.execute("UPDATE audit_head SET seq = 5, hash = (SELECT hash FROM audit WHERE seq = 5)")
    assert audit.verify(node) == [f"entry {seq} was changed (its hash does not match its content)" for seq in (3, 4, 5)]


def test_appending_after_tampering_still_reports_it(node: Node) -> None:
    log(node, 5)
    with attacker(node) as conn:
        conn.execute("UPDATE audit SET detail = 'rewritten' WHERE seq = 2")
    log(node, 3)
    assert audit.verify(node) == ["entry 2 was changed (its hash does not match its content)"]


def test_missing_audit_table_is_reported(node: Node) -> None:
    with closing(sqlite3.connect(node.home / DB_FILE, isolation_level=None)) as conn:
        conn.execute("DROP TABLE audit")
    problems = audit.verify(node)
    assert len(problems) == 1
    assert problems[0].startswith("the audit log cannot be read")


# --- export -------------------------------------------------------------------------------------------


def test_export_csv_has_every_entry(node: Node) -> None:
    log(node, 7)
    with write(node.db) as conn:
        audit.append(conn, user="erika", action="record.add", detail='=HYPERLINK("http://x", "y"), "quoted"\nline')
    text = audit.export(node, "csv")
    parsed = list(csv.DictReader(io.StringIO(text, newline="")))
    entries = audit.list_entries(node)
    assert len(parsed) == len(entries) == 8
    assert list(parsed[0]) == list(audit.FIELDS)
    for line, entry in zip(parsed, entries, strict=True):
        assert int(line["seq"]) == entry["seq"]
        assert line["hash"] == entry["hash"]
        assert line["prev"] == entry["prev"]
        assert json.loads(line["recipients"]) == entry["recipients"]
        assert line["digest"] == (entry["digest"] or "")
    assert parsed[-1]["detail"] == "'" + entries[-1]["detail"]  # no formula for a spreadsheet to run


def test_export_json_has_every_entry_and_the_head(node: Node) -> None:
    log(node, 7)
    document = json.loads(audit.export(node, "json"))
    assert document["node_id"] == node.node_id
    assert document["node_name"] == "Stadt A"
    assert TIME.match(document["exported"])
    assert document["entries"] == audit.list_entries(node)
    assert document["head"] == {"seq": 7, "hash": document["entries"][-1]["hash"]}
    for entry in document["entries"]:
        assert audit.entry_hash(entry) == entry["hash"]


def test_export_of_an_empty_log(node: Node) -> None:
    assert list(csv.DictReader(io.StringIO(audit.export(node, "csv")))) == []
    assert json.loads(audit.export(node, "json"))["entries"] == []


def test_export_refuses_unknown_formats(node: Node) -> None:
    with pytest.raises(NodeError, match="unknown export format"):
        audit.export(node, "xml")  # type: ignore[arg-type]
