"""node.checkpoints: signed checkpoints of the audit head, made when due, kept, and checked against the log."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from node import audit, checkpoints
from node.config import AuditConfig, parse_config
from node.errors import NodeError
from node.exchange.worker import Worker
from node.home import Node
from protocol.canonical import canonical_bytes
from tests.conftest import SetClock
from tests.node.conftest import NodeFactory, eventually
from tests.node.test_audit import attacker, log

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def node(make_node: NodeFactory) -> Node:
    made = make_node("Stadt A")
    made.config = replace(made.config, audit=AuditConfig(checkpoint_interval=3600.0, checkpoint_entries=5))
    return made


def kept_seqs(node: Node) -> list[int]:
    return [json.loads(text)["seq"] for text in checkpoints.stored(node)]


def test_make_signs_the_head_and_keeps_it(node: Node) -> None:
    log(node, 3)
    document = checkpoints.make(node)
    assert (document["seq"], document["hash"]) == (3, audit.head(node)["hash"])  # type: ignore[index]
    assert checkpoints.stored(node) == [canonical_bytes(document).decode()]
    assert checkpoints.check(node, document).seq == 3
    assert checkpoints.verify(node) == []


def test_a_checkpoint_is_due_after_n_entries_or_the_interval(node: Node, clock: SetClock) -> None:
    clock.set(START)
    assert checkpoints.make_if_due(node) is None  # an empty log: nothing to vouch for
    log(node, 1)
    assert checkpoints.make_if_due(node) is not None  # the first one at once
    log(node, 4)
    assert checkpoints.make_if_due(node) is None  # 4 new entries, 5 are needed
    log(node, 1)
    assert checkpoints.make_if_due(node) is not None
    assert kept_seqs(node) == [1, 6]
    log(node, 1)
    clock.advance(timedelta(minutes=59))
    assert checkpoints.make_if_due(node) is None  # one new entry, 59 minutes after the last checkpoint
    clock.advance(timedelta(minutes=1))
    assert checkpoints.make_if_due(node) is not None  # one new entry and the hour is over
    clock.advance(timedelta(hours=2))
    assert checkpoints.make_if_due(node) is None  # the interval has passed, but the log has not grown
    assert kept_seqs(node) == [1, 6, 7]


def test_only_the_newest_are_kept(node: Node) -> None:
    node.config = replace(node.config, audit=AuditConfig(checkpoints_kept=2))
    for _ in range(4):
        log(node, 1)
        checkpoints.make(node)
    assert kept_seqs(node) == [3, 4]


async def test_the_worker_makes_a_due_checkpoint_at_start(node: Node) -> None:
    log(node, 2)
    worker = Worker(node)
    await worker.start()
    try:
        await eventually(lambda: checkpoints.stored(node), "the worker's first checkpoint")
    finally:
        await worker.stop()
    assert kept_seqs(node) == [2]


def test_a_checkpoint_is_not_made_of_a_missing_head(node: Node) -> None:
    log(node, 2)
    with attacker(node) as conn:
        conn.execute("DELETE FROM audit_head")
    with pytest.raises(NodeError, match="no valid head"):
        checkpoints.make(node)
    assert checkpoints.make_if_due(node) is None
    assert checkpoints.stored(node) == []


def test_a_deleted_entry_before_a_checkpoint_is_named(node: Node) -> None:
    log(node, 6)
    given = checkpoints.check(node, checkpoints.make(node))
    log(node, 2)
    with attacker(node) as conn:
        conn.execute("DELETE FROM audit_checkpoints")
        conn.execute("DELETE FROM audit WHERE seq = 6")
    assert audit.holds(node, 6, given.hash) == "entry 6 is missing"
    problems = checkpoints.verify(node, given)
    assert problems == [
        "entry 6 is missing (seq jumps from 5 to 7)",
        f"checkpoint of seq 6 ({given.time}): entry 6 is missing",
    ]


def test_a_cut_below_a_rewound_head_is_named(node: Node) -> None:
    log(node, 6)
    given = checkpoints.check(node, checkpoints.make(node))
    with attacker(node) as conn:
        conn.execute("DELETE FROM audit WHERE seq > 4")
        conn.execute("UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit WHERE seq = 4)")
    assert audit.verify(node) == []  # the chain alone cannot tell
    assert checkpoints.verify(node) == [  # the checkpoint kept in the database can
        f"checkpoint of seq 6 ({given.time}, kept in the database): entries 5 to 6 are missing"
        " (the log ends at entry 4, the head says 4)"
    ]
    assert audit.holds(node, 6, given.hash) == "entries 5 to 6 are missing (the log ends at entry 4, the head says 4)"
    assert audit.holds(node, 4, given.hash).startswith("entry 4 differs")  # type: ignore[union-attr]


def test_an_emptied_log_is_named(node: Node) -> None:
    log(node, 2)
    given = checkpoints.check(node, checkpoints.make(node))
    with attacker(node) as conn:
        conn.execute("DELETE FROM audit")
        conn.execute("UPDATE audit_head SET seq = 0, hash = ''")
    assert audit.holds(node, 2, given.hash) == "entries 1 to 2 are missing (the log is empty, the head says 0)"
    assert audit.holds(node, 0, "") is None


def test_a_tampered_kept_checkpoint_is_reported(node: Node) -> None:
    log(node, 2)
    checkpoints.make(node)
    with attacker(node) as conn:
        conn.execute("UPDATE audit_checkpoints SET checkpoint = replace(checkpoint, '\"seq\":2', '\"seq\":1')")
        conn.execute("INSERT INTO audit_checkpoints (seq, made, checkpoint) VALUES (1, 'x', 'kein JSON')")
    problems = checkpoints.verify(node)
    assert problems[0].startswith("a checkpoint kept in the database does not verify: checkpoint refused:")
    assert "signature does not verify" in problems[0]
    assert problems[1].startswith("a checkpoint kept in the database does not verify: not JSON")
    assert len(problems) == 2


def test_lost_kept_checkpoints_are_reported(node: Node) -> None:
    with attacker(node) as conn:
        conn.execute("DROP TABLE audit_checkpoints")
    assert checkpoints.verify(node) == [
        "the checkpoints kept in the database cannot be read: no such table: audit_checkpoints"
    ]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("checkpoint_interval = 59", "audit.checkpoint_interval = 59: must be a number from 60 to 2678400"),
        ("checkpoint_interval = 2678401", "audit.checkpoint_interval = 2678401: must be a number from 60"),
        ("checkpoint_entries = 0", "audit.checkpoint_entries = 0: must be a whole number from 1"),
        ("checkpoints_kept = 0", "audit.checkpoints_kept = 0: must be a whole number from 1 to 100000"),
        ("checkpoints_kept = 100001", "audit.checkpoints_kept = 100001: must be a whole number from 1"),
        ("checkpoint_entries = 'viele'", 'audit.checkpoint_entries = "viele": must be a whole number'),
        ("every = 1", "unknown setting audit.every"),
    ],
)
def test_the_audit_settings_are_checked(setting: str, message: str) -> None:
    with pytest.raises(NodeError, match=message):
        parse_config(f'[node]\nname = "A"\nurl = "https://a.example"\n[audit]\n{setting}\n')


def test_the_audit_settings_parse() -> None:
    config = parse_config('[node]\nname = "A"\nurl = "https://a.example"\n[audit]\ncheckpoint_interval = 600\n')
    assert config.audit == AuditConfig(checkpoint_interval=600.0)
    assert parse_config(config.to_toml()).audit == config.audit
