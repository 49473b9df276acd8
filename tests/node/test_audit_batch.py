"""Audit entries that list a whole received batch (`records`, migration 0021): the hash covers every record
listed, verify names a changed one, list filters and export name each record and the digest of its bytes,
and an entry without records hashes exactly as entries did before the field existed."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from contextlib import closing
from typing import Any

import pytest

from node import audit
from node.errors import NodeError
from node.exchange.inbox import ingest
from node.home import DB_FILE, Node
from node.store import write
from protocol.canonical import canonical_bytes
from protocol.encoding import sha256_b64url
from tests.conftest import FakePeer
from tests.node.conftest import NodeFactory


@pytest.fixture
def node(make_node: NodeFactory) -> Node:
    return make_node("Stadt Augsburg")


@pytest.fixture
def bonn(node: Node) -> FakePeer:
    return FakePeer("Stadt Bonn", "http://127.0.0.1:9").trusted_by(node)  # sends the batches


def received(node: Node, bonn: FakePeer, count: int) -> list[dict[str, Any]]:
    envelopes = [bonn.envelope({"title": f"Bericht {n}", "summary": "Text"}) for n in range(count)]
    assert {r["status"] for r in ingest(node, bonn.node_id, envelopes)["results"]} == {"accepted"}
    return envelopes


def test_a_batch_is_one_entry_naming_each_record_and_the_digest_of_its_bytes(node: Node, bonn: FakePeer) -> None:
    envelopes = received(node, bonn, 3)
    [entry] = audit.list_entries(node, only=audit.EntryFilter(action="received"))
    assert entry["action"] == "received.batch"
    assert entry["records"] == [
        {
            "action": "received",
            "record_id": e["id"],
            "version": 1,
            "digest": audit.digest_of(canonical_bytes(e)),
            "detail": f"experience from {bonn.node_id}",
        }
        for e in envelopes
    ]
    assert audit.verify(node) == []


def test_the_record_filter_finds_the_batch_entry_that_lists_the_record(node: Node, bonn: FakePeer) -> None:
    first = received(node, bonn, 2)
    received(node, bonn, 2)
    [entry] = audit.list_entries(node, record_id=first[1]["id"])
    assert [item["record_id"] for item in entry["records"]] == [e["id"] for e in first]
    assert audit.list_entries(node, record_id="no-such-record") == []


def test_export_names_every_record_and_its_digest(node: Node, bonn: FakePeer) -> None:
    envelopes = received(node, bonn, 2)
    digests = [audit.digest_of(canonical_bytes(e)) for e in envelopes]
    exported = json.loads(audit.export(node, "json"))
    [entry] = [e for e in exported["entries"] if e["action"] == "received.batch"]
    assert [(r["record_id"], r["digest"]) for r in entry["records"]] == [
        (e["id"], d) for e, d in zip(envelopes, digests, strict=True)
    ]
    rows = list(csv.DictReader(io.StringIO(audit.export(node, "csv"))))
    [row] = [r for r in rows if r["action"] == "received.batch"]
    assert [(r["record_id"], r["digest"]) for r in json.loads(row["records"])] == [
        (e["id"], d) for e, d in zip(envelopes, digests, strict=True)
    ]
    assert (
        audit.entry_hash(
            {
                **row,
                "seq": int(row["seq"]),
                "version": None,
                "record_id": None,
                "digest": None,
                "recipients": json.loads(row["recipients"]),
                "records": json.loads(row["records"]),
            }
        )
        == row["hash"]
    )


def test_verify_names_a_batch_entry_whose_records_were_changed(node: Node, bonn: FakePeer) -> None:
    received(node, bonn, 2)
    [entry] = audit.list_entries(node, only=audit.EntryFilter(action="received.batch"))
    changed = [dict(item) for item in entry["records"]]
    changed[1]["digest"] = audit.digest_of(b"other bytes")
    with closing(sqlite3.connect(f"{node.home}/{DB_FILE}", isolation_level=None)) as conn:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET records = ? WHERE seq = ?", (json.dumps(changed), entry["seq"]))
    assert f"entry {entry['seq']} was changed (its hash does not match its content)" in audit.verify(node)


def test_an_entry_without_records_hashes_as_before_the_field_existed(node: Node) -> None:
    with write(node.db) as conn:
        seq = audit.append(conn, user="admin", action="record.add", record_id="rec1", version=1, digest="sha256:x")
    [entry] = [e for e in audit.list_entries(node) if e["seq"] == seq]
    before = ("seq", "time", "user", "action", "record_id", "version", "recipients", "digest", "detail", "prev")
    assert entry["records"] is None
    assert entry["hash"] == sha256_b64url(canonical_bytes({name: entry[name] for name in before}))


@pytest.mark.parametrize(
    ("records", "problem"),
    [
        ([{"action": "received", "record_id": "r1", "version": 1, "digest": "sha256:x"}], "must hold exactly"),
        ([{"action": "received", "record_id": "r1", "version": "1", "digest": "sha256:x", "detail": None}], "version"),
        ([{"action": "", "record_id": "r1", "version": 1, "digest": "sha256:x", "detail": None}], "action"),
        (["r1"], "must hold exactly"),
    ],
)
def test_bad_records_are_refused_and_nothing_is_written(node: Node, records: list[Any], problem: str) -> None:
    head = audit.head(node)
    with pytest.raises(NodeError, match=problem), write(node.db) as conn:
        audit.append(conn, user="node", action="received.batch", records=records)
    assert audit.head(node) == head
