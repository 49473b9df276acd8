"""`praevnet serve` and the web interface: its own address, never the federation port; `id` names it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from node.home import init_home
from tests.cli.conftest import invoke, ok


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh node home."""
    path = tmp_path / "home"
    init_home(path, name="Bonn", url="https://praevnet.bonn.example")
    return path


def set_ui(home: Path, **values: Any) -> None:
    """Change settings in the [ui] section of the node's praevnet.toml."""
    path = home / "praevnet.toml"
    config = tomllib.loads(path.read_text())
    config.setdefault("ui", {}).update(values)
    path.write_text(tomli_w.dumps(config))


def test_the_ui_may_not_listen_on_the_federation_port(home: Path) -> None:
    result = invoke("serve", "--home", str(home), "--port", "18470", "--ui-listen", "127.0.0.1:18470")
    assert result.exit_code == 2
    assert "cannot listen on the federation port 18470" in result.output


@pytest.mark.parametrize("listen", ["8471", "127.0.0.1:", ":8471", "127.0.0.1:99999", "127.0.0.1:http"])
def test_a_malformed_ui_address_is_refused_by_name(home: Path, listen: str) -> None:
    result = invoke("serve", "--home", str(home), "--ui-listen", listen)
    assert result.exit_code == 2
    assert "--ui-listen must be host:port" in result.output


def test_id_shows_where_the_officers_open_the_ui(home: Path) -> None:
    assert json.loads(ok("id", "--home", str(home), "--json").output)["ui_url"] == "http://127.0.0.1:8471/"
    set_ui(home, url="https://praevnet-intern.bonn.example")
    assert json.loads(ok("id", "--home", str(home), "--json").output)["ui_url"] == (
        "https://praevnet-intern.bonn.example"
    )
    assert "ui_url:" in ok("id", "--home", str(home)).output


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"listen": "localhost"}, 'ui.listen = "localhost": must be host:port'),
        ({"idle_timeout": 5.0}, "ui.idle_timeout = 5.0: must be a number from 60 to 86400 seconds"),
        ({"login_attempts": 0}, "ui.login_attempts = 0: must be a whole number from 1 to 1000"),
        ({"login_window": 0.0}, "ui.login_window = 0.0: must be a number from 1 to 86400"),
        ({"url": "ftp://x"}, "ui.url"),
        ({"enabled": "yes"}, 'ui.enabled = "yes": must be true or false'),
        ({"colour": 1}, "unknown setting ui.colour in [ui]"),
    ],
)
def test_a_bad_ui_setting_stops_the_node_naming_it(home: Path, setting: dict[str, Any], named: str) -> None:
    set_ui(home, **setting)
    result = invoke("id", "--home", str(home))
    assert result.exit_code != 0
    assert named in result.output
