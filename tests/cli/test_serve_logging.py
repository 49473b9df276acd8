"""`praevnet serve --log-format/--log-level` and [log]: a value that is not allowed stops serve at once, named."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.home import init_home
from tests.cli.conftest import invoke
from tests.e2e.helpers import configure


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh node home."""
    path = tmp_path / "home"
    init_home(path, name="Bonn", url="https://praevnet.bonn.example")
    return path


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("--log-format", "xml", "'auto', 'json', 'text'"),
        ("--log-format", "JSON ", "'auto', 'json', 'text'"),
        ("--log-level", "loud", "'debug', 'info', 'warning', 'error'"),
        ("--log-level", "", "'debug', 'info', 'warning', 'error'"),
    ],
)
def test_a_bad_log_option_is_refused_naming_the_value_and_what_is_allowed(
    home: Path, option: str, value: str, allowed: str
) -> None:
    result = invoke("serve", "--home", str(home), "--no-ui", option, value)
    assert result.exit_code == 2
    assert f"Invalid value for '{option}': {value!r} is not one of {allowed}" in result.output
    assert "serving" not in result.output


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"format": "xml"}, 'config: log.format = "xml": must be one of auto, json, text'),
        ({"level": "verbose"}, 'config: log.level = "verbose": must be one of debug, info, warning, error'),
    ],
)
def test_a_bad_log_setting_stops_serve_naming_key_value_and_what_is_allowed(
    home: Path, setting: dict[str, str], message: str
) -> None:
    configure(home, "log", **setting)
    result = invoke("serve", "--home", str(home), "--no-ui")
    assert result.exit_code == 1
    assert message in result.output
    assert "serving" not in result.output
