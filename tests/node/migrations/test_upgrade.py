"""Upgrading from every earlier schema level: nothing is lost, what the steps compute is there, and the node serves it.

For each level before the newest, a database that ran only the first `level` steps is filled with the
rows of a node in use (tests/node/migrations/conftest.py), cut down to that level's columns, and the
node is opened on it, which migrates it. Every row survives with the values it had: a future step
that is meant to rewrite values must say so here. A new step adds a level, and so a case.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_aiohttp import AiohttpClient

from node import audit
from node.exchange.received import list_inbox
from node.exchange.server import create_app
from node.home import Node
from node.migrations import SCHEMA_VERSION, STEPS, applied_steps, pending_steps, schema_version, steps
from node.search.query import index_waiting, search
from node.sharing.records import get_record, list_records
from node.trust.peers import list_peers
from tests.conftest import RECORD, body_of
from tests.node.conftest import Client, ServeOn
from tests.node.migrations.conftest import COSTS, Source
from tests.node.migrations.levels import Rows, connect, home_at, schema_of, snapshot
from tests.ports import hold_port

LEVELS = range(1, len(STEPS))
"""Every level a database may be at before the newest."""

INDEXED = "SELECT origin, record_id, version, seq, kind, tlp, evidence, topics, folded FROM search_docs ORDER BY 1, 2"
QUEUED = "SELECT id, version FROM shares WHERE state != 'withdrawn' ORDER BY id"


@dataclass
class Earlier:
    """A copy of the source's home whose database is at an earlier level, and what that database held."""

    home: Path
    schema: dict[str, list[str]]  # the level's data tables and their columns
    before: Rows


def earlier(source: Source, base: Path, level: int) -> Earlier:
    """The source's home with its rows in a database that ran only the first `level` steps."""
    path = home_at(source.home, base / "augsburg", level)
    db = connect(path)
    try:
        schema = schema_of(db.conn)
        return Earlier(path.parent, schema, snapshot(db.conn, schema))
    finally:
        db.close()


def from_source(source: Source, sql: str) -> list[tuple[object, ...]]:
    """What the source (a node that always ran the newest schema) answers to `sql`."""
    conn = sqlite3.connect(source.db)
    try:
        return [tuple(row) for row in conn.execute(sql)]
    finally:
        conn.close()


def test_the_node_in_use_holds_data_in_every_table(source: Source) -> None:
    assert [table for table, rows in source.rows.items() if not rows] == []
    assert "records" not in source.filled  # the operations wrote the tables they own
    assert "audit" not in source.filled


def test_the_levels_are_every_step_but_the_last() -> None:
    assert list(LEVELS) == [step.number for step in STEPS[:-1]]
    assert [step.number for step in STEPS] == list(range(1, SCHEMA_VERSION + 1))


def test_every_step_module_is_a_step_named_after_it() -> None:
    modules = sorted(path.stem for path in Path(steps.__file__).parent.glob("m[0-9]*.py"))
    assert [f"m{step.name}" for step in STEPS] == modules


@pytest.mark.parametrize("level", LEVELS)
async def test_an_upgrade_from_an_earlier_level_keeps_every_row_and_the_node_serves_it(
    level: int, source: Source, tmp_path: Path, serve_on: ServeOn, aiohttp_client: AiohttpClient
) -> None:
    at = earlier(source, tmp_path, level)
    assert [table for table, rows in at.before.items() if not rows] == []  # data in every table of the level

    node = Node.open(at.home)
    try:
        assert (schema_version(node.db), pending_steps(node.db)) == (SCHEMA_VERSION, [])
        assert applied_steps(node.db) == [step.name for step in STEPS]
        after = snapshot(node.db.conn, at.schema)
        for table, rows in at.before.items():
            assert after[table] == rows, f"the upgrade from level {level} changed the rows of {table}"
        # what the later steps compute is what a node that always ran the newest schema holds
        index_waiting(node)  # received records queued for search (0020) are indexed, as a search or the worker does
        assert node.db.execute(INDEXED).fetchall() == from_source(source, INDEXED)
        assert node.db.execute(QUEUED).fetchall() == from_source(source, QUEUED)
        assert node.db.execute("SELECT count(*) FROM relays WHERE cursor IS NULL").fetchone() == (0,)

        # a database before 0021 never held an entry listing a received batch: copied into one, such an entry
        # loses its records, and verify names exactly those entries (node.audit: records are hashed)
        listed = from_source(source, "SELECT seq FROM audit WHERE records IS NOT NULL") if "audit" in at.schema else []
        assert audit.verify(node) == [
            f"entry {seq} was changed (its hash does not match its content)" for (seq,) in listed
        ]
        assert [peer["name"] for peer in list_peers(node)] == ["Stadt Bonn"]
        assert source.shared in [record["id"] for record in list_records(node, "experience")]
        assert get_record(node, source.shared)["content"]["title"] == RECORD["title"]
        assert source.received in [entry["id"] for entry in list_inbox(node)]
        assert [hit["id"] for hit in search(node, "Fahrradcodierung")["hits"]] == [source.received]
        assert [hit["id"] for hit in search(node, "Nachbarschaftsbegehungen")["hits"]] == [source.shared]

        port = hold_port()
        client: Client = await aiohttp_client(await serve_on(create_app(node, background=False), port))
        answer = await client.get("/.well-known/praevnet")
        assert answer.status == 200
        assert json.loads(await answer.read())["node_id"] == node.node_id

        bonn = source.peer()
        outbox = f"{node.config.url}/fed/v1/outbox"
        answer = await client.get("/fed/v1/outbox", headers=bonn.signed_headers("GET", outbox, b""))
        assert answer.status == 200
        raw = await answer.read()
        [record] = [envelope for envelope in json.loads(raw)["envelopes"] if envelope["id"] == source.shared]
        assert record["content"]["title"] == RECORD["title"]
        assert COSTS.encode() not in raw  # the local field stays local
        assert RECORD["internal_notes"].encode() not in raw

        body = body_of({"envelopes": [bonn.envelope(record_id="bonn-nach-dem-update")]})
        inbox = f"{node.config.url}/fed/v1/inbox/txn-after-upgrade"
        answer = await client.put(
            "/fed/v1/inbox/txn-after-upgrade", data=body, headers=bonn.signed_headers("PUT", inbox, body)
        )
        assert answer.status == 200, await answer.text()
        assert [result["status"] for result in json.loads(await answer.read())["results"]] == ["accepted"]
    finally:
        node.close()
