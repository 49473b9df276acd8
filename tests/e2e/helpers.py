"""Helpers for end-to-end tests: running the installed `praevnet` console script and serving nodes.

Each served node's port is held by the test process (tests/ports.py) for the whole test, and passed
to every `praevnet serve` of the node the way systemd passes a praevnet.socket: as file descriptor
3 with LISTEN_FDS and LISTEN_PID (cli/socket_activation.py). No other process can take the port
between the test naming it and the node listening, nor while the node is down for a restart.
"""

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
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import tomli_w

from node.home import CONFIG_FILE, Node
from node.trust.peers import trust_descriptor
from tests.ports import Port

PRAEVNET = str(Path(sys.executable).parent / "praevnet")
CLI_TIMEOUT = 60.0
T = TypeVar("T")


def cli_env() -> dict[str, str]:
    """The environment for child processes: ours, minus anything that changes where or how praevnet runs."""
    env = dict(os.environ)
    for name in [name for name in env if name.startswith(("PRAEVNET_", "LISTEN_"))]:
        env.pop(name)
    return env


# Between fork and `praevnet serve`: move the passed socket to file descriptor 3 and name this
# process as its owner, as systemd does, then become `praevnet serve` (exec keeps the pid).
_ACTIVATE = """
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execv(sys.argv[2], sys.argv[2:])
"""


def start_activated(
    fd: int, args: Sequence[str], sink: IO[bytes], environment: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `praevnet ARGS`, its output to `sink`, passing it file descriptor `fd` as a systemd socket unit would
    (`environment` adds to the process's environment)."""
    return subprocess.Popen(
        [sys.executable, "-c", _ACTIVATE, str(fd), PRAEVNET, *args],
        stdout=sink,
        stderr=subprocess.STDOUT,
        env={**cli_env(), **(environment or {})},
        pass_fds=(fd,),
    )


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


def configure(home: Path, section: str, **values: Any) -> None:
    """Change settings of one section of the praevnet.toml in `home`."""
    path = home / CONFIG_FILE
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    config.setdefault(section, {}).update(values)
    path.write_text(tomli_w.dumps(config), encoding="utf-8")


def http_messages(stream: bytes) -> list[tuple[bytes, bytes]]:
    """The complete HTTP/1.1 messages at the start of a byte stream, as (head, body) pairs.

    Bodies are delimited by Content-Length (aiohttp sends and answers with one); a message that has
    not fully arrived yet, and anything after it, is left out.
    """
    messages: list[tuple[bytes, bytes]] = []
    position = 0
    while (end := stream.find(b"\r\n\r\n", position)) >= 0:
        head = stream[position:end]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if len(stream) < end + 4 + length:
            break
        messages.append((head, stream[end + 4 : end + 4 + length]))
        position = end + 4 + length
    return messages


class RecordingProxy:
    """A TCP proxy on 127.0.0.1 that forwards to another local port and keeps every byte it forwarded.

    Put in front of a node (the node's URL names the proxy's port, the node listens on the target
    port), it shows exactly what other nodes sent to it over the wire. It keeps each connection's
    bytes too (`requests`, `awaiting_answer`), and holds every chunk of the node's answers back for
    `answer_delay` seconds (0 unless set), which makes the node look slow to its clients.
    """

    def __init__(self, port: Port, target_port: int) -> None:
        self.port = port
        self.target = ("127.0.0.1", target_port)
        self.listener = port.handover()
        self.listener.listen()
        self.listener.settimeout(0.1)
        self.lock = threading.Lock()
        self.inbound: list[bytes] = []
        self.outbound: list[bytes] = []
        self.connections: list[tuple[bytearray, bytearray]] = []  # per connection: (inbound, outbound)
        self.answer_delay = 0.0
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
            inbound, outbound = bytearray(), bytearray()
            with self.lock:
                self.sockets += [client, upstream]
                self.connections.append((inbound, outbound))
                for source, sink, record, stream in (
                    (client, upstream, self.inbound, inbound),
                    (upstream, client, self.outbound, outbound),
                ):
                    thread = threading.Thread(target=self._pipe, args=(source, sink, record, stream), daemon=True)
                    self.threads.append(thread)
                    thread.start()

    def _pipe(self, source: socket.socket, sink: socket.socket, record: list[bytes], stream: bytearray) -> None:
        answers = record is self.outbound
        try:
            while chunk := source.recv(65536):
                with self.lock:
                    record.append(chunk)
                    stream.extend(chunk)
                if answers and self.answer_delay > 0:
                    time.sleep(self.answer_delay)
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

    def requests(self) -> list[tuple[bytes, bytes]]:
        """Every complete request forwarded to the node so far, as (head, body), connection by connection."""
        with self.lock:
            streams = [bytes(inbound) for inbound, _ in self.connections]
        return [message for stream in streams for message in http_messages(stream)]

    def awaiting_answer(self) -> list[tuple[bytes, bytes]]:
        """The requests the node has received completely but not (yet) begun to answer, as (head, body)."""
        with self.lock:
            streams = [(bytes(inbound), bytes(outbound)) for inbound, outbound in self.connections]
        waiting: list[tuple[bytes, bytes]] = []
        for inbound, outbound in streams:
            begun = outbound.count(b"HTTP/1.1 ")  # status lines of answers, complete or not
            waiting.extend(http_messages(inbound)[begun:])
        return waiting

    def close(self) -> None:
        """Stop accepting, cut every connection, and wait for the threads; its port then refuses connections."""
        self.stopping.set()
        with self.lock:
            sockets = list(self.sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(5)
        for sock in sockets:
            sock.close()
        self.port.reclaim()


@dataclass
class ServedNode:
    """A node with its own home, run by a real `praevnet serve` process on a loopback port.

    `held` is the port of the node's URL; the process listens there, or on `behind` when a
    RecordingProxy (`proxy`) sits on the URL's port in front of it, or nothing does (unreachable).
    The officers' web interface listens on the held port `ui` if one is given, else it is off
    (`--no-ui`), so that nodes never compete for the default [ui] listen port; so does the admin
    address (metrics and health) on the held port `admin`, else `--no-admin`.
    """

    name: str
    home: Path
    held: Port
    behind: Port | None = None
    proxy: RecordingProxy | None = None
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)
    identity: dict[str, Any] = field(default_factory=dict)
    ui: Port | None = None
    admin: Port | None = None
    environment: dict[str, str] = field(default_factory=dict)  # added to the serve process's environment

    @property
    def port(self) -> int:
        """The port of the node's URL."""
        return self.held.number

    @property
    def listen_port(self) -> int | None:
        """The port the process listens on, when it is not the URL's."""
        return None if self.behind is None else self.behind.number

    @property
    def listening(self) -> Port:
        """The port the process listens on: `behind` if set, else the URL's."""
        return self.behind or self.held

    @property
    def url(self) -> str:
        """The base URL the node was initialised with."""
        return self.held.url

    @property
    def local_url(self) -> str:
        """Where this machine reaches the process: its URL, unless it listens elsewhere without a proxy."""
        if self.proxy is not None or self.listen_port is None:
            return self.url
        return f"http://127.0.0.1:{self.listen_port}"

    @property
    def ui_url(self) -> str:
        """Where the node's web interface answers (its `ui` port)."""
        assert self.ui is not None, f"{self.name} serves no web interface"
        return self.ui.url

    def serve_args(self) -> list[str]:
        """The arguments of `praevnet serve` for this node: its home, and where its web interface and admin
        address listen."""
        args = ["serve", "--home", str(self.home)]
        for port, option, off in ((self.ui, "--ui-listen", "--no-ui"), (self.admin, "--admin-listen", "--no-admin")):
            if port is None:
                args.append(off)
            else:
                port.handover()  # bound here but not listening: `serve` binds beside it (SO_REUSEADDR) and listens
                args += [option, f"127.0.0.1:{port.number}"]
        return args

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
        """Start `praevnet serve`, passing it the held socket to listen on, without waiting for it to be ready."""
        assert self.process is None or self.process.poll() is not None, f"{self.name} is already running"
        self.starts += 1
        log = self.home.parent / f"{self.home.name}-serve-{self.starts}.log"
        self.logs.append(log)
        fd = self.listening.handover().fileno()
        with log.open("wb") as sink:
            self.process = start_activated(fd, self.serve_args(), sink, self.environment)

    def log_text(self) -> str:
        """Everything the serve processes of this node wrote so far."""
        return "\n".join(log.read_text(errors="replace") for log in self.logs if log.exists())

    def ready(self) -> bool:
        """Whether the node answers its descriptor URL; fails the test if the process died."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log_text()}")
        try:
            with urllib.request.urlopen(f"{self.local_url}/.well-known/praevnet", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def assert_running(self) -> None:
        """Fail the test, with the node's log, unless its serve process is running."""
        assert self.process is not None, f"{self.name} was not started"
        assert self.process.poll() is None, f"{self.name} exited with {self.process.returncode}:\n{self.log_text()}"

    def wait_ready(self, seconds: float = 20.0) -> None:
        """Wait until the node serves its descriptor."""
        wait_for(self.ready, seconds, f"{self.name} to serve {self.local_url}/.well-known/praevnet")

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
        self.listening.reclaim()  # down: its port refuses connections, and stays ours
        for port in (self.ui, self.admin):
            if port is not None:
                port.reclaim()
        return process.returncode

    def kill(self) -> int | None:
        """SIGKILL the serve process (no chance to clean up) and reap it. Returns its exit code."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        code = process.wait(timeout=10)
        self.listening.reclaim()  # down: its port refuses connections, and stays ours
        for port in (self.ui, self.admin):
            if port is not None:
                port.reclaim()
        return code

    def configure(self, section: str, **values: Any) -> None:
        """Change settings of one section of praevnet.toml (takes effect at the next start)."""
        configure(self.home, section, **values)

    @contextlib.contextmanager
    def opened(self) -> Iterator[Node]:
        """The node's home opened in this process, as the CLI opens it (also while `serve` runs)."""
        node = Node.open(self.home)
        try:
            yield node
        finally:
            node.close()

    def assert_clean_log(self) -> None:
        """Nothing in the serve processes' output hints at a crash or an internal error."""
        text = self.log_text()
        for sign in ("Traceback", " ERROR ", '"level": "error"', '"level": "critical"', "internal error", "Exception"):
            assert sign not in text, f"{self.name} logged {sign!r}:\n{text}"

    def stored_bytes(self) -> bytes:
        """Every byte of every file under this node's home (config, key, database, WAL and shared memory)."""
        return b"".join(path.read_bytes() for path in sorted(self.home.rglob("*")) if path.is_file())


def pair_directly(a: ServedNode, b: ServedNode) -> None:
    """Make `a` and `b` trust each other's descriptor, as `peers add` does, without either running."""
    with a.opened() as node_a, b.opened() as node_b:
        trust_descriptor(node_a, node_b.config.url, node_b.fingerprint, node_b.descriptor())
        trust_descriptor(node_b, node_a.config.url, node_a.fingerprint, node_a.descriptor())


def shut_down(nodes: Iterable[ServedNode]) -> None:
    """Stop every node's process and close its proxy, going on past failures; re-raise the first."""
    failure: BaseException | None = None
    for node in nodes:
        try:
            node.stop()
        except BaseException as exc:  # a stuck process must not keep the others running
            failure = failure or exc
            with contextlib.suppress(BaseException):
                node.kill()
    for node in nodes:
        if node.proxy is not None:
            try:
                node.proxy.close()
            except BaseException as exc:
                failure = failure or exc
    if failure is not None:
        raise failure


class HangingServer:
    """A TCP server on 127.0.0.1 that accepts every connection and then never answers or closes it.

    It stands for a peer that hangs: the connection succeeds, the request goes out, no answer comes.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = int(self.listener.getsockname()[1])
        self.held: list[socket.socket] = []
        self.count = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, name="hanging-accept", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """The base URL under which the hanging peer is "reached"."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def accepted(self) -> int:
        """How many connections it has accepted (and left hanging) so far."""
        with self.lock:
            return self.count

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.held.append(conn)
                self.count += 1

    def close(self) -> None:
        """Stop accepting and drop every held connection."""
        self.stopping.set()
        self.thread.join(5)
        with self.lock:
            held, self.held = list(self.held), []
        for conn in [*held, self.listener]:
            conn.close()
