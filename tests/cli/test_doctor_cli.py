"""`praevnet doctor [--json]`: one line per check, and exit 1 only when a check FAILs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from sqlite_utils import Database

from node.home import CONFIG_FILE, DB_FILE, KEY_FILE, Node, init_home
from node.migrations import STEPS, migrate
from node.trust.peers import trust_descriptor
from tests.cli.conftest import invoke, served_in_thread
from tests.ports import hold_port


@contextmanager
def augsburg_and_bonn(tmp_path: Path, *, augsburg_serves: bool) -> Iterator[Path]:
    """Augsburg's home, paired with Bonn; Bonn serves (in a thread) while the block runs, and Augsburg too if
    `augsburg_serves`: else nothing listens at Augsburg's URL, as for a node that nobody can reach."""
    nodes = []
    for name in ("Augsburg", "Bonn"):
        port = hold_port()
        init_home(tmp_path / name, name=f"Stadt {name}", url=port.url)
        nodes.append((Node.open(tmp_path / name), port))
    (augsburg, augsburg_port), (bonn, bonn_port) = nodes
    trust_descriptor(augsburg, bonn.config.url, bonn.fingerprint, bonn.descriptor())
    trust_descriptor(bonn, augsburg.config.url, augsburg.fingerprint, augsburg.descriptor())
    try:
        with ExitStack() as serving:
            if augsburg_serves:
                serving.enter_context(served_in_thread(augsburg, augsburg_port, "augsburg"))
            serving.enter_context(served_in_thread(bonn, bonn_port, "bonn"))
            yield augsburg.home
    finally:
        augsburg.close()
        bonn.close()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """Augsburg's home; Augsburg and its peer Bonn serve (each in a thread) while the test runs."""
    with augsburg_and_bonn(tmp_path, augsburg_serves=True) as home:
        yield home


@pytest.fixture
def unreached(tmp_path: Path) -> Iterator[Path]:
    """Augsburg's home, paired with Bonn, which serves; nobody can reach Augsburg at its URL."""
    with augsburg_and_bonn(tmp_path, augsburg_serves=False) as home:
        yield home


def set_pull_only(home: Path) -> None:
    """`[node] pull_only = true` in the home's praevnet.toml, written as its operator would."""
    path = home / CONFIG_FILE
    text = path.read_text(encoding="utf-8")
    assert "pull_only = false\n" in text  # `praevnet init` writes every setting, this one false
    path.write_text(text.replace("pull_only = false\n", "pull_only = true\n"), encoding="utf-8")


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


def test_a_pull_only_node_that_nobody_reaches_is_all_ok_and_exits_0(unreached: Path) -> None:
    set_pull_only(unreached)
    result = invoke("doctor", "--home", str(unreached))
    assert result.exit_code == 0, result.output
    [own] = [line for line in result.output.splitlines() if line.startswith("OK    own url: ")]
    assert "this node is pull-only ([node] pull_only = true in its configuration)" in own
    assert "is not checked; tell its peers to add it with --pull-only" in own
    assert "OK    peer Stadt Bonn: reachable; accepts this node's signed requests" in result.output.splitlines()
    report = json.loads(invoke("doctor", "--home", str(unreached), "--json").output)
    assert report["ok"] is True
    assert report["counts"]["FAIL"] == 0
    [own_check] = [check for check in report["checks"] if check["check"] == "own url"]
    assert own_check["status"] == "OK"
    assert "pull-only" in own_check["message"]


def test_pull_only_from_the_environment_counts_too(unreached: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRAEVNET_NODE__PULL_ONLY", "true")
    result = invoke("doctor", "--home", str(unreached), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    [own_check] = [check for check in report["checks"] if check["check"] == "own url"]
    assert "is pull-only" in own_check["message"]


def test_a_node_that_nobody_reaches_fails_and_is_told_of_pull_only(unreached: Path) -> None:
    result = invoke("doctor", "--home", str(unreached))
    assert result.exit_code == 1
    [own] = [line for line in result.output.splitlines() if line.startswith("FAIL  own url: ")]
    assert "connection refused" in own
    assert own.endswith("set [node] pull_only = true and have its peers add it with --pull-only")
    assert result.output.splitlines()[-1].endswith(" WARN, 1 FAIL")


@pytest.mark.parametrize("value", ["vielleicht", "3"])
def test_a_pull_only_that_is_no_boolean_fails_the_configuration_check(
    unreached: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PRAEVNET_NODE__PULL_ONLY", value)
    result = invoke("doctor", "--home", str(unreached))
    assert result.exit_code == 1
    assert (
        f'FAIL  config: config: node.pull_only = "{value}" (from PRAEVNET_NODE__PULL_ONLY): must be true or false'
        in result.output
    )
