"""`praevnet serve` started as a systemd socket unit starts it: on a socket bound and held by someone else."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import run_cli, start_activated, wait_for
from tests.ports import Port, hold_port


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "augsburg"


@pytest.fixture
def port(home: Path) -> Port:
    """The port in the URL of a node initialised in `home`, held by the test as systemd holds a praevnet.socket."""
    held = hold_port()
    run_cli("init", "--home", str(home), "--name", "Stadt Augsburg", "--url", held.url)
    return held


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The serve processes a test starts, killed when it ends."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def serve(home: Path, fd: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return start_activated(fd, ["serve", "--home", str(home), "--no-ui", "--no-admin", *extra], sink)


REQUEST = b"GET /.well-known/praevnet HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\n"


def answered(port: Port) -> bytes | None:
    """The status line of the descriptor on `port`, or None while it refuses connections (not listening yet)."""
    try:
        with socket.create_connection(("127.0.0.1", port.number), timeout=30) as client:
            client.sendall(REQUEST)
            return client.makefile("rb").readline()
    except ConnectionRefusedError:
        return None


@pytest.mark.e2e
def test_serve_listens_on_the_passed_socket_and_a_connection_during_a_restart_waits_for_it(
    home: Path, port: Port, started: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    fd = port.handover().fileno()
    started.append(serve(home, fd, log))
    assert wait_for(lambda: answered(port), 20, "serve to answer on the passed socket") == OK
    assert f"on 127.0.0.1:{port.number} (socket passed by the service manager)" in log.read_text()

    started[0].kill()
    started[0].wait(timeout=10)
    # The socket outlives the process, as with systemd: a request sent now waits in its queue.
    with socket.create_connection(("127.0.0.1", port.number), timeout=30) as client:
        client.sendall(REQUEST)
        started.append(serve(home, fd, log))
        assert client.makefile("rb").readline() == OK


@pytest.mark.e2e
def test_serve_refuses_host_and_port_beside_a_passed_socket(
    home: Path, port: Port, started: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    started.append(serve(home, port.handover().fileno(), log, "--port", "8470"))
    assert started[0].wait(timeout=30) == 2
    assert "--host and --port do not apply" in log.read_text()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("kind", "problem"), [("file", "is no socket"), ("datagram", "is no stream socket (SOCK_DGRAM)")]
)
def test_serve_refuses_a_passed_descriptor_it_cannot_listen_on(
    home: Path, port: Port, started: list[subprocess.Popen[bytes]], tmp_path: Path, kind: str, problem: str
) -> None:
    log = tmp_path / "serve.log"
    if kind == "file":
        with (tmp_path / "not-a-socket").open("wb") as passed:
            started.append(serve(home, passed.fileno(), log))
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as passed:
            passed.bind(("127.0.0.1", 0))
            started.append(serve(home, passed.fileno(), log))
    assert started[0].wait(timeout=30) == 1
    assert problem in log.read_text()
