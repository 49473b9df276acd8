"""Erased text leaves the search index at the moment it leaves the tables: not findable, and not in the
database file, the index's own segments included (a deleted FTS5 document keeps its terms until merged)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from node.exchange.inbox import ingest
from node.home import Node
from node.search.fold import fold
from node.sharing.expiry import purge_expired
from node.sharing.records import add_record
from node.sharing.shares import retract
from node.users import ADMIN
from tests.conftest import FakePeer, SetClock
from tests.node.search.conftest import database_bytes, found, receive
from tests.node.search.index_pages import stored_terms

TITLE = "Schließfach-Auswertung"
WORD = "Zyxwüßlichkeit"  # its folded form, zyxwuesslichkeit, differs from it
TRIGRAMS = {"zyx", "yxw", "xwu"}  # no other text in these tests has them
OTHER = {"title": "Nachbarschaft", "summary": "Begehungen mit der Polizei im Quartier"}


def record(**more: Any) -> dict[str, Any]:
    return {"title": TITLE, "summary": f"Die {WORD} der Anlage", **more}


def alert(expires: datetime, **more: Any) -> dict[str, Any]:
    return {
        "headline": TITLE,
        "area": {"name": "Innenstadt"},
        "expires": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "description": f"Die {WORD} der Anlage",
        **more,
    }


def assert_held(node: Node) -> None:
    assert found(node, WORD) != []
    assert fold(WORD).encode() in database_bytes(node)
    assert stored_terms(node.db.conn) >= TRIGRAMS


def assert_no_trace_in_the_index(node: Node) -> None:
    """Not findable, not folded in the database file, and no segment of the index keeps its terms."""
    assert found(node, WORD) == []
    assert found(node, "Schliessfach") == []
    assert found(node, "Nachbarschaft") != []  # the rest is still found
    data = database_bytes(node)
    assert fold(WORD).encode() not in data
    assert fold(TITLE).encode() not in data
    assert not TRIGRAMS & stored_terms(node.db.conn)


def assert_erased(node: Node) -> None:
    """No trace in the index, and the original text gone from the database file too."""
    assert_no_trace_in_the_index(node)
    data = database_bytes(node)
    assert WORD.encode() not in data
    assert TITLE.encode() not in data


def test_a_received_retraction_erases_the_record_from_the_index(node: Node, bonn: FakePeer) -> None:
    receive(node, bonn, OTHER)
    record_id = receive(node, bonn, record())
    assert_held(node)
    ingest(node, bonn.node_id, [bonn.envelope(kind="retraction", record_id=record_id)])
    assert_erased(node)


def test_a_retraction_erases_older_versions_that_left_the_index_before(node: Node, bonn: FakePeer) -> None:
    receive(node, bonn, OTHER)
    record_id = receive(node, bonn, record())
    receive(node, bonn, {"title": "Neue Fassung", "summary": "ohne das Wort"}, record_id=record_id, version=2)
    assert found(node, WORD) == []  # version 1 is no longer indexed, but its terms are still in a segment
    ingest(node, bonn.node_id, [bonn.envelope(kind="retraction", record_id=record_id, version=2)])
    assert_erased(node)


def test_an_own_retraction_takes_the_record_out_of_the_index(node: Node) -> None:
    add_record(node, "experience", OTHER, by=ADMIN)
    record_id = add_record(node, "experience", record(), by=ADMIN)
    assert_held(node)
    retract(node, record_id, by=ADMIN)
    assert_no_trace_in_the_index(node)
    # the origin keeps its own retracted record (node.sharing.shares.retract): only the index lets go of it
    assert node.db.execute("SELECT count(*) FROM versions WHERE content LIKE ?", (f"%{WORD}%",)).fetchone()[0] == 1


def test_purging_an_own_alert_erases_it_from_the_index(node: Node, clock: SetClock) -> None:
    start = clock.set(datetime(2026, 5, 4, 12, 0, tzinfo=UTC))
    add_record(node, "experience", OTHER, by=ADMIN)
    add_record(node, "alert", alert(start + timedelta(days=1)), by=ADMIN)
    assert_held(node)
    clock.advance(timedelta(days=40))
    assert purge_expired(node) == {"own": 1, "received": 0}
    assert_erased(node)


def test_purging_a_received_alert_erases_it_from_the_index(node: Node, bonn: FakePeer, clock: SetClock) -> None:
    start = clock.set(datetime.now(UTC))
    receive(node, bonn, OTHER)
    receive(node, bonn, alert(start + timedelta(days=1)), kind="alert")
    assert_held(node)
    clock.advance(timedelta(days=40))
    assert purge_expired(node) == {"own": 0, "received": 1}
    assert_erased(node)


def test_purging_an_older_version_erases_it_while_the_newer_stays_found(
    node: Node, bonn: FakePeer, clock: SetClock
) -> None:
    start = clock.set(datetime.now(UTC))
    receive(node, bonn, OTHER)
    alert_id = receive(node, bonn, alert(start + timedelta(days=1)), kind="alert")
    later = alert(start + timedelta(days=60), description="Verlängert", headline="Verlängerte Warnung")
    receive(node, bonn, later, kind="alert", record_id=alert_id, version=2)
    clock.advance(timedelta(days=40))  # version 1 is past its retention, version 2 still running
    assert purge_expired(node) == {"own": 0, "received": 1}
    assert found(node, "verlaengert") == [alert_id]
    assert_erased(node)


@pytest.mark.parametrize("erasures", [1, 3])
def test_only_shards_an_erasure_touched_are_rewritten(node: Node, bonn: FakePeer, erasures: int) -> None:
    ids = [receive(node, bonn, {"title": f"Bericht {n}", "summary": "Text"}) for n in range(erasures)]
    ingest(node, bonn.node_id, [bonn.envelope(kind="retraction", record_id=record_id) for record_id in ids])
    assert node.db.execute("SELECT count(*) FROM search_shards WHERE dirty = 1").fetchone()[0] == 0
    assert node.db.execute("SELECT docs FROM search_shards WHERE shard = 0").fetchone()[0] == 0
