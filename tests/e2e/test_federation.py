"""End to end: three real `praevnet serve` processes, driven only through the CLI.

A and B pair with each other; C knows A but nobody knows C. A shares a record and sends an alert
to B; B receives both, verified, without A's internal notes; C can pull nothing. Then B goes down
and catches up after a restart, and finally A stops trusting B.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from protocol.records import case_band
from tests.e2e.helpers import ServedNode, cli_json, run_cli, run_parallel, wait_for

ServeNodes = Callable[..., list[ServedNode]]


def record_input(marker: str, title: str) -> dict[str, Any]:
    """An experience record as an officer would write it, with a local note carrying `marker`."""
    return {
        "title": title,
        "summary": "Anwohner, Polizei und Ordnungsamt begehen das Quartier gemeinsam; Angsträume werden beseitigt.",
        "problem": "Beschwerden über dunkle Wege und Belästigungen am Bahnhofsvorplatz.",
        "target_groups": ["Anwohnerinnen und Anwohner", "Pendler"],
        "implementation": {"duration": "18 Monate", "partners": ["Polizeiinspektion Mitte", "Stadtwerke"]},
        "evaluation": {"kind": "process", "result": "Befragung: deutlich höheres Sicherheitsgefühl."},
        "evidence_level": "probable",
        "topics": ["öffentlicher Raum"],
        "contact": {"mailbox": "praevention@stadt-a.example"},
        "internal_notes": f"{marker} Kollegin im Jugendamt ist bis Dezember nicht erreichbar.",
    }


def alert_input(marker: str, headline: str) -> dict[str, Any]:
    """An alert expiring in a week, with a local note carrying `marker`."""
    expires = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "headline": headline,
        "area": {"name": "Innenstadt", "ars": "091610000000"},
        "expires": expires,
        "description": "Täter lenken am Geldautomaten ab und greifen die Karte.",
        "urgency": "Expected",
        "severity": "Moderate",
        "certainty": "Observed",
        "trend": "rising",
        "case_count": 7,
        "internal_notes": f"{marker} Quelle: vertrauliches Gespräch, nicht zitieren.",
    }


def write_json(path: Path, data: Any) -> Path:
    """Write `data` as a JSON file and return its path."""
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def without_local(content: dict[str, Any]) -> dict[str, Any]:
    """The content as it may leave the node: without local notes, and an exact case count only as its band."""
    shared = {key: value for key, value in content.items() if key not in ("internal_notes", "case_count")}
    if "case_count" in content:
        shared["case_band"] = case_band(content["case_count"])
    return shared


def add_record(node: ServedNode, path: Path) -> str:
    """`praevnet records add PATH --json` on a node; returns the new record's id."""
    return str(cli_json("records", "add", str(path), "--home", str(node.home))["id"])


def inbox(node: ServedNode) -> list[dict[str, Any]]:
    """`praevnet inbox list --json` for a node."""
    items = cli_json("inbox", "list", "--home", str(node.home))
    assert isinstance(items, list)
    return items


def inbox_with(node: ServedNode, *ids: str) -> dict[str, dict[str, Any]] | None:
    """The node's inbox by record id if every one of `ids` is in it, else None."""
    by_id = {item["id"]: item for item in inbox(node)}
    return by_id if set(ids) <= set(by_id) else None


def pair(a: ServedNode, b: ServedNode) -> None:
    """Make `a` and `b` trust each other, each after checking the other's fingerprint."""
    run_parallel(
        ["peers", "add", b.url, "--fingerprint", b.fingerprint, "--home", str(a.home)],
        ["peers", "add", a.url, "--fingerprint", a.fingerprint, "--home", str(b.home)],
    )


def raw_inbox_envelopes(node: ServedNode) -> list[dict[str, Any]]:
    """The envelopes exactly as the node stored them."""
    with closing(sqlite3.connect(node.home / "praevnet.db", timeout=30)) as conn:
        return [json.loads(text) for (text,) in conn.execute("SELECT envelope FROM inbox")]


def assert_failed_sync(node: ServedNode, peer: ServedNode) -> None:
    """`praevnet sync` on `node` must fail for `peer` with a 401 that says the key is not trusted."""
    proc = run_cli("sync", "--home", str(node.home), "--json", expect_ok=False)
    assert proc.returncode != 0, proc.stdout
    reports = json.loads(proc.stdout)
    failed = {report["peer"]: report["error"] for report in reports if "error" in report}
    assert peer.node_id in failed, reports
    assert "HTTP 401" in failed[peer.node_id], failed
    # the peer does not hold our key: we are not (or no longer) trusted
    assert any(words in failed[peer.node_id] for words in ("unknown key id", "not trusted", "not a trusted")), failed


@pytest.mark.e2e
def test_shared_record_and_alert_reach_only_the_named_peer_without_local_notes(
    serve_nodes: ServeNodes, tmp_path: Path
) -> None:
    a, b, c = serve_nodes("Stadt A", "Stadt B", "Stadt C", proxied=("Stadt B",))
    assert b.proxy is not None  # everything sent to B passes through it
    pair(a, b)
    run_cli("peers", "add", a.url, "--fingerprint", a.fingerprint, "--home", str(c.home))
    assert [peer["node_id"] for peer in cli_json("peers", "list", "--home", str(a.home))] == [b.node_id]
    assert [peer["node_id"] for peer in cli_json("peers", "list", "--home", str(c.home))] == [a.node_id]

    token = uuid.uuid4().hex
    record_marker, alert_marker = f"LOCAL-RECORD-{token}", f"LOCAL-ALERT-{token}"
    record_title, alert_headline = f"Quartiersbegehungen {token}", f"Trickdiebstahl {token}"
    record = record_input(record_marker, record_title)
    alert = alert_input(alert_marker, alert_headline)

    record_id = add_record(a, write_json(tmp_path / "record.json", record))
    shared = run_cli("records", "share", record_id, "--to", b.node_id, "--home", str(a.home))
    assert b.node_id in shared.stdout
    sent = cli_json(
        "alerts", "send", str(write_json(tmp_path / "alert.json", alert)), "--to", b.node_id, "--home", str(a.home)
    )
    assert sent["recipients"] == [b.node_id]
    alert_id = sent["id"]

    # B's only pull ran at start, before pairing: whatever arrives now was pushed by A.
    received = wait_for(lambda: inbox_with(b, record_id, alert_id), 10, "the record and the alert to reach B")
    assert len(received) == 2
    for item_id, kind, content in ((record_id, "experience", record), (alert_id, "alert", alert)):
        item = received[item_id]
        assert item["verified"] is True, item
        assert item["problem"] is None
        assert item["kind"] == kind
        assert item["origin"] == a.node_id
        assert item["origin_name"] == "Stadt A"
        assert item["content"] == without_local(content)

    # A stranger cannot pull, and nothing reached it.
    assert_failed_sync(c, a)
    human = run_cli("sync", "--home", str(c.home), expect_ok=False)
    assert human.returncode == 1
    assert "Stadt A: failed:" in human.stdout
    assert "401" in human.stdout
    assert inbox(c) == []

    # What B stored: not a byte of A's local notes; what A stored: both (so this check can fail).
    envelopes = raw_inbox_envelopes(b)
    assert sorted(envelope["id"] for envelope in envelopes) == sorted([record_id, alert_id])
    for envelope in envelopes:
        assert "internal_notes" not in envelope["content"]
        assert "internal_notes" not in json.dumps(envelope)
    at_b, at_a, at_c = b.stored_bytes(), a.stored_bytes(), c.stored_bytes()
    for marker in (record_marker, alert_marker):
        assert marker.encode() not in at_b
        assert marker.encode() not in at_c
        assert marker.encode() in at_a
    assert record_title.encode() in at_b  # the shared part did get stored in the files we searched
    assert alert_headline.encode() in at_b
    assert record_title.encode() not in at_c

    # What actually went over the wire to B: the shared parts, and not a byte of the local notes.
    wire = b.proxy.received()
    assert b"PUT /fed/v1/inbox/" in wire
    assert record_title.encode() in wire
    assert alert_headline.encode() in wire
    for marker in (record_marker, alert_marker):
        assert marker.encode() not in wire
    assert b"internal_notes" not in wire

    for node in (a, b, c):
        node.assert_clean_log()


@pytest.mark.e2e
def test_down_peer_catches_up_after_restart_and_removed_peer_is_refused(
    serve_nodes: ServeNodes, tmp_path: Path
) -> None:
    a, b = serve_nodes("Stadt A", "Stadt B")
    pair(a, b)

    assert b.stop() == 0, b.log_text()
    token = uuid.uuid4().hex
    record = record_input(f"LOCAL-{token}", f"Während B ruhte {token}")
    record_id = add_record(a, write_json(tmp_path / "record.json", record))
    run_cli("records", "share", record_id, "--to", b.node_id, "--home", str(a.home))
    assert cli_json("records", "show", record_id, "--home", str(a.home))["shared_with"] == [b.node_id]

    b.launch()
    b.wait_ready()
    received = wait_for(lambda: inbox_with(b, record_id), 15, "B to catch up after its restart")
    item = received[record_id]
    assert item["verified"] is True
    assert item["origin"] == a.node_id
    assert item["content"] == without_local(record)

    # A stops trusting B: from now on A refuses B's requests.
    removed = run_cli("peers", "remove", b.node_id, "--home", str(a.home))
    assert b.node_id in removed.stdout
    assert cli_json("peers", "list", "--home", str(a.home)) == []
    assert_failed_sync(b, a)
    a.assert_clean_log()
    b.assert_clean_log()
