"""The commands deploy/compose.yaml runs, run here as local processes: CI proves them where Docker is absent.

Each node service of compose.yaml starts through `compose_setup.py node --name N --url U -- praevnet
serve`; here the same `node` step initialises each home (with the node's URL on a loopback port
instead of http://SERVICE:8470), real `praevnet serve` processes serve them, and the federate
service's own arguments (its /homes/SERVICE paths mapped to the test's homes) federate them. Then
Augsburg shares a record with the network and every other city receives it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.compose_file import SETUP_SCRIPT, NodeService, federate_args, node_services
from tests.e2e.helpers import CLI_TIMEOUT, ServedNode, cli_env, cli_json, shut_down, wait_for
from tests.ports import hold_port

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "deploy" / "examples" / "record.json"


def setup(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `compose_setup.py ARGS` with the venv's praevnet first on PATH (and PRAEVNET_HOME=`home`, if given)."""
    env = cli_env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if home is not None:
        env["PRAEVNET_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, str(SETUP_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=4 * CLI_TIMEOUT,
        env=env,
        check=False,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """`proc`, which must have exited 0."""
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc


def local_federate_args(tmp_path: Path) -> list[str]:
    """The federate service's arguments with each /homes/SERVICE replaced by the test's home of that service."""
    args = federate_args()
    for service in node_services():
        args = [arg.replace(f"/homes/{service.service}", str(tmp_path / service.service)) for arg in args]
    return args


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[dict[str, ServedNode]]:
    """The compose file's nodes, each initialised by the `node` step of its service; not serving yet."""
    made: dict[str, ServedNode] = {}
    try:
        for service in node_services():
            node = ServedNode(name=service.name, home=tmp_path / service.service, held=hold_port())
            made[service.service] = node
            ok(setup("node", "--name", service.name, "--url", node.url, home=node.home))
            node.identity = cli_json("id", "--home", str(node.home))
        yield made
    finally:
        shut_down(made.values())


def serve(nodes: dict[str, ServedNode], services: list[NodeService]) -> None:
    """Start every node as its service's command would (praevnet serve), on its loopback port."""
    for service in services:
        assert service.then[:2] == ["praevnet", "serve"]
        nodes[service.service].launch()
    for service in services:
        nodes[service.service].wait_ready()


def holds(node: ServedNode, title: str) -> bool:
    """Whether a record titled `title` is in the node's inbox."""
    items: list[dict[str, Any]] = cli_json("inbox", "list", "--home", str(node.home))
    return title in {str(item.get("content", {}).get("title")) for item in items}


@pytest.mark.e2e
def test_the_compose_commands_set_up_three_cities_and_an_operator_that_exchange(
    nodes: dict[str, ServedNode], tmp_path: Path
) -> None:
    services = node_services()
    serve(nodes, services)
    first = ok(setup("federate", *local_federate_args(tmp_path)))
    assert "CODE" in first.stderr
    for code_prefix in ("pvinv1.", "pvnet1."):
        assert code_prefix not in first.stderr + first.stdout, "codes are secrets: never printed"

    operator, augsburg, bonn, chemnitz = (nodes[name] for name in ("operator", "augsburg", "bonn", "chemnitz"))
    members = cli_json("network", "members", "--home", str(operator.home))
    listed = {member["node_id"] for member in members["members"]}
    assert listed == {node.node_id for node in nodes.values()}
    for city in (augsburg, bonn, chemnitz):
        assert [item["name"] for item in cli_json("network", "list", "--home", str(city.home))] == ["DEFUS"]
    paired = [peer for peer in cli_json("peers", "list", "--home", str(bonn.home)) if peer["network"] is None]
    assert [peer["node_id"] for peer in paired] == [augsburg.node_id], "Augsburg and Bonn paired by invitation"

    again = ok(setup("federate", *local_federate_args(tmp_path)))
    assert "already" in again.stderr
    assert len(cli_json("invite", "list", "--home", str(augsburg.home))) == 1, "no second invitation"
    assert cli_json("network", "members", "--home", str(operator.home)) == members

    added = cli_json("records", "add", str(RECORD), "--home", str(augsburg.home))
    cli_json("records", "share", str(added["id"]), "--network", "DEFUS", "--home", str(augsburg.home))
    title = json.loads(RECORD.read_text(encoding="utf-8"))["title"]
    for city in (bonn, chemnitz):
        wait_for(partial(holds, city, title), 30, f"{city.name} to receive Augsburg's record")
    for node in nodes.values():
        node.assert_clean_log()


@pytest.mark.e2e
def test_node_initialises_once_then_runs_the_services_command(tmp_path: Path) -> None:
    home = tmp_path / "augsburg"
    first = ok(
        setup(
            "node",
            "--name",
            "Stadt Augsburg",
            "--url",
            "http://augsburg:8470",
            "--",
            "praevnet",
            "id",
            "--json",
            home=home,
        )
    )
    assert json.loads(first.stdout)["url"] == "http://augsburg:8470", "initialised, then the command ran in the home"
    before = {path: path.read_bytes() for path in home.rglob("*") if path.is_file()}
    again = ok(
        setup(
            "node", "--name", "Andere Stadt", "--url", "http://127.0.0.1:1", "--", "praevnet", "id", "--json", home=home
        )
    )
    assert "holds a node already" in again.stderr
    assert json.loads(again.stdout) == json.loads(first.stdout)
    assert {path: path.read_bytes() for path in home.rglob("*") if path.is_file()} == before


@pytest.mark.e2e
def test_federate_waits_for_every_node_and_changes_nothing_when_one_does_not_answer(
    nodes: dict[str, ServedNode], tmp_path: Path
) -> None:
    services = [service for service in node_services() if service.service != "chemnitz"]
    serve(nodes, services)
    proc = setup("federate", *local_federate_args(tmp_path), "--wait=1")
    assert proc.returncode == 1
    assert f"no answer within 1 s from Stadt Chemnitz at {nodes['chemnitz'].url}; nothing was changed" in proc.stderr
    assert cli_json("network", "list", "--home", str(nodes["operator"].home)) == []
    assert cli_json("peers", "list", "--home", str(nodes["bonn"].home)) == []


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pair=/a"], "is not INVITER_HOME:INVITEE_HOME"),
        (["--pair=/a:/a"], "is not INVITER_HOME:INVITEE_HOME"),
        (["--wait=soon"], "invalid float value"),
        ([], "the following arguments are required: --operator, --network"),
    ],
)
def test_federate_refuses_malformed_arguments(args: list[str], message: str, tmp_path: Path) -> None:
    required = [f"--operator={tmp_path}", "--network=DEFUS"] if args else []
    proc = setup("federate", *required, *args)
    assert proc.returncode == 2
    assert message in proc.stderr


@pytest.mark.e2e
def test_federate_names_a_home_that_holds_no_node(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = setup("federate", f"--operator={empty}", "--network=DEFUS")
    assert proc.returncode == 1
    assert f"praevnet id --home {empty} --json failed" in proc.stderr
    assert list(empty.iterdir()) == []


@pytest.mark.e2e
def test_node_with_a_bad_url_initialises_nothing(tmp_path: Path) -> None:
    home = tmp_path / "node"
    proc = setup("node", "--name", "Stadt X", "--url", "ftp://example", "--", "praevnet", "serve", home=home)
    assert proc.returncode == 1
    assert "praevnet init" in proc.stderr
    assert not (home / "praevnet.toml").exists()
