"""`praevnet config show` and `config check`, and `serve` refusing a setting that is not allowed."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import CliRunner, Result

from cli.main import main
from node.config import defaults
from node.home import init_home
from tests.cli.conftest import PRAEVNET_VARIABLES, snapshot
from tests.e2e.helpers import CLI_TIMEOUT, PRAEVNET, cli_env

URL = "https://praevnet.bonn.example"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh node home whose file holds [node] and one other setting; the rest are defaults."""
    path = tmp_path / "home"
    init_home(path, name="Bonn", url=URL)
    (path / "praevnet.toml").write_text(f'[node]\nname = "Bonn"\nurl = "{URL}"\n', encoding="utf-8")
    edit(path, "alerts", retention_days=10)
    return path


def edit(home: Path, section: str, **values: Any) -> None:
    """Change settings of one section of the node's praevnet.toml."""
    path = home / "praevnet.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    config.setdefault(section, {}).update(values)
    path.write_text(tomli_w.dumps(config), encoding="utf-8")


def run(home: Path, *args: str, **environ: str) -> Result:
    """`praevnet ARGS --home HOME` in-process, with exactly the PRAEVNET_ variables given."""
    env: dict[str, str | None] = dict.fromkeys(PRAEVNET_VARIABLES)
    env.update(environ)
    return CliRunner().invoke(main, [*args, "--home", str(home)], env=env)


def test_show_names_every_setting_its_value_and_where_it_came_from(home: Path) -> None:
    result = run(home, "config", "show", PRAEVNET_DELIVERY__POLL_INTERVAL="5")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"# {home / 'praevnet.toml'} with the environment's PRAEVNET_SECTION__KEY variables"
    assert lines[1].split() == ["SETTING", "VALUE", "SOURCE"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert list(rows) == list(defaults())
    assert rows["node.url"] == [f'"{URL}"', "file"]
    assert rows["alerts.retention_days"] == ["10", "file"]
    assert rows["delivery.poll_interval"] == ["5.0", "env", "PRAEVNET_DELIVERY__POLL_INTERVAL"]
    assert rows["server.port"] == ["8470", "default"]
    assert rows["release.four_eyes"] == ["false", "default"]
    assert rows["node.pull_only"] == ["false", "default"]


def test_show_json(home: Path) -> None:
    result = run(home, "config", "show", "--json", PRAEVNET_UI__ENABLED="no")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["file"] == str(home / "praevnet.toml")
    settings = {item["name"]: item for item in report["settings"]}
    assert settings["ui.enabled"] == {
        "name": "ui.enabled",
        "value": False,
        "source": "env PRAEVNET_UI__ENABLED",
        "env": "PRAEVNET_UI__ENABLED",
        "secret": False,
    }
    assert settings["alerts.retention_days"]["source"] == "file"
    assert settings["delivery.pull_interval"] == {
        "name": "delivery.pull_interval",
        "value": 300.0,
        "source": "default",
        "env": "PRAEVNET_DELIVERY__PULL_INTERVAL",
        "secret": False,
    }


def test_check_says_ok_for_a_valid_configuration(home: Path) -> None:
    result = run(home, "config", "check", PRAEVNET_SERVER__PORT="9000", PRAEVNET_HOME="/elsewhere")
    assert (result.exit_code, result.output) == (0, "ok\n")


def test_check_names_every_problem_and_fails(home: Path) -> None:
    edit(home, "alerts", colour="blau")
    edit(home, "server", port=0)
    before = snapshot(home)
    result = run(home, "config", "check", PRAEVNET_DELIVERY__POLL_INTERVAL="-1", PRAEVNET_DELIVERY__POLL="1")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "config: unknown setting alerts.colour in [alerts]",
        "config: the environment variable PRAEVNET_DELIVERY__POLL names no setting; they are PRAEVNET_SECTION__KEY "
        "for a setting section.key of praevnet.toml (see `praevnet config show`)",
        "config: server.port = 0: must be a whole number from 1 to 65535",
        "config: delivery.poll_interval = -1 (from PRAEVNET_DELIVERY__POLL_INTERVAL): must be a number from 0.01 "
        "to 3600 seconds",
    ]
    assert "the configuration is not valid: 4 problem(s)" in result.stderr
    assert snapshot(home) == before


@pytest.mark.parametrize(
    ("file", "environ", "problem"),
    [
        ("vielleicht", {}, 'config: node.pull_only = "vielleicht": must be true or false'),
        (3, {}, "config: node.pull_only = 3: must be true or false"),
        (
            True,
            {"PRAEVNET_NODE__PULL_ONLY": "vielleicht"},
            'config: node.pull_only = "vielleicht" (from PRAEVNET_NODE__PULL_ONLY): must be true or false',
        ),
    ],
)
def test_check_refuses_a_pull_only_that_is_neither_true_nor_false(
    home: Path, file: object, environ: dict[str, str], problem: str
) -> None:
    edit(home, "node", pull_only=file)
    result = run(home, "config", "check", **environ)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [problem]


def test_show_refuses_an_invalid_configuration_with_its_problems(home: Path) -> None:
    result = run(home, "config", "show", PRAEVNET_SERVER__PORT="http")
    assert result.exit_code == 1
    assert 'config: server.port = "http" (from PRAEVNET_SERVER__PORT): must be a whole number' in result.output
    assert "SETTING" not in result.output


@pytest.mark.parametrize("command", ["show", "check"])
def test_a_home_without_a_node_is_named(tmp_path: Path, command: str) -> None:
    result = run(tmp_path / "nothing", "config", command)
    assert result.exit_code == 1
    assert f"no praevnet.toml in {tmp_path / 'nothing'}" in result.output
    assert not (tmp_path / "nothing").exists()


def test_a_file_that_is_no_toml_is_named(home: Path) -> None:
    (home / "praevnet.toml").write_text("[node\n", encoding="utf-8")
    result = run(home, "config", "check")
    assert result.exit_code == 1
    assert "config: praevnet.toml is not valid TOML" in result.output


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PRAEVNET_SERVER__PORT", "0", "config: server.port = 0 (from PRAEVNET_SERVER__PORT): must be a whole number"),
        ("PRAEVNET_UI__IDLE_TIMEOUT", "soon", 'config: ui.idle_timeout = "soon" (from PRAEVNET_UI__IDLE_TIMEOUT)'),
        ("PRAEVNET_SERVE__PORT", "9000", "config: the environment variable PRAEVNET_SERVE__PORT names no setting"),
    ],
)
def test_serve_stops_at_once_on_a_setting_that_is_not_allowed(
    home: Path, variable: str, value: str, message: str
) -> None:
    """The real `praevnet serve`: it exits before anything says "serving", naming the setting."""
    proc = subprocess.run(
        [PRAEVNET, "serve", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        env={**cli_env(), variable: value},
        check=False,
    )
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "serving" not in proc.stdout + proc.stderr
