"""Bad input gets a one-line error naming the problem, a non-zero exit, and leaves the home untouched."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from node.exchange.inbox import ingest
from node.home import Node
from tests.cli.conftest import ServingPeer, invoke, ok, ok_json, snapshot
from tests.conftest import RECORD, FakePeer, alert_content
from tests.ports import unreachable_url

OTHER_FINGERPRINT = FakePeer("Stadt Niemand", "http://127.0.0.1:9").fingerprint


def assert_refused(result: Result, *needles: str) -> str:
    """The command failed cleanly: exit != 0, no traceback, exactly one `Error:` line containing `needles`."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exc_info  # not an exception that escaped the CLI
    assert "Traceback" not in result.output
    assert result.stdout == "", result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    message = lines[0]
    assert message.startswith("Error: "), message
    assert "unexpected" not in message, message  # the catch-all for bugs
    for needle in needles:
        assert needle in message, message
    return message


@contextmanager
def unchanged(*homes: Path) -> Iterator[None]:
    """Assert that nothing in `homes` changes inside the block."""
    before = [snapshot(home) for home in homes]
    yield
    assert [snapshot(home) for home in homes] == before


def write(path: Path, text: str | bytes) -> str:
    """Write a file and return its path as a CLI argument."""
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def expires_in(delta: timedelta) -> str:
    """A CAP-style UTC timestamp `delta` from now."""
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def trusted_fake_peer(home: Path) -> FakePeer:
    """A peer (known only by its key) that the node in `home` trusts."""
    node = Node.open(home)
    try:
        return FakePeer("Stadt Bonn", unreachable_url()).trusted_by(node)
    finally:
        node.close()


# --- init -------------------------------------------------------------------------------------------


def test_init_refuses_to_overwrite_an_existing_node(home: Path) -> None:
    with unchanged(home):
        result = invoke("init", "--home", str(home), "--name", "Stadt Neu", "--url", "http://127.0.0.1:8470")
    assert_refused(result, str(home), "already holds a node", "refusing to overwrite")


@pytest.mark.parametrize(
    "url",
    ["ftp://x", "not a url", "http://", "https://host.example/?q=1", "http://user:pw@host.example", "http://h:99999"],
)
def test_init_refuses_a_bad_url(tmp_path: Path, url: str) -> None:
    target = tmp_path / "new"
    result = invoke("init", "--home", str(target), "--name", "Stadt Neu", "--url", url)
    assert_refused(result, "--url", repr(url))
    assert not target.exists()


def test_init_refuses_a_bad_url_and_leaves_an_empty_directory_empty(tmp_path: Path) -> None:
    result = invoke("init", "--home", str(tmp_path), "--name", "Stadt Neu", "--url", "ftp://x")
    assert_refused(result, "--url", "'ftp://x'")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_init_refuses_a_bad_name(tmp_path: Path, name: str) -> None:
    result = invoke("init", "--home", str(tmp_path / "new"), "--name", name, "--url", "http://127.0.0.1:8470")
    assert_refused(result, "name", "1 to 200 characters")
    assert not (tmp_path / "new").exists()


# --- a home without a node --------------------------------------------------------------------------

FP = "SHA256:" + "A" * 43
NO_NODE_COMMANDS = [
    ["id"],
    ["id", "--json"],
    ["sync"],
    ["serve", "--port", "8470"],
    ["peers", "list"],
    ["peers", "add", "http://127.0.0.1:9", "--fingerprint", FP],
    ["peers", "remove", "pnaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
    ["records", "list"],
    ["records", "add", "FILE"],
    ["records", "show", "abc"],
    ["records", "share", "abc", "--all-peers"],
    ["alerts", "list"],
    ["alerts", "send", "FILE", "--all-peers"],
    ["inbox", "list", "--json"],
    ["records", "edit", "abc", "FILE"],
    ["records", "preview", "abc", "--to", "pnaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
    ["records", "unshare", "abc", "--from", "pnaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
    ["records", "retract", "abc"],
    ["shares", "pending"],
    ["shares", "release", "1", "--version", "1", "--sha256", "sha256:x"],
    ["inbox", "history", "abc"],
    ["inbox", "forward", "abc"],
]


@pytest.mark.parametrize("command", NO_NODE_COMMANDS, ids=[" ".join(c) for c in NO_NODE_COMMANDS])
@pytest.mark.parametrize("exists", [False, True], ids=["missing-dir", "empty-dir"])
def test_commands_on_a_home_without_a_node(tmp_path: Path, command: list[str], exists: bool) -> None:
    content = write(tmp_path / "input.json", json.dumps(RECORD))
    target = tmp_path / "nothing-here"
    if exists:
        target.mkdir()
    args = [content if word == "FILE" else word for word in command]
    result = invoke(*args, "--home", str(target))
    assert_refused(result, "no praevnet node in", str(target), "praevnet init")
    assert target.exists() == exists
    if exists:
        assert list(target.iterdir()) == []


def test_a_key_readable_by_others_is_refused(home: Path) -> None:
    (home / "node.key").chmod(0o644)
    with unchanged(home):
        result = invoke("id", "--home", str(home))
    assert_refused(result, "node.key", "readable by others", "chmod 600")


def test_a_missing_key_is_refused(home: Path) -> None:
    (home / "node.key").unlink()
    with unchanged(home):
        result = invoke("records", "list", "--home", str(home))
    assert_refused(result, "no node key", "praevnet init")


def test_a_broken_config_is_refused(home: Path) -> None:
    (home / "praevnet.toml").write_text('[node]\nname = "Stadt Augsburg"\nurl = "http://127.0.0.1:1"\n[sever]\n')
    with unchanged(home):
        result = invoke("id", "--home", str(home))
    assert_refused(result, "config", "[sever]")


# --- records add ------------------------------------------------------------------------------------

BAD_RECORDS: list[tuple[str, str | bytes, tuple[str, ...]]] = [
    ("not-json", "title: Nachbarschaft\n", ("malformed JSON",)),
    ("empty", "", ("malformed JSON",)),
    ("truncated", '{"title": "a", "summary": ', ("malformed JSON",)),
    ("not-utf8", b'{"title": "\xff", "summary": "s"}', ("input.json",)),
    ("duplicate-key", '{"title": "a", "summary": "s", "title": "b"}', ("duplicate key", "'title'")),
    (
        "nested-duplicate",
        '{"title": "a", "summary": "s", "contact": {"mailbox": "a@b.de", "mailbox": "c@d.de"}}',
        ("duplicate key", "'mailbox'"),
    ),
    ("float", '{"title": "a", "summary": "s", "target_groups": [], "x": 1.5}', ("floating-point", "1.5")),
    ("nan", '{"title": "a", "summary": NaN}', ("NaN",)),
    ("huge-int", '{"title": "a", "summary": "s", "n": 9007199254740993}', ("9007199254740993",)),
    ("unknown-field", '{"title": "a", "summary": "s", "bogus": "x"}', ("bogus", "unknown field")),
    (
        "nested-unknown",
        '{"title": "a", "summary": "s", "implementation": {"budget": "1"}}',
        ("implementation.budget", "unknown field"),
    ),
    ("missing-summary", '{"title": "a"}', ("summary", "required field is missing")),
    ("missing-title", '{"summary": "s"}', ("title", "required field is missing")),
    ("wrong-type", '{"title": 5, "summary": "s"}', ("title", "must be of type string")),
    ("wrong-list-type", '{"title": "a", "summary": "s", "topics": "Schulweg"}', ("topics", "must be of type array")),
    ("bad-enum", '{"title": "a", "summary": "s", "evidence_level": "sehr gut"}', ("evidence_level", "must be one of")),
    ("empty-title", '{"title": "", "summary": "s"}', ("title", "must not be empty")),
    ("array", '[{"title": "a", "summary": "s"}]', ("must be a JSON object",)),
]


@pytest.mark.parametrize(("text", "needles"), [case[1:] for case in BAD_RECORDS], ids=[case[0] for case in BAD_RECORDS])
def test_records_add_refuses_bad_input(home: Path, tmp_path: Path, text: str | bytes, needles: tuple[str, ...]) -> None:
    path = write(tmp_path / "input.json", text)
    with unchanged(home):
        result = invoke("records", "add", path, "--home", str(home))
    assert_refused(result, *needles)


def test_records_add_refuses_a_missing_file(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "gibt-es-nicht.json"
    with unchanged(home):
        result = invoke("records", "add", str(missing), "--home", str(home))
    assert_refused(result, "cannot read", str(missing), "No such file")


def test_records_add_refuses_a_file_over_one_mebibyte(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "big.json", json.dumps({"title": "a", "summary": "x" * (1024 * 1024)}))
    with unchanged(home):
        result = invoke("records", "add", path, "--home", str(home))
    assert_refused(result, "big.json", "larger than 1 MiB")


# --- alerts send ------------------------------------------------------------------------------------


@pytest.fixture
def peer(home: Path) -> FakePeer:
    """A peer that the node in `home` trusts."""
    return trusted_fake_peer(home)


def alert_file(tmp_path: Path, **changes: Any) -> str:
    """An alert file: a valid alert with `changes` applied (a value of None removes the field)."""
    content = alert_content()
    for key, value in changes.items():
        if value is None:
            content.pop(key, None)
        else:
            content[key] = value
    return write(tmp_path / "alert.json", json.dumps(content))


def test_alerts_send_refuses_an_expired_alert(home: Path, tmp_path: Path, peer: FakePeer) -> None:
    path = alert_file(tmp_path, expires=expires_in(-timedelta(hours=1)))
    with unchanged(home):
        result = invoke("alerts", "send", path, "--to", peer.node_id, "--home", str(home))
    assert_refused(result, "expires", "in the past")


def test_alerts_send_refuses_an_alert_without_expiry(home: Path, tmp_path: Path, peer: FakePeer) -> None:
    path = alert_file(tmp_path, expires=None)
    with unchanged(home):
        result = invoke("alerts", "send", path, "--to", peer.node_id, "--home", str(home))
    assert_refused(result, "expires", "required field is missing")


def test_alerts_send_refuses_an_unreadable_expiry(home: Path, tmp_path: Path, peer: FakePeer) -> None:
    path = alert_file(tmp_path, expires="nächste Woche")
    with unchanged(home):
        result = invoke("alerts", "send", path, "--to", peer.node_id, "--home", str(home))
    assert_refused(result, "expires")


def test_alerts_send_refuses_effective_after_expires(home: Path, tmp_path: Path, peer: FakePeer) -> None:
    path = alert_file(tmp_path, effective=expires_in(timedelta(days=30)))
    with unchanged(home):
        result = invoke("alerts", "send", path, "--to", peer.node_id, "--home", str(home))
    assert_refused(result, "expires", "later than effective")


@pytest.mark.parametrize("extra", [{"case_band": "2-2"}, {"case_band": "2-2", "case_count": 2}])
def test_finding_11_alerts_send_refuses_an_officer_written_case_band(
    home: Path, tmp_path: Path, peer: FakePeer, extra: dict[str, Any]
) -> None:
    with unchanged(home):
        result = invoke("alerts", "send", alert_file(tmp_path, **extra), "--to", peer.node_id, "--home", str(home))
    assert_refused(result, "case_band is computed by this node", "give case_count instead")


def test_alerts_send_needs_recipients(home: Path, tmp_path: Path, peer: FakePeer) -> None:
    with unchanged(home):
        result = invoke("alerts", "send", alert_file(tmp_path), "--home", str(home))
    assert_refused(result, "no recipients", "--to", "--all-peers")


def test_alerts_send_refuses_an_unknown_recipient(home: Path, tmp_path: Path, peer: FakePeer) -> None:
    stranger = FakePeer("Stadt Fremd", "http://127.0.0.1:9").node_id
    with unchanged(home):
        result = invoke(
            "alerts", "send", alert_file(tmp_path), "--to", peer.node_id, "--to", stranger, "--home", str(home)
        )
    assert_refused(result, stranger, "not a trusted peer", "nothing was shared")


def test_alerts_send_refuses_both_to_and_all_peers(home: Path, tmp_path: Path, peer: FakePeer) -> None:
    with unchanged(home):
        result = invoke(
            "alerts", "send", alert_file(tmp_path), "--to", peer.node_id, "--all-peers", "--home", str(home)
        )
    assert_refused(result, "not both")


def test_alerts_send_to_all_peers_without_peers(home: Path, tmp_path: Path) -> None:
    with unchanged(home):
        result = invoke("alerts", "send", alert_file(tmp_path), "--all-peers", "--home", str(home))
    assert_refused(result, "no trusted peers", "peers add")


# --- records share ----------------------------------------------------------------------------------


@pytest.fixture
def record_id(home: Path, tmp_path: Path) -> str:
    """The id of a local record in `home`."""
    path = write(tmp_path / "record.json", json.dumps(RECORD))
    return str(ok_json("records", "add", path, "--home", str(home))["id"])


def test_records_share_refuses_an_unknown_record(home: Path, peer: FakePeer) -> None:
    with unchanged(home):
        result = invoke("records", "share", "0" * 32, "--to", peer.node_id, "--home", str(home))
    assert_refused(result, "no record", "with id", "0" * 32)


def test_records_share_needs_recipients(home: Path, record_id: str, peer: FakePeer) -> None:
    with unchanged(home):
        result = invoke("records", "share", record_id, "--home", str(home))
    assert_refused(result, "no recipients")


def test_records_share_refuses_an_unknown_recipient(home: Path, record_id: str) -> None:
    stranger = FakePeer("Stadt Fremd", "http://127.0.0.1:9").node_id
    with unchanged(home):
        result = invoke("records", "share", record_id, "--to", stranger, "--home", str(home))
    assert_refused(result, stranger, "not a trusted peer")


def test_records_show_refuses_an_unknown_record(home: Path, record_id: str) -> None:
    with unchanged(home):
        result = invoke("records", "show", "nope", "--home", str(home))
    assert_refused(result, "no record", "with id", "'nope'")


# --- records edit, preview, unshare, retract; shares release; inbox history -------------------------

UNKNOWN = "0" * 32
NEW_COMMAND_REFUSALS: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("edit-unknown", ["records", "edit", UNKNOWN, "FILE"], ("no record or alert with id", UNKNOWN)),
    ("edit-nothing", ["records", "edit", "RECORD"], ("nothing to change",)),
    ("edit-required-local", ["records", "edit", "RECORD", "--local", "title"], ("--local title", "cannot be marked")),
    ("edit-unknown-local", ["records", "edit", "RECORD", "--local", "bogus"], ("--local bogus", "cannot be marked")),
    ("edit-bad-file", ["records", "edit", "RECORD", "BADFILE"], ("invalid experience", "title")),
    ("preview-unknown", ["records", "preview", UNKNOWN, "--to", "PEER"], ("no record or alert with id", UNKNOWN)),
    ("preview-stranger", ["records", "preview", "RECORD", "--to", "STRANGER"], ("STRANGER", "not a trusted peer")),
    ("unshare-unknown", ["records", "unshare", UNKNOWN, "--from", "PEER"], ("no record or alert with id", UNKNOWN)),
    ("unshare-not-shared", ["records", "unshare", "RECORD", "--from", "PEER"], ("RECORD", "is not shared with PEER")),
    ("retract-unknown", ["records", "retract", UNKNOWN], ("no record or alert with id", UNKNOWN)),
    (
        "release-as-builtin-admin",  # refused before the share is looked up (#11, finding 5)
        ["shares", "release", "999", "--version", "1", "--sha256", "sha256:x"],
        ("the node's built-in admin may not release shares", "--user NAME"),
    ),
    ("history-unknown", ["inbox", "history", "nope"], ("no received record with id 'nope'",)),
    ("forward-unknown", ["inbox", "forward", "nope"], ("no received record with id 'nope'",)),
    ("forward-unknown-origin", ["inbox", "forward", "nope", "--origin", "PEER"], ("no received record", "from")),
]


@pytest.mark.parametrize(
    ("command", "needles"),
    [case[1:] for case in NEW_COMMAND_REFUSALS],
    ids=[case[0] for case in NEW_COMMAND_REFUSALS],
)
def test_sharing_commands_refuse_bad_input(
    home: Path, tmp_path: Path, record_id: str, peer: FakePeer, command: list[str], needles: tuple[str, ...]
) -> None:
    stranger = FakePeer("Stadt Fremd", "http://127.0.0.1:9").node_id
    words = {
        "RECORD": record_id,
        "PEER": peer.node_id,
        "STRANGER": stranger,
        "FILE": write(tmp_path / "edit.json", json.dumps(RECORD)),
        "BADFILE": write(tmp_path / "bad.json", json.dumps({"summary": "s"})),
    }

    def fill(text: str) -> str:
        for word, value in words.items():
            text = text.replace(word, value)
        return text

    with unchanged(home):
        result = invoke(*[words.get(word, word) for word in command], "--home", str(home))
    assert_refused(result, *[fill(needle) for needle in needles])


# --- peers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fingerprint", ["abc", "SHA256:short", "MD5:" + "A" * 43, "SHA256:" + "!" * 43, ""])
def test_peers_add_refuses_a_malformed_fingerprint(home: Path, fingerprint: str) -> None:
    with unchanged(home):
        result = invoke("peers", "add", "http://127.0.0.1:9", "--fingerprint", fingerprint, "--home", str(home))
    assert_refused(result, "is not a fingerprint", "SHA256:")


def test_peers_add_refuses_an_unreachable_node(home: Path) -> None:
    url = unreachable_url()
    with unchanged(home):
        result = invoke("peers", "add", url, "--fingerprint", OTHER_FINGERPRINT, "--home", str(home))
    assert_refused(result, "cannot reach", url)


def test_peers_add_refuses_a_bad_url(home: Path) -> None:
    with unchanged(home):
        result = invoke("peers", "add", "ftp://x", "--fingerprint", OTHER_FINGERPRINT, "--home", str(home))
    assert_refused(result, "'ftp://x'")


def test_peers_add_refuses_a_wrong_fingerprint(home: Path, serving_peer: ServingPeer) -> None:
    with unchanged(home):
        result = invoke("peers", "add", serving_peer.url, "--fingerprint", OTHER_FINGERPRINT, "--home", str(home))
    assert_refused(result, "fingerprint mismatch", serving_peer.fingerprint, OTHER_FINGERPRINT)


def test_peers_add_refuses_a_url_without_a_node(home: Path, serving_peer: ServingPeer) -> None:
    url = f"{serving_peer.url}/elsewhere"
    with unchanged(home):
        result = invoke("peers", "add", url, "--fingerprint", serving_peer.fingerprint, "--home", str(home))
    assert_refused(result, f"{url}/.well-known/praevnet", "404")


def test_peers_add_refuses_the_node_itself(tmp_path: Path, serving_peer: ServingPeer) -> None:
    bonn_home = tmp_path / "bonn"
    with unchanged(bonn_home):
        result = invoke(
            "peers", "add", serving_peer.url, "--fingerprint", serving_peer.fingerprint, "--home", str(bonn_home)
        )
    assert_refused(result, "this node itself")


def test_peers_remove_refuses_an_unknown_peer(home: Path, peer: FakePeer) -> None:
    stranger = FakePeer("Stadt Fremd", "http://127.0.0.1:9").node_id
    with unchanged(home):
        result = invoke("peers", "remove", stranger, "--home", str(home))
    assert_refused(result, stranger, "not a trusted peer")


@pytest.mark.parametrize("name", ["Stadt Köln", "pnzz", "Bonn Land", "x" * 300])
def test_peers_remove_refuses_a_peer_it_does_not_know_listing_the_trusted_ones(
    home: Path, peer: FakePeer, name: str
) -> None:
    with unchanged(home):
        result = invoke("peers", "remove", name, "--home", str(home))
    assert_refused(result, f"{name!r} is not a trusted peer; trusted peers: Stadt Bonn ({peer.node_id})")


# --- --json output ----------------------------------------------------------------------------------


def test_json_output_parses_on_an_empty_node(home: Path) -> None:
    for command in (["peers", "list"], ["records", "list"], ["alerts", "list"], ["inbox", "list"]):
        assert ok_json(*command, "--home", str(home)) == []
    assert ok_json("id", "--home", str(home))["name"] == "Stadt Augsburg"


def test_json_output_parses_with_content(home: Path, tmp_path: Path, record_id: str, peer: FakePeer) -> None:
    node = Node.open(home)
    try:
        ingest(node, peer.node_id, [peer.envelope()])
    finally:
        node.close()
    alert = ok_json("alerts", "send", alert_file(tmp_path), "--to", peer.node_id, "--home", str(home))
    ok("records", "share", record_id, "--to", peer.node_id, "--home", str(home))

    identity = ok_json("id", "--home", str(home))
    assert set(identity) == {"name", "node_id", "url", "ui_url", "fingerprint", "safety_number", "key_id"}
    peers = ok_json("peers", "list", "--home", str(home))
    assert [p["node_id"] for p in peers] == [peer.node_id]
    records = ok_json("records", "list", "--home", str(home))
    assert [r["id"] for r in records] == [record_id]
    shown = ok_json("records", "show", record_id, "--home", str(home))
    assert shown["shared_with"] == [peer.node_id]
    alerts = ok_json("alerts", "list", "--home", str(home))
    assert [a["id"] for a in alerts] == [alert["id"]]
    received = ok_json("inbox", "list", "--home", str(home))
    assert [(item["origin"], item["verified"]) for item in received] == [(peer.node_id, True)]
