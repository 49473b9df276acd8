"""node.audit.EntryFilter: listing and exporting only some entries (by user, action prefix, record, time, page)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from node import audit
from node.audit import EntryFilter
from node.errors import NodeError
from node.home import Node
from node.store import write
from tests.conftest import SetClock
from tests.node.conftest import NodeFactory

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
# (user, action, record id), one entry per hour from START
ENTRIES = [
    ("erika", "record.add", "rec1"),
    ("erika", "record.share", "rec1"),
    ("node", "sent", "rec1"),
    ("anton", "share.release", "rec2"),
    ("erika", "recordings", None),
    ("admin", "peer.add", None),
    ("node", "peer.pair", None),
]


@pytest.fixture
def node(make_node: NodeFactory, clock: SetClock) -> Node:
    node = make_node("Stadt A")
    for hours, (user, action, record_id) in enumerate(ENTRIES):
        clock.set(START + timedelta(hours=hours))
        with write(node.db) as conn:
            audit.append(conn, user=user, action=action, record_id=record_id)
    return node


def seqs(entries: list[dict[str, Any]]) -> list[int]:
    return [entry["seq"] for entry in entries]


def test_each_condition_filters_and_together_they_all_hold(node: Node) -> None:
    assert seqs(audit.list_entries(node, only=EntryFilter(user="erika"))) == [1, 2, 5]
    assert seqs(audit.list_entries(node, only=EntryFilter(action="record."))) == [1, 2]
    assert seqs(audit.list_entries(node, only=EntryFilter(action="record"))) == [1, 2, 5]
    assert seqs(audit.list_entries(node, only=EntryFilter(action="peer."))) == [6, 7]
    assert seqs(audit.list_entries(node, only=EntryFilter(record_id="rec1"))) == [1, 2, 3]
    assert seqs(audit.list_entries(node, only=EntryFilter(user="erika", action="record.", record_id="rec1"))) == [1, 2]
    assert audit.list_entries(node, only=EntryFilter(user="Erika")) == []  # user names match exactly
    assert seqs(audit.list_entries(node, only=EntryFilter())) == list(range(1, 8))


def test_an_action_prefix_is_text_not_a_like_pattern(node: Node) -> None:
    assert audit.list_entries(node, only=EntryFilter(action="%")) == []
    assert audit.list_entries(node, only=EntryFilter(action="_ecord")) == []


def test_time_bounds_include_since_and_exclude_until(node: Node) -> None:
    since = START + timedelta(hours=2)
    until = START + timedelta(hours=4)
    assert seqs(audit.list_entries(node, only=EntryFilter(since=since))) == [3, 4, 5, 6, 7]
    assert seqs(audit.list_entries(node, only=EntryFilter(until=until))) == [1, 2, 3, 4]
    assert seqs(audit.list_entries(node, only=EntryFilter(since=since, until=until))) == [3, 4]
    berlin = since.astimezone(ZoneInfo("Europe/Berlin"))  # any zone: compared in UTC
    assert seqs(audit.list_entries(node, only=EntryFilter(since=berlin, until=until))) == [3, 4]


def test_pages_go_back_by_seq_newest_first(node: Node) -> None:
    assert seqs(audit.list_entries(node, limit=3)) == [5, 6, 7]
    assert seqs(audit.list_entries(node, limit=3, only=EntryFilter(before_seq=5))) == [2, 3, 4]
    assert seqs(audit.list_entries(node, limit=3, only=EntryFilter(before_seq=2))) == [1]
    assert seqs(audit.list_entries(node, limit=2, only=EntryFilter(user="erika", before_seq=5))) == [1, 2]


def test_the_record_argument_and_a_filter_combine(node: Node) -> None:
    assert seqs(audit.list_entries(node, record_id="rec1", only=EntryFilter(user="erika"))) == [1, 2]
    assert seqs(audit.list_entries(node, record_id="rec1", only=EntryFilter(record_id="rec1"))) == [1, 2, 3]
    with pytest.raises(NodeError, match="two different records"):
        audit.list_entries(node, record_id="rec1", only=EntryFilter(record_id="rec2"))


@pytest.mark.parametrize(
    "fields",
    [
        {"before_seq": 0},
        {"before_seq": -1},
        {"before_seq": "5"},
        {"before_seq": True},
        {"before_seq": 2**53},
        {"user": 5},
        {"action": b"peer."},
        {"since": datetime(2026, 1, 1)},  # naive: refused
        {"until": "2026-01-01T00:00:00Z"},
    ],
)
def test_a_malformed_filter_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(NodeError, match="audit filter"):
        EntryFilter(**fields)


def test_a_filtered_json_export_holds_only_those_entries_and_names_the_filter(node: Node) -> None:
    since = START + timedelta(hours=1)
    document = json.loads(audit.export(node, "json", only=EntryFilter(user="erika", since=since)))
    assert seqs(document["entries"]) == [2, 5]
    assert document["filter"] == {"user": "erika", "since": "2026-03-01T09:00:00Z"}
    assert document["head"] == audit.head(node)
    assert "filter" not in json.loads(audit.export(node, "json"))


def test_a_filtered_csv_export_holds_only_those_entries(node: Node) -> None:
    rows = list(csv.DictReader(io.StringIO(audit.export(node, "csv", only=EntryFilter(action="peer.")))))
    assert [row["seq"] for row in rows] == ["6", "7"]
    assert [row["action"] for row in rows] == ["peer.add", "peer.pair"]
    whole = list(csv.DictReader(io.StringIO(audit.export(node, "csv"))))
    assert len(whole) == len(ENTRIES)


def test_an_unknown_export_format_is_refused(node: Node) -> None:
    with pytest.raises(NodeError, match="unknown export format"):
        audit.export(node, "xml")  # type: ignore[arg-type]
