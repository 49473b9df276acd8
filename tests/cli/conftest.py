"""Fixtures for CLI tests: an in-process runner, node homes, and a peer node serving in a thread."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner, Result

from cli.main import main
from node.exchange.server import create_app
from node.home import Node, init_home
from tests.ports import Port, hold_port

PRAEVNET_VARIABLES = ("PRAEVNET_HOME", "PRAEVNET_DEBUG", "PRAEVNET_TOKEN")


def invoke(*args: str) -> Result:
    """Run `praevnet ARGS` in-process, without any PRAEVNET_* settings from the environment."""
    return CliRunner().invoke(main, list(args), env=dict.fromkeys(PRAEVNET_VARIABLES))


def ok(*args: str) -> Result:
    """Run `praevnet ARGS`, which must succeed."""
    result = invoke(*args)
    assert result.exit_code == 0, f"praevnet {' '.join(args)}: {result.output}\n{result.exc_info}"
    assert result.exception is None
    return result


def ok_json(*args: str) -> Any:
    """Run `praevnet ARGS --json`, which must succeed, and parse its standard output."""
    return json.loads(ok(*args, "--json").stdout)


def snapshot(home: Path) -> dict[str, Any]:
    """Everything a command could change in a home: file names, config and key bytes, and every row.

    SQLite's -wal and -shm files come and go with connections and are left out; their content is
    part of the database dump.
    """
    if not home.exists():
        return {"exists": False}
    state: dict[str, Any] = {
        "exists": True,
        "files": sorted(path.name for path in home.iterdir() if not path.name.endswith(("-wal", "-shm"))),
    }
    for name in ("praevnet.toml", "node.key"):
        if (home / name).exists():
            state[name] = (home / name).read_bytes()
    if (home / "praevnet.db").exists():
        with closing(sqlite3.connect(home / "praevnet.db")) as conn:
            state["db"] = list(conn.iterdump())
    return state


@pytest.fixture
def home_port() -> Port:
    """The loopback port in the URL of `home`, held for the test: nothing listens unless a test serves `home`."""
    return hold_port()


@pytest.fixture
def home(tmp_path: Path, home_port: Port) -> Path:
    """The home of a freshly initialised node, Stadt Augsburg."""
    path = tmp_path / "augsburg"
    ok("init", "--home", str(path), "--name", "Stadt Augsburg", "--url", home_port.url)
    return path


@contextmanager
def served_in_thread(node: Node, port: Port, name: str) -> Iterator[None]:
    """Serve `node` (without background work) on the held `port` from an event loop in a thread, for the block."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(node, background=False), access_log=None)
    started = threading.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, port.handover()).start())
        except BaseException as exc:
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    thread = threading.Thread(target=serve, name=name, daemon=True)
    thread.start()
    try:
        assert started.wait(10), f"{name}: the server did not start"
        assert not failure, failure
        yield
    finally:
        if thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
        loop.close()


@dataclass(frozen=True)
class ServingPeer:
    """Another city's node, serving its descriptor and federation endpoints from a background thread."""

    url: str
    node_id: str
    fingerprint: str
    name: str


@pytest.fixture
def serving_peer(tmp_path: Path) -> Iterator[ServingPeer]:
    """A real node (Stadt Bonn) whose aiohttp server runs in its own event loop in a thread."""
    port = hold_port()
    peer_home = tmp_path / "bonn"
    init_home(peer_home, name="Stadt Bonn", url=port.url)
    node = Node.open(peer_home)
    try:
        with served_in_thread(node, port, "serving-peer"):
            yield ServingPeer(
                url=node.config.url, node_id=node.node_id, fingerprint=node.fingerprint, name="Stadt Bonn"
            )
    finally:
        node.close()
