"""`praevnet init` chooses the port `serve` listens on: --port, else the port of a loopback --url, else 8470 — and
says which and why."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.cli.conftest import invoke, ok
from tests.e2e.helpers import run_cli
from tests.ports import hold_port


def server_port(home: Path) -> int:
    """The [server] port praevnet.toml holds."""
    port = tomllib.loads((home / "praevnet.toml").read_text(encoding="utf-8"))["server"]["port"]
    assert isinstance(port, int)
    return port


def init(home: Path, url: str, *more: str) -> str:
    """Run `praevnet init` for a new node at `url`; return what it printed."""
    return ok("init", "--home", str(home), "--name", "Stadt Neu", "--url", url, *more).output


def test_serve_listens_on_the_port_of_a_loopback_url_without_being_told(tmp_path: Path) -> None:
    port = hold_port()  # bound, not listening: `serve` cannot have it, and says so naming it
    home = tmp_path / "node"
    printed = init(home, port.url)
    assert server_port(home) == port.number
    assert f"serve listens on 127.0.0.1:{port.number}, the port of --url" in printed

    serve = run_cli("serve", "--home", str(home), "--no-ui", expect_ok=False)  # no --port: praevnet.toml says
    assert serve.returncode == 1, serve
    assert "127.0.0.1" in serve.stderr, serve  # it could not listen on the port of --url: held here
    assert str(port.number) in serve.stderr, serve


@pytest.mark.parametrize("url", ["http://localhost:9001", "http://[::1]:9001", "http://127.0.0.2:9001/praevnet"])
def test_every_loopback_host_counts(tmp_path: Path, url: str) -> None:
    init(tmp_path / "node", url)
    assert server_port(tmp_path / "node") == 9001


@pytest.mark.parametrize(
    "url",
    [
        "https://praevnet.augsburg.example",
        "https://praevnet.augsburg.example:8443",
        "http://127.0.0.1",
        "http://10.0.0.5:9001",
    ],
)
def test_behind_a_proxy_init_says_which_port_it_chose_and_how_to_change_it(tmp_path: Path, url: str) -> None:
    home = tmp_path / "node"
    printed = init(home, url)
    assert server_port(home) == 8470
    assert f"serve listens on 127.0.0.1:8470, the default: forward {url} to it from your reverse proxy" in printed
    assert f"[server] port in {home / 'praevnet.toml'}" in printed
    assert "serve --port" in printed


def test_port_chooses_the_port_whatever_the_url(tmp_path: Path) -> None:
    for name, url in (("loopback", "http://127.0.0.1:9001"), ("proxied", "https://praevnet.augsburg.example")):
        printed = init(tmp_path / name, url, "--port", "9100")
        assert server_port(tmp_path / name) == 9100
        assert "serve listens on 127.0.0.1:9100 (--port)" in printed


@pytest.mark.parametrize("port", ["0", "65536", "-1", "abc", "80.5", ""])
def test_a_bad_port_is_refused_and_nothing_is_created(tmp_path: Path, port: str) -> None:
    home = tmp_path / "node"
    result = invoke(
        "init", "--home", str(home), "--name", "Stadt Neu", "--url", "http://127.0.0.1:9001", "--port", port
    )
    assert result.exit_code == 2
    assert "--port" in result.output
    assert not home.exists()
