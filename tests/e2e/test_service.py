"""`praevnet serve` as municipal IT runs it: one per home, ports checked before it says it serves, readiness for
systemd (Type=notify), a graceful stop on SIGTERM, no server software named in answers, and JSON log lines that
name what happened, never what was shared."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from node.home import init_home
from node.sharing.records import add_record, send_alert
from node.sharing.shares import share_record
from node.users import ADMIN
from tests.e2e.helpers import PRAEVNET, ServedNode, cli_env, pair_directly, run_cli, wait_for
from tests.planted import planted_record
from tests.ports import hold_port

NewNodes = Callable[..., list[ServedNode]]


class NotifySocket:
    """The service manager's end of $NOTIFY_SOCKET: a Unix datagram socket that collects what the service says."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="pv-notify-")  # short: a socket path has at most 107 bytes
        self.path = os.path.join(self.directory, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[str] = []

    def expect(self, state: str, seconds: float = 30.0) -> list[str]:
        """Wait until a datagram holding the line `state` arrives; every message so far."""
        self.sock.settimeout(seconds)
        while not any(state in message.splitlines() for message in self.messages):
            self.messages.append(self.sock.recv(4096).decode())
        return self.messages

    def close(self) -> None:
        """Close and remove the socket."""
        self.sock.close()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    """A notification socket, removed after the test."""
    sock = NotifySocket()
    try:
        yield sock
    finally:
        sock.close()


def log_entries(node: ServedNode) -> list[dict[str, Any]]:
    """The JSON log lines of every serve process of the node (stdout's few lines for people left out)."""
    return [json.loads(line) for line in node.log_text().splitlines() if line.startswith("{")]


def events(node: ServedNode, name: str) -> list[dict[str, Any]]:
    """The node's log entries of one event."""
    return [entry for entry in log_entries(node) if entry["event"] == name]


def started_node(new_nodes: NewNodes, name: str = "Stadt A") -> ServedNode:
    """One node, served with its web interface."""
    [node] = new_nodes(name)
    node.ui = hold_port()
    node.launch()
    node.wait_ready()
    return node


# --- one serve per home, ports checked before it says it serves -------------------------------------


@pytest.mark.e2e
def test_a_second_serve_on_the_same_home_is_refused_and_the_first_goes_on(new_nodes: NewNodes) -> None:
    a = started_node(new_nodes)
    assert a.process is not None
    other = hold_port()
    other.handover()
    second = run_cli("serve", "--home", str(a.home), "--port", str(other.number), "--no-ui", expect_ok=False)
    assert second.returncode == 1
    assert f"another praevnet serve (pid {a.process.pid}) is running on {a.home}" in second.stderr
    assert "serving" not in second.stdout + second.stderr
    a.assert_running()
    assert a.ready()
    assert a.stop() == 0
    # The lock went with the process: the home serves again.
    a.launch()
    a.wait_ready()


@pytest.mark.e2e
@pytest.mark.parametrize("taken", ["federation", "web interface"])
def test_a_taken_port_is_reported_before_anything_says_serving(tmp_path: Path, taken: str) -> None:
    home = tmp_path / "a"
    federation, ui = hold_port(), hold_port()
    init_home(home, name="Stadt A", url=federation.url)
    occupied = federation if taken == "federation" else ui
    for port in (federation, ui):
        port.handover()  # bound beside the test (SO_REUSEADDR), as serve binds
    occupied.handover().listen()  # someone else listens there
    result = run_cli(
        "serve",
        "--home",
        str(home),
        "--port",
        str(federation.number),
        "--ui-listen",
        f"127.0.0.1:{ui.number}",
        expect_ok=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    what = "the federation server" if taken == "federation" else "the web interface"
    assert f"Error: {what} cannot listen on 127.0.0.1:{occupied.number}: Address already in use" in result.stderr
    said = result.stdout + result.stderr
    assert "serving" not in said
    assert "web interface for officers" not in said
    assert "node.start" not in said


# --- readiness and a graceful stop -------------------------------------------------------------------


@pytest.mark.e2e
def test_serve_tells_systemd_ready_once_it_listens_and_stopping_on_sigterm(
    tmp_path: Path, notify: NotifySocket
) -> None:
    import subprocess
    import urllib.request

    home = tmp_path / "a"
    federation, ui = hold_port(), hold_port()
    init_home(home, name="Stadt A", url=federation.url)
    for port in (federation, ui):
        port.handover()
    log = tmp_path / "serve.log"
    args = ["serve", "--home", str(home), "--port", str(federation.number), "--ui-listen", f"127.0.0.1:{ui.number}"]
    args.append("--no-admin")  # the admin address's default port may be another test's
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [PRAEVNET, *args], stdout=sink, stderr=subprocess.STDOUT, env={**cli_env(), "NOTIFY_SOCKET": notify.path}
        )
    try:
        notify.expect("READY=1")
        # Ready means listening: both addresses answer at once, without waiting for anything else.
        with urllib.request.urlopen(f"{federation.url}/.well-known/praevnet", timeout=10) as answer:
            assert answer.status == 200
        with urllib.request.urlopen(f"{ui.url}/login", timeout=10) as answer:
            assert answer.status == 200
        text = log.read_text()
        assert text.index("serving") < text.index('"event": "node.start"')
        process.send_signal(signal.SIGTERM)
        notify.expect("STOPPING=1")
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    [ready] = [message for message in notify.messages if "READY=1" in message]
    assert notify.messages.index(ready) < len(notify.messages) - 1  # STOPPING=1 came after it
    stops = [json.loads(line) for line in log.read_text().splitlines() if '"node.stop"' in line]
    assert [(entry["message"].split(":")[0], entry["finished"], entry["handed_back"]) for entry in stops] == [
        ("stopped on SIGTERM", 0, 0)
    ]


@pytest.mark.e2e
def test_sigterm_hands_back_the_transaction_in_flight_and_it_is_delivered_after_the_restart(
    new_nodes: NewNodes,
) -> None:
    a, b = new_nodes("Stadt A", "Stadt B", proxied=("Stadt B",))
    assert b.proxy is not None
    pair_directly(a, b)
    b.launch()
    b.wait_ready()
    a.launch()
    a.wait_ready()
    assert b.process is not None
    os.kill(b.process.pid, signal.SIGSTOP)  # B takes connections (the kernel does) but answers nothing
    try:
        with a.opened() as node:
            content = {"title": "Quartiersbegehung", "summary": "Gemeinsam."}
            record_id = add_record(node, "experience", content, by=ADMIN)
            share_record(node, record_id, [b.node_id], False, by=ADMIN)

        def pushed() -> list[bytes]:
            return [head for head, _ in b.proxy.requests() if head.startswith(b"PUT /fed/v1/inbox/")]  # type: ignore[union-attr]

        wait_for(pushed, 20, "A's transaction to reach B")
        assert a.stop(seconds=60) == 0, a.log_text()
    finally:
        os.kill(b.process.pid, signal.SIGCONT)
    [stop] = events(a, "node.stop")
    assert (stop["finished"], stop["handed_back"]) == (0, 1)
    assert stop["message"].startswith("stopped on SIGTERM")
    with a.opened() as node:
        [(state, txn_id)] = node.db.execute("SELECT state, txn_id FROM deliveries").fetchall()
    assert state == "pending"
    assert txn_id is not None

    a.launch()
    a.wait_ready()

    def delivered() -> bool:
        with a.opened() as node:
            return node.db.execute("SELECT state FROM deliveries").fetchall() == [("delivered",)]

    wait_for(delivered, 30, "A to deliver the handed-back transaction after its restart")
    with b.opened() as node:
        assert node.db.execute("SELECT id FROM inbox").fetchall() == [(record_id,)]
    assert f"PUT /fed/v1/inbox/{txn_id} ".encode() in b"\n".join(pushed())
    for served in (a, b):
        served.assert_clean_log()


# --- what answers and log lines say ----------------------------------------------------------------


def header_lines(port: int, request: bytes) -> list[bytes]:
    """The status line and header lines of the answer to a raw request."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data and (chunk := client.recv(4096)):
            data += chunk
    return data.split(b"\r\n\r\n")[0].split(b"\r\n")


@pytest.mark.e2e
def test_no_answer_of_any_listener_names_python_or_aiohttp(new_nodes: NewNodes) -> None:
    a = started_node(new_nodes)
    assert a.ui is not None
    requests = [
        b"GET /.well-known/praevnet HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /fed/v1/outbox HTTP/1.1\r\nHost: x\r\n\r\n",  # unsigned: 401
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nonsense\r\n\r\n",  # answered by aiohttp itself
    ]
    for port in (a.port, a.ui.number):
        for request in requests:
            lines = header_lines(port, request)
            servers = [line for line in lines if line.lower().startswith(b"server:")]
            assert servers == [b"Server: praevnet"], (port, request, lines)
            assert not any(b"python" in line.lower() or b"aiohttp" in line.lower() for line in lines)
    a.assert_clean_log()


def planted_alert(token: str) -> dict[str, Any]:
    """An alert whose every text carries `token`, with an exact case count that must leave only as a band."""
    return {
        "headline": f"{token}-headline Trickdiebstahl",
        "area": {"name": f"{token}-area Innenstadt", "ars": "091610000000"},
        "expires": "2099-12-31T18:00:00Z",
        "description": f"{token}-description Ablenkung am Geldautomaten.",
        "urgency": "Expected",
        "severity": "Moderate",
        "certainty": "Observed",
        "case_count": 7,
        "internal_notes": f"{token}-alert_notes",
    }


@pytest.mark.e2e
def test_the_logs_of_a_real_exchange_name_peers_and_outcomes_and_hold_no_content_or_secret(
    new_nodes: NewNodes,
) -> None:
    a, b = new_nodes("Stadt Augsburg", "Stadt Bonn")
    for served in (a, b):
        served.launch()
    for served in (a, b):
        served.wait_ready()
    code = run_cli("invite", "create", "--home", str(a.home)).stdout.splitlines()[0].strip()
    run_cli("invite", "accept", code, "--home", str(b.home))
    token = f"PLANTED{uuid.uuid4().hex}"
    with a.opened() as node:
        record_id = add_record(
            node, "experience", planted_record(token), local=["problem", "implementation.costs"], by=ADMIN
        )
        share_record(node, record_id, [b.node_id], False, by=ADMIN, confirm_pii=True)
        send_alert(node, planted_alert(token), [b.node_id], False, by=ADMIN, confirm_pii=True)

    def arrived() -> bool:
        with b.opened() as node:
            return len(node.db.execute("SELECT id FROM inbox").fetchall()) == 2

    wait_for(arrived, 30, "the record and the alert to reach Bonn")
    wait_for(lambda: events(a, "delivery.sent") and events(b, "inbox.received"), 30, "both ends to log the exchange")
    for served in (a, b):
        assert served.stop() == 0

    for served in (a, b):
        text = served.log_text()
        assert token not in text, f"{served.name} logged content:\n{text}"  # shared, local and kept-local values
        assert code not in text  # the invitation, with its secret
        for entry in log_entries(served):  # every log line is one JSON object with time, level and event
            assert {"time", "level", "event", "message"} <= set(entry)
        served.assert_clean_log()
    [start] = events(a, "node.start")[:1]
    assert (start["home"], start["peers"]) == (str(a.home.resolve()), 0)
    assert start["listen"].startswith(f"127.0.0.1:{a.port}")
    [trusted] = events(a, "peer.trusted")  # paired by the invitation, on the inviting side
    assert (trusted["peer"], trusted["peer_name"]) == (b.node_id, "Stadt Bonn")
    sent = events(a, "delivery.sent")
    assert {entry["peer_name"] for entry in sent} == {"Stadt Bonn"}
    assert sum(entry["accepted"] for entry in sent) == 2
    assert all(entry["txn_id"] and entry["duration"] >= 0 for entry in sent)
    assert f"to Stadt Bonn ({b.node_id})" in sent[0]["message"]
    received = events(b, "inbox.received")
    assert {entry["peer_name"] for entry in received} == {"Stadt Augsburg"}
    assert {entry["txn_id"] for entry in received} == {entry["txn_id"] for entry in sent}
