"""`praevnet doctor [--json]`: one line per check, and exit 1 only when a check FAILs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from node.home import DB_FILE, KEY_FILE, Node, init_home
from node.migrations import STEPS, migrate
from node.trust.peers import trust_descriptor
from tests.cli.conftest import invoke, served_in_thread
from tests.ports import hold_port


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """Augsburg's home; Augsburg and its peer Bonn serve (each in a thread) while the test runs."""
    nodes = []
    for name in ("Augsburg", "Bonn"):
        port = hold_port()
        init_home(tmp_path / name, name=f"Stadt {name}", url=port.url)
        nodes.append((Node.open(tmp_path / name), port))
    (augsburg, augsburg_port), (bonn, bonn_port) = nodes
    trust_descriptor(augsburg, bonn.config.url, bonn.fingerprint, bonn.descriptor())
    trust_descriptor(bonn, augsburg.config.url, augsburg.fingerprint, augsburg.descriptor())
    try:
        with served_in_thread(augsburg, augsburg_port, "augsburg"), served_in_thread(bonn, bonn_port, "bonn"):
            yield augsburg.home
    finally:
        augsburg.close()
        bonn.close()


def test_a_healthy_node_is_all_ok_and_exits_0(home: Path) -> None:
    result = invoke("doctor", "--home", str(home))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(line.startswith("OK    ") for line in lines[:-1]), result.output
    assert "OK    peer Stadt Bonn: reachable; accepts this node's signed requests" in lines
    assert lines[-1] == f"{len(lines) - 1} OK, 0 WARN, 0 FAIL"


def test_json(home: Path) -> None:
    result = invoke("doctor", "--home", str(home), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert report["counts"] == {"OK": len(report["checks"]), "WARN": 0, "FAIL": 0}
    assert {"check": "integrity", "status": "OK", "message": "PRAGMA integrity_check: ok", "advice": ""} in report[
        "checks"
    ]


def test_a_failure_exits_1_with_what_to_do(home: Path) -> None:
    (home / KEY_FILE).chmod(0o640)
    result = invoke("doctor", "--home", str(home))
    assert result.exit_code == 1
    [line] = [line for line in result.output.splitlines() if line.startswith("FAIL  modes: ")]
    assert f"{home / KEY_FILE} is readable by others (mode 640, needs 600)" in line
    assert line.endswith(
        f" -> run `chmod -R go= {home}` as the account that runs the node; until then the node refuses to start"
    )
    report = json.loads(invoke("doctor", "--home", str(home), "--json").output)
    assert report["ok"] is False
    assert report["counts"]["FAIL"] == 1


def test_warnings_alone_exit_0(home: Path) -> None:
    older = home / "older.db"
    migrate(Database(older), STEPS[:-1])
    (home / DB_FILE).unlink()
    older.rename(home / DB_FILE)
    (home / DB_FILE).chmod(0o600)
    result = invoke("doctor", "--home", str(home))
    assert result.exit_code == 0, result.output
    assert "WARN  schema: " in result.output
    assert result.output.splitlines()[-1].endswith(" WARN, 0 FAIL")


def test_a_directory_without_a_node(tmp_path: Path) -> None:
    result = invoke("doctor", "--home", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        f"FAIL  home: no praevnet node in {tmp_path} -> run `praevnet init --home {tmp_path} ...`, or name the "
        "node's home with --home"
    )
