"""Helpers for end-to-end tests: running the installed `praevnet` console script and serving nodes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

PRAEVNET = str(Path(sys.executable).parent / "praevnet")
CLI_TIMEOUT = 60.0
T = TypeVar("T")


def cli_env() -> dict[str, str]:
    """The environment for child processes: ours, minus anything that changes where or how praevnet runs."""
    env = dict(os.environ)
    for name in [name for name in env if name.startswith("PRAEVNET_")]:
        env.pop(name)
    return env


def _describe(args: Sequence[str], proc: subprocess.CompletedProcess[str]) -> str:
    return f"praevnet {' '.join(args)} -> exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"


def run_cli(*args: str, cwd: Path | None = None, expect_ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `praevnet ARGS`; with `expect_ok`, fail the test unless it exits 0."""
    proc = subprocess.run(
        [PRAEVNET, *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        env=cli_env(),
        cwd=cwd,
        check=False,
    )
    if expect_ok:
        assert proc.returncode == 0, _describe(args, proc)
    return proc


def cli_json(*args: str) -> Any:
    """Run `praevnet ARGS --json`, which must succeed, and parse its output."""
    proc = run_cli(*args, "--json")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"not JSON ({exc}): {_describe(args, proc)}") from None


def run_parallel(*commands: Sequence[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run several `praevnet` commands at once (independent ones only); each must exit 0."""
    running = [
        (
            list(args),
            subprocess.Popen(
                [PRAEVNET, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env()
            ),
        )
        for args in commands
    ]
    done = []
    for args, child in running:
        try:
            out, err = child.communicate(timeout=CLI_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
        proc = subprocess.CompletedProcess(args, child.returncode, out, err)
        assert proc.returncode == 0, _describe(args, proc)
        done.append(proc)
    return done


def wait_for(check: Callable[[], T | None], seconds: float, what: str, interval: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(interval)


class RecordingProxy:
    """A TCP proxy on 127.0.0.1 that forwards to another local port and keeps every byte it forwarded.

    Put in front of a node (the node's URL names the proxy's port, the node listens on the target
    port), it shows exactly what other nodes sent to it over the wire.
    """

    def __init__(self, listen_port: int, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", listen_port))
        self.listener.settimeout(0.1)
        self.lock = threading.Lock()
        self.inbound: list[bytes] = []
        self.outbound: list[bytes] = []
        self.sockets: list[socket.socket] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._accept, name="proxy-accept", daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets += [client, upstream]
                for source, sink, record in ((client, upstream, self.inbound), (upstream, client, self.outbound)):
                    thread = threading.Thread(target=self._pipe, args=(source, sink, record), daemon=True)
                    self.threads.append(thread)
                    thread.start()

    def _pipe(self, source: socket.socket, sink: socket.socket, record: list[bytes]) -> None:
        try:
            while chunk := source.recv(65536):
                with self.lock:
                    record.append(chunk)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def received(self) -> bytes:
        """Every byte that clients sent through the proxy to the node, so far."""
        with self.lock:
            return b"".join(self.inbound)

    def close(self) -> None:
        """Stop accepting, cut every connection, and wait for the threads."""
        self.stopping.set()
        with self.lock:
            sockets = list(self.sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(5)
        for sock in [*sockets, self.listener]:
            sock.close()


@dataclass
class ServedNode:
    """A node with its own home, run by a real `praevnet serve` process on a loopback port.

    `port` is the port of the node's URL; the process listens there, or on `listen_port` when a
    RecordingProxy (`proxy`) sits on `port` in front of it.
    """

    name: str
    home: Path
    port: int
    listen_port: int | None = None
    proxy: RecordingProxy | None = None
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The base URL the node was initialised with."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def node_id(self) -> str:
        """The node id, as `praevnet id --json` reported it."""
        return str(self.identity["node_id"])

    @property
    def fingerprint(self) -> str:
        """The fingerprint, as `praevnet id --json` reported it."""
        return str(self.identity["fingerprint"])

    def init_args(self) -> list[str]:
        """The arguments of `praevnet init` for this node."""
        return ["init", "--home", str(self.home), "--name", self.name, "--url", self.url]

    def launch(self) -> None:
        """Start `praevnet serve` without waiting for it to be ready."""
        assert self.process is None or self.process.poll() is not None, f"{self.name} is already running"
        self.starts += 1
        log = self.home.parent / f"{self.home.name}-serve-{self.starts}.log"
        self.logs.append(log)
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                [PRAEVNET, "serve", "--home", str(self.home), "--port", str(self.listen_port or self.port)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=cli_env(),
            )

    def log_text(self) -> str:
        """Everything the serve processes of this node wrote so far."""
        return "\n".join(log.read_text(errors="replace") for log in self.logs if log.exists())

    def ready(self) -> bool:
        """Whether the node answers its descriptor URL; fails the test if the process died."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log_text()}")
        try:
            with urllib.request.urlopen(f"{self.url}/.well-known/praevnet", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def wait_ready(self, seconds: float = 20.0) -> None:
        """Wait until the node serves its descriptor."""
        wait_for(self.ready, seconds, f"{self.name} to serve {self.url}/.well-known/praevnet")

    def stop(self, seconds: float = 10.0) -> int | None:
        """SIGTERM the serve process and wait; kill it if it does not end in time. Returns its exit code."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=seconds)
        return process.returncode

    def assert_clean_log(self) -> None:
        """Nothing in the serve processes' output hints at a crash or an internal error."""
        text = self.log_text()
        for sign in ("Traceback", " ERROR ", "internal error", "Exception"):
            assert sign not in text, f"{self.name} logged {sign!r}:\n{text}"

    def stored_bytes(self) -> bytes:
        """Every byte of every file under this node's home (config, key, database, WAL and shared memory)."""
        return b"".join(path.read_bytes() for path in sorted(self.home.rglob("*")) if path.is_file())
