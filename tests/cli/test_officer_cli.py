"""The command line as a prevention officer meets it (#12): reading what peers sent, naming peers by
name, lists with headers, output piped into `head`, and errors that say what went wrong."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from node.exchange.inbox import ingest
from node.home import Node
from node.transport.client import unreachable
from tests.cli.conftest import invoke, ok, ok_json
from tests.cli.test_bad_input import assert_refused, trusted_fake_peer, unchanged, write
from tests.cli.test_users_cli import add as add_user
from tests.conftest import RECORD, FakePeer, SetClock, alert_content
from tests.ports import unreachable_url

ROOT = Path(__file__).resolve().parents[2]
KEY: Any = SimpleNamespace(host="praevnet.bonn.de", port=443, ssl=True)  # what aiohttp's errors describe


@pytest.fixture
def bonn(home: Path) -> FakePeer:
    """Stadt Bonn, a peer that the node in `home` trusts."""
    return trusted_fake_peer(home)


def receive(home: Path, peer: FakePeer, *envelopes: dict[str, Any]) -> None:
    """Store envelopes from `peer` in the node in `home`, as if it had sent them."""
    node = Node.open(home)
    try:
        results = ingest(node, peer.node_id, list(envelopes))["results"]
    finally:
        node.close()
    assert [result["status"] for result in results] == ["accepted"] * len(envelopes), results


def add_record(home: Path, tmp_path: Path, content: dict[str, Any] = RECORD) -> str:
    """A local record in `home`; its id."""
    return str(
        ok("records", "add", write(tmp_path / "r.json", json.dumps(content)), "--home", str(home)).stdout.strip()
    )


def trust(home: Path, *names: str) -> list[FakePeer]:
    """Peers of these names that the node in `home` trusts."""
    node = Node.open(home)
    try:
        return [FakePeer(name, unreachable_url()).trusted_by(node) for name in names]
    finally:
        node.close()


# --- inbox show ---------------------------------------------------------------------------------


def test_inbox_show_reads_one_received_record(home: Path, bonn: FakePeer) -> None:
    content = {"title": "Sicherer Schulweg", "summary": "Zeile eins\nZeile zwei", "topics": ["Schule", "Weg"]}
    receive(home, bonn, bonn.envelope({"title": "Alt", "summary": "S"}, record_id="rec-schulweg"))
    receive(home, bonn, bonn.envelope(content, record_id="rec-schulweg", version=2, tlp="TLP:GREEN"))

    shown = ok_json("inbox", "show", "rec-schulweg", "--home", str(home))
    assert (shown["content"], shown["version"], shown["tlp"], shown["verified"]) == (content, 2, "TLP:GREEN", True)
    assert (shown["origin"], shown["origin_name"], shown["state"]) == (bonn.node_id, "Stadt Bonn", "current")

    lines = ok("inbox", "show", "rec-schulweg", "--home", str(home)).stdout.splitlines()
    facts = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in lines if not line.startswith(" ")}
    assert facts["title"] == "Sicherer Schulweg"
    assert facts["from"] == f"Stadt Bonn ({bonn.node_id}), trusted peer"
    assert facts["signature"] == "verified"
    assert facts["label"] == "TLP:GREEN"
    assert facts["state"] == "current"
    assert next(line for line in lines if line.startswith("  v")).startswith("  v1   TLP:AMBER")
    assert "  summary: Zeile eins" in lines
    assert "      Zeile zwei" in lines
    assert "  topics: Schule, Weg" in lines


def test_inbox_show_of_a_retracted_record_and_a_lapsed_alert(home: Path, bonn: FakePeer, clock: SetClock) -> None:
    receive(
        home,
        bonn,
        bonn.envelope(record_id="rec-retracted"),
        bonn.envelope(kind="retraction", record_id="rec-retracted"),
    )
    human = ok("inbox", "show", "rec-retracted", "--home", str(home)).stdout
    assert "state:      retracted (retraction of version 1 received " in human
    assert "content:" not in human

    start = clock.set(datetime(2026, 11, 22, 8, 0, tzinfo=UTC))
    alert = {"headline": "Falsche Handwerker", "area": {"name": "Nordstadt"}, "expires": "2026-11-23T08:00:00Z"}
    receive(home, bonn, bonn.envelope(alert, kind="alert", record_id="alert-001"))
    assert "state:      current" in ok("inbox", "show", "alert-001", "--home", str(home)).stdout
    clock.set(start + timedelta(days=2))
    human = ok("inbox", "show", "alert-001", "--home", str(home)).stdout
    assert "expires:    2026-11-23T08:00:00Z" in human
    assert "state:      expired" in human


def test_inbox_show_of_an_unknown_id_fails_and_names_it(home: Path, bonn: FakePeer) -> None:
    receive(home, bonn, bonn.envelope(record_id="rec-00001"))
    with unchanged(home):
        result = invoke("inbox", "show", "rec-00002", "--home", str(home))
    assert_refused(result, "no received record or alert with id 'rec-00002'", "inbox list --all")
    own = ok("records", "add", write(home.parent / "r.json", json.dumps(RECORD)), "--home", str(home)).stdout.strip()
    assert_refused(invoke("inbox", "show", own, "--home", str(home)), "no received record")  # own records: records show


def test_inbox_show_asks_which_origin_and_takes_it_by_name(home: Path, bonn: FakePeer) -> None:
    [koeln] = trust(home, "Stadt Köln")
    receive(home, bonn, bonn.envelope({"title": "Bonner", "summary": "S"}, record_id="rec-same-id"))
    receive(home, koeln, koeln.envelope({"title": "Kölner", "summary": "S"}, record_id="rec-same-id"))
    assert_refused(invoke("inbox", "show", "rec-same-id", "--home", str(home)), "2 peers sent", "--origin")
    shown = ok_json("inbox", "show", "rec-same-id", "--origin", "köln", "--home", str(home))
    assert shown["content"]["title"] == "Kölner"
    assert_refused(invoke("inbox", "show", "rec-same-id", "--origin", "stadt", "--home", str(home)), "matches 2 peers")


def test_inbox_list_has_headers_and_points_to_show(home: Path, bonn: FakePeer) -> None:
    receive(home, bonn, bonn.envelope({"title": "Sicherer Schulweg", "summary": "S"}, record_id="rec-schulweg"))
    header, line = ok("inbox", "list", "--home", str(home)).stdout.splitlines()
    assert header.split() == ["KIND", "ID", "VERSION", "LABEL", "FROM", "SIGNATURE", "TITLE"]
    assert line.split() == [
        "experience",
        "rec-schulweg",
        "v1",
        "TLP:AMBER",
        "Stadt",
        "Bonn",
        "verified",
        "Sicherer",
        "Schulweg",
    ]
    assert header.index("FROM") == line.index("Stadt Bonn")
    assert "praevnet inbox show ID" in ok("inbox", "list", "--help").stdout
    assert [item["id"] for item in ok_json("inbox", "list", "--home", str(home))] == ["rec-schulweg"]


# --- peers by name ------------------------------------------------------------------------------


def test_records_share_preview_and_unshare_take_a_peers_name(home: Path, tmp_path: Path, bonn: FakePeer) -> None:
    trust(home, "Stadt Bochum")
    record_id = add_record(home, tmp_path)
    shown = ok_json("records", "preview", record_id, "--to", "BONN", "--home", str(home))
    assert shown["to"] == bonn.node_id
    shared = ok_json("records", "share", record_id, "--to", "stadt bon", "--home", str(home))
    assert shared["recipients"] == [bonn.node_id]
    assert (
        f"withdrew {record_id} from {bonn.node_id}"
        in ok("records", "unshare", record_id, "--from", "Stadt Bonn", "--home", str(home)).stdout
    )


def test_an_ambiguous_or_unknown_peer_name_changes_nothing_and_lists_the_candidates(
    home: Path, tmp_path: Path, bonn: FakePeer
) -> None:
    [bochum] = trust(home, "Stadt Bochum")
    record_id = add_record(home, tmp_path)
    alert = write(tmp_path / "a.json", json.dumps(alert_content()))
    for command in (
        ["records", "share", record_id, "--to", "stadt"],
        ["alerts", "send", alert, "--to", "bonn", "--to", "stadt"],
        ["peers", "remove", "stadt"],
        ["peers", "verify", "stadt", "--yes"],
    ):
        with unchanged(home):
            result = invoke(*command, "--home", str(home))
        assert_refused(
            result, "'stadt' matches 2 peers", f"Stadt Bonn ({bonn.node_id})", f"Stadt Bochum ({bochum.node_id})"
        )
    with unchanged(home):
        result = invoke("records", "share", record_id, "--to", "Köln", "--home", str(home))
    assert_refused(result, "'Köln' is not a trusted peer; trusted peers: ", f"Stadt Bonn ({bonn.node_id})")


def test_peers_verify_retry_and_remove_take_a_name(home: Path, bonn: FakePeer) -> None:
    assert (
        f"marked Stadt Bonn ({bonn.node_id}) verified"
        in ok("peers", "verify", "bonn", "--yes", "--home", str(home)).stdout
    )
    assert ok("peers", "retry", "Bonn", "--home", str(home)).stdout.startswith(f"{bonn.node_id}: 0 envelope(s) queued")
    assert ok("peers", "remove", "stadt b", "--home", str(home)).stdout == f"removed {bonn.node_id}\n"
    assert ok_json("peers", "list", "--home", str(home)) == []


def test_inbox_forward_takes_the_origin_by_name(home: Path, bonn: FakePeer) -> None:
    receive(home, bonn, bonn.envelope(record_id="rec-00001"))
    result = invoke("inbox", "forward", "rec-00001", "--origin", "bonn", "--home", str(home))
    assert result.exit_code == 1
    assert "not a trusted peer" not in result.stderr  # the name was resolved; forwarding itself says no
    assert "network" in result.stderr


def test_help_says_where_a_peer_is_named_by_name(home: Path) -> None:
    for command in (
        ["records", "share"],
        ["records", "preview"],
        ["records", "unshare"],
        ["alerts", "send"],
        ["inbox", "forward"],
    ):
        text = " ".join(ok(*command, "--help").stdout.split())
        assert "PEER" in text
        assert "a peer's name (or a unique beginning of it, any case) or node id" in text
        assert "NODE_ID" not in text
    for command in (["peers", "remove"], ["peers", "retry"], ["peers", "verify"], ["network", "revoke"]):
        usage = ok(*command, "--help").stdout
        assert "NODE_ID" not in usage.splitlines()[0]


# --- lists with column headers ------------------------------------------------------------------


def test_lists_have_column_headers_and_json_stays_as_it_was(home: Path, tmp_path: Path, bonn: FakePeer) -> None:
    record_id = add_record(home, tmp_path)
    ok("alerts", "send", write(tmp_path / "a.json", json.dumps(alert_content())), "--to", "bonn", "--home", str(home))
    expected = {
        ("records", "list"): "ID VERSION LABEL STATE TITLE",
        ("alerts", "list"): "ID VERSION LABEL STATE EXPIRES HEADLINE",
        ("peers", "list"): "NAME NODE ID URL FINGERPRINT NOTES",
        ("shares", "list"): "ID KIND RECORD VERSION TO NODE ID SCOPE REQUESTED BY STATE",
        ("keys", "list"): "KEY FINGERPRINT STATE",
        ("audit", "list"): "SEQ TIME USER ACTION RECORD RECIPIENTS DIGEST",
    }
    for command, headers in expected.items():
        lines = ok(*command, "--home", str(home)).stdout.splitlines()
        assert " ".join(lines[0].split()) == headers, command
        assert len(lines) > 1
    line = ok("records", "list", "--home", str(home)).stdout.splitlines()[1]
    assert line.split()[:4] == [record_id, "v1", "TLP:AMBER", "local"]
    peers_line = ok("peers", "list", "--home", str(home)).stdout.splitlines()[1]
    assert peers_line.startswith(f"Stadt Bonn  {bonn.node_id}  ")
    listed = ok_json("records", "list", "--home", str(home))
    assert [item["id"] for item in listed] == [record_id]
    assert set(listed[0]) == {
        "id",
        "kind",
        "version",
        "tlp",
        "created",
        "author",
        "expires",
        "retracted",
        "local_fields",
        "shared_with",
        "pending",
        "content",
    }


def test_the_lists_of_users_invitations_and_networks_have_headers_too(home: Path) -> None:
    assert add_user(home, "olga", "officer").exit_code == 0
    ok("invite", "create", "--home", str(home))
    ok("network", "create", "Städtenetz", "--home", str(home))
    expected = {
        ("users", "list"): ["NAME", "ROLE", "STATE", "TOKEN", "CREATED"],
        ("invite", "list"): ["ID", "STATE", "CREATED", "BY", "EXPIRES", "USED", "/", "REVOKED"],
        ("network", "list"): ["NAME", "ID", "ROLE", "MEMBERS", "REVOCATIONS", "CERTIFICATE", "UNTIL", "NOTES"],
    }
    for command, headers in expected.items():
        header, first = ok(*command, "--home", str(home)).stdout.splitlines()[:2]
        assert header.split() == headers, command
        assert first.split()[0] in ("olga", "1", "Städtenetz"), first
    members = ok("network", "members", "--home", str(home)).stdout.splitlines()
    assert members[1].split() == ["SERIAL", "NAME", "NODE", "ID", "STATE", "ROLES", "UNTIL", "URL"]


def test_records_and_alerts_list_show_only_the_newest_n_with_limit(home: Path, tmp_path: Path, bonn: FakePeer) -> None:
    made = [add_record(home, tmp_path, {"title": f"Bericht {number}", "summary": "S"}) for number in range(4)]
    assert [item["id"] for item in ok_json("records", "list", "--home", str(home))] == made[::-1]
    assert [item["id"] for item in ok_json("records", "list", "--limit", "2", "--home", str(home))] == made[:1:-1]
    lines = ok("records", "list", "--limit", "1", "--home", str(home)).stdout.splitlines()
    assert len(lines) == 2  # the header and the newest
    assert lines[1].startswith(made[-1])
    assert len(ok_json("records", "list", "--limit", "9", "--home", str(home))) == 4
    for number in range(3):
        content = {**alert_content(), "headline": f"Warnung {number}"}
        ok("alerts", "send", write(tmp_path / "a.json", json.dumps(content)), "--to", "bonn", "--home", str(home))
    newest = ok_json("alerts", "list", "--limit", "2", "--home", str(home))
    assert [item["content"]["headline"] for item in newest] == ["Warnung 2", "Warnung 1"]


@pytest.mark.parametrize("limit", ["0", "-1", "zwei", "1.5", ""])
@pytest.mark.parametrize("command", [("records", "list"), ("alerts", "list")])
def test_a_bad_list_limit_is_refused_and_names_the_option(
    home: Path, tmp_path: Path, command: tuple[str, str], limit: str
) -> None:
    add_record(home, tmp_path)
    with unchanged(home):
        result = invoke(*command, "--limit", limit, "--home", str(home))
    assert result.exit_code == 2, result.output  # click's usage error, before anything is opened
    assert result.stdout == ""
    assert f"Error: Invalid value for '--limit': {limit!r} is not" in result.stderr or (
        f"Error: Invalid value for '--limit': {limit} is not in the range x>=1." in result.stderr
    ), result.stderr


def test_empty_lists_say_so_without_a_header(home: Path) -> None:
    for command, text in ((["records", "list"], "nothing here yet\n"), (["inbox", "list"], "the inbox is empty\n")):
        assert ok(*command, "--home", str(home)).stdout == text


# --- output into a pipe that closes early -------------------------------------------------------


def test_records_list_into_a_pipe_nobody_reads_ends_quietly(home: Path, tmp_path: Path) -> None:
    for number in range(3):
        add_record(home, tmp_path, {"title": f"Bericht {number}", "summary": "S"})
    reader, writer = os.pipe()
    os.close(reader)  # like `| head -1` once it has its line: nobody reads what follows
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", "records", "list", "--home", str(home)],
            stdout=writer,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "PRAEVNET_HOME": "", "PRAEVNET_DEBUG": ""},
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    assert done.stderr == b""
    assert done.returncode == 0


def test_records_list_into_head_prints_the_first_line(home: Path, tmp_path: Path) -> None:
    for number in range(3):
        add_record(home, tmp_path, {"title": f"Bericht {number}", "summary": "S"})
    command = f"{sys.executable} -m cli.main records list --home {home} | head -1"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, cwd=ROOT, timeout=60, check=False
    )
    assert done.stdout.decode().split() == ["ID", "VERSION", "LABEL", "STATE", "TITLE"]
    assert done.stderr == b""
    assert done.returncode == 0


# --- --local with the wrong field ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("internal_notes", "internal_notes always stays on this node and never leaves; it needs no --local"),
        ("case_count", "an experience record has no field case_count"),
        ("colour", "an experience record has no field colour"),
        ("implementation.budget", "an experience record has no field implementation.budget"),
        ("title", "required fields always leave with the record"),
    ],
)
def test_local_on_a_field_that_cannot_be_marked_says_why(home: Path, tmp_path: Path, field: str, reason: str) -> None:
    path = write(tmp_path / "r.json", json.dumps(RECORD))
    with unchanged(home):
        result = invoke("records", "add", path, "--local", field, "--home", str(home))
    assert_refused(result, f"--local {field}: cannot be marked local ({reason}); markable: causes, contact")


def test_local_case_count_on_an_alert_says_it_stays_here_anyway(home: Path, tmp_path: Path, bonn: FakePeer) -> None:
    path = write(tmp_path / "a.json", json.dumps(alert_content()))
    with unchanged(home):
        result = invoke("alerts", "send", path, "--to", "bonn", "--local", "case_count", "--home", str(home))
    assert_refused(result, "case_count always stays on this node and never leaves; it needs no --local")


# --- addresses and connection errors ------------------------------------------------------------


@pytest.mark.parametrize(
    "source", ["127.0.0.1:8470", "praevnet.bonn.de:443", "praevnet.bonn.de", "[::1]:8470", "localhost/"]
)
def test_peers_add_with_host_and_port_but_no_scheme_asks_for_a_url(home: Path, source: str) -> None:
    with unchanged(home):
        result = invoke("peers", "add", source, "--fingerprint", "SHA256:" + "A" * 43, "--home", str(home))
    assert_refused(
        result, f"{source!r} is no file", "give a URL with https:// or http://", f"e.g. https://{source.rstrip('/')}"
    )


def test_network_admit_with_host_and_port_but_no_scheme_asks_for_a_url(home: Path) -> None:
    ok("network", "create", "Städtenetz", "--home", str(home))
    with unchanged(home):
        result = invoke(
            "network", "admit", "127.0.0.1:8470", "--fingerprint", "SHA256:" + "A" * 43, "--home", str(home)
        )
    assert_refused(result, "give a URL with https:// or http://, e.g. https://127.0.0.1:8470")


def test_a_missing_descriptor_file_is_still_named_as_a_file(home: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "bonn.json")
    result = invoke("peers", "add", missing, "--fingerprint", "SHA256:" + "A" * 43, "--home", str(home))
    assert_refused(result, f"cannot read {missing}: No such file")
    result = invoke("peers", "add", "bonn.json", "--fingerprint", "SHA256:" + "A" * 43, "--home", str(home))
    assert_refused(result, "cannot read bonn.json: No such file")


def test_a_peer_that_cannot_be_reached_is_named_with_a_short_reason(home: Path) -> None:
    url = unreachable_url()
    with unchanged(home):
        result = invoke("peers", "add", url, "--fingerprint", "SHA256:" + "A" * 43, "--home", str(home))
    message = assert_refused(result, f"cannot reach {url}/.well-known/praevnet: connection refused")
    for wording in ("ssl:default", "Connect call failed", "Cannot connect to host", "Errno"):
        assert wording not in message


def self_signed() -> ssl.SSLCertVerificationError:
    """The error Python's TLS gives for a certificate it does not trust."""
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate"
    return error


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            aiohttp.ClientConnectorError(KEY, socket.gaierror(-2, "Name or service not known")),
            "its host name was not found",
        ),
        (aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "Connect call failed")), "connection refused"),
        (
            aiohttp.ClientConnectorCertificateError(KEY, self_signed()),
            "its TLS certificate was not accepted (self-signed certificate)",
        ),
        (aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError("wrong version")), "the TLS handshake failed"),
        (aiohttp.ServerDisconnectedError(), "it closed the connection without answering"),
        (aiohttp.ConnectionTimeoutError(), "no answer in time (timed out)"),
        (TimeoutError(), "no answer in time (timed out)"),
        (aiohttp.ClientPayloadError("x"), "its answer was cut off"),
        (aiohttp.ClientError("x"), "the connection failed"),
    ],
)
def test_each_kind_of_connection_failure_gets_a_short_reason(error: BaseException, reason: str) -> None:
    assert str(unreachable("https://praevnet.bonn.de", error)) == f"cannot reach https://praevnet.bonn.de: {reason}"


def test_sync_with_an_unreachable_peer_says_connection_refused(home: Path, bonn: FakePeer) -> None:
    result = invoke("sync", "--home", str(home))
    assert result.exit_code == 1
    assert result.stdout == f"Stadt Bonn: failed: cannot reach {bonn.url}: connection refused\n"
