"""Issue 13: `praevnet serve --admin-listen HOST:PORT` / `--no-admin`: its own port, checked before it serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.admin import admin_address
from node.home import Node, init_home
from tests.cli.conftest import invoke, ok
from tests.e2e.helpers import configure, run_cli
from tests.ports import hold_port


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh node home."""
    path = tmp_path / "home"
    init_home(path, name="Bonn", url="https://praevnet.bonn.example")
    return path


def test_serve_names_both_options_in_its_help() -> None:
    text = ok("serve", "--help").output
    assert "--admin-listen HOST:PORT" in text
    assert "--no-admin" in text


@pytest.mark.parametrize("listen", ["8472", "127.0.0.1:", ":8472", "127.0.0.1:99999", "127.0.0.1:http", "[::1]"])
def test_a_malformed_admin_address_is_refused_by_name(home: Path, listen: str) -> None:
    result = invoke("serve", "--home", str(home), "--no-ui", "--admin-listen", listen)
    assert result.exit_code == 2
    assert f"--admin-listen must be host:port, e.g. 127.0.0.1:8472, not {listen!r}" in result.output


def test_the_admin_address_may_not_be_the_federation_port(home: Path) -> None:
    result = invoke("serve", "--home", str(home), "--port", "18470", "--no-ui", "--admin-listen", "127.0.0.1:18470")
    assert result.exit_code == 2
    assert "the admin address cannot listen on the federation port 18470" in result.output


def test_the_admin_address_may_not_be_the_web_interfaces_port(home: Path) -> None:
    result = invoke(
        "serve",
        "--home",
        str(home),
        "--port",
        "18470",
        "--ui-listen",
        "127.0.0.1:18471",
        "--admin-listen",
        "[::1]:18471",
    )
    assert result.exit_code == 2
    assert "the admin address cannot listen on the web interface's port 18471" in result.output


@pytest.mark.e2e
def test_a_taken_admin_port_is_reported_before_the_node_says_it_serves(home: Path) -> None:
    federation, taken = hold_port(), hold_port()  # `taken` stays bound here: nobody else can listen on it
    federation.handover()  # bound here but not listening: serve binds beside it
    args = ["--port", str(federation.number), "--no-ui", "--admin-listen", f"127.0.0.1:{taken.number}"]
    result = run_cli("serve", "--home", str(home), *args, expect_ok=False)
    assert result.returncode == 1
    assert f"the admin address cannot listen on 127.0.0.1:{taken.number}" in result.stderr
    assert "serving" not in result.stdout + result.stderr


def test_no_admin_or_admin_disabled_leaves_the_admin_address_off(home: Path) -> None:
    configure(home, "admin", listen="127.0.0.1:18472")
    node = Node.open(home)
    try:
        assert admin_address(node, None, off=False) == ("127.0.0.1", 18472)
        assert admin_address(node, "[::1]:18473", off=False) == ("::1", 18473)
        assert admin_address(node, None, off=True) is None  # --no-admin
    finally:
        node.close()
    configure(home, "admin", enabled=False)
    node = Node.open(home)
    try:
        assert admin_address(node, None, off=False) is None
        assert admin_address(node, "127.0.0.1:18474", off=False) == ("127.0.0.1", 18474)  # asked for by name
    finally:
        node.close()
