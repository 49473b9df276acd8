"""`praevnet network create|admit|join|members|list|revoke|refresh|leave`, and `--network` on shares and alerts.

Bonn (tests/cli/conftest.py) operates the network and serves; Augsburg (`home`) serves too, so that
the operator can fetch its descriptor when admitting it.
"""

from __future__ import annotations

import json
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.home import Node
from tests.cli.conftest import ServingPeer, invoke, ok, ok_json, served_in_thread
from tests.cli.test_bad_input import OTHER_FINGERPRINT, assert_refused, unchanged, write
from tests.conftest import RECORD, alert_content
from tests.ports import Port, unreachable_url

NETWORK_COMMANDS = ("create", "admit", "join", "members", "list", "revoke", "refresh", "leave")


def bonn(tmp_path: Path) -> Path:
    return tmp_path / "bonn"


@pytest.fixture
def served_home(home: Path, home_port: Port) -> Iterator[Path]:
    """Augsburg's home, with its server running in a thread (so that an operator can reach it)."""
    node = Node.open(home)
    try:
        with served_in_thread(node, home_port, "serving-home"):
            yield home
    finally:
        node.close()


def identity(home: Path) -> dict[str, Any]:
    return dict(ok_json("id", "--home", str(home)))


def admit_code(operator: Path, member: Path, *extra: str) -> str:
    who = identity(member)
    result = ok("network", "admit", who["url"], "--fingerprint", who["fingerprint"], *extra, "--home", str(operator))
    return result.stdout.strip()


@pytest.fixture
def joined(served_home: Path, serving_peer: ServingPeer, tmp_path: Path) -> tuple[Path, Path, str]:
    """Bonn operates DEFUS and has admitted Augsburg, which joined; returns both homes and the network id."""
    network = ok_json("network", "create", "DEFUS", "--home", str(bonn(tmp_path)))["id"]
    code = admit_code(bonn(tmp_path), served_home)
    ok("network", "join", code, "--home", str(served_home))
    return served_home, bonn(tmp_path), network


# --- help and registration ----------------------------------------------------------------------


def test_network_group_lists_every_command() -> None:
    result = ok("network", "--help")
    for command in NETWORK_COMMANDS:
        assert command in result.stdout
    assert "network" in ok("--help").stdout


@pytest.mark.parametrize("command", NETWORK_COMMANDS)
def test_every_network_command_has_help(command: str) -> None:
    result = ok("network", command, "--help")
    assert "--home" in result.stdout
    if command in ("members", "list", "refresh", "create", "admit", "join", "revoke", "leave"):
        assert "--json" in result.stdout


def test_share_and_send_take_network() -> None:
    assert "--network NAME" in ok("records", "share", "--help").stdout
    assert "--network NAME" in ok("alerts", "send", "--help").stdout


# --- the workflow -------------------------------------------------------------------------------


def test_create_keeps_the_network_key_apart(home: Path) -> None:
    created = ok_json("network", "create", "DEFUS", "--home", str(home))
    assert created["role"] == "operator"
    assert created["members"] == 1
    key = home / "networks" / f"{created['id']}.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert key.read_bytes() != (home / "node.key").read_bytes()
    listed = ok_json("network", "list", "--home", str(home))
    assert [(n["name"], n["role"], n["revocations_version"]) for n in listed] == [("DEFUS", "operator", 1)]
    human = ok("network", "list", "--home", str(home)).stdout
    assert "DEFUS" in human
    assert "operator" in human


def test_admit_join_share_revoke(joined: tuple[Path, Path, str], tmp_path: Path) -> None:
    augsburg, operator, network = joined
    me, them = identity(augsburg), identity(operator)
    peers = ok_json("peers", "list", "--home", str(augsburg))
    assert [(p["node_id"], p["network"]) for p in peers] == [(them["node_id"], network)]
    members = ok_json("network", "members", "--home", str(augsburg))
    assert {m["node_id"] for m in members["members"]} == {me["node_id"], them["node_id"]}
    register = ok("network", "members", "--home", str(operator)).stdout
    assert me["node_id"] in register
    assert "current" in register
    refreshed = ok_json("network", "refresh", "--home", str(augsburg))
    assert [(r["network"], r.get("error")) for r in refreshed] == [(network, None)]
    assert "DEFUS: 0 newly trusted" in ok("network", "refresh", "DEFUS", "--home", str(augsburg)).stdout

    record = ok_json("records", "add", write(tmp_path / "r.json", json.dumps(RECORD)), "--home", str(augsburg))["id"]
    shared = ok_json("records", "share", record, "--network", "DEFUS", "--home", str(augsburg))
    assert (shared["scope"], shared["recipients"]) == ("network", [them["node_id"]])
    alert = write(tmp_path / "a.json", json.dumps(alert_content()))
    sent = ok_json("alerts", "send", alert, "--network", network, "--home", str(augsburg))
    assert sent["recipients"] == [them["node_id"]]

    revoked = ok_json("network", "revoke", me["node_id"], "--home", str(operator))
    assert (revoked["version"], revoked["untrusted"]) == (2, True)
    assert (revoked["push"]["pushed"], revoked["push"]["failed"]) == ([], [])  # nobody else to tell
    states = {m["node_id"]: m["state"] for m in ok_json("network", "members", "--home", str(operator))["members"]}
    assert states[me["node_id"]] == "revoked"
    failed = invoke("network", "refresh", "--home", str(augsburg))
    assert failed.exit_code == 1
    assert "401" in failed.stdout


def test_leave(joined: tuple[Path, Path, str]) -> None:
    augsburg, operator, network = joined
    me = identity(augsburg)
    result = ok("network", "leave", "DEFUS", "--home", str(augsburg))
    assert f"left DEFUS ({network}); 1 network peer(s) no longer trusted" in result.stdout
    assert "the operator revoked this node's membership (revocation list version 2)" in result.stdout
    assert ok_json("network", "list", "--home", str(augsburg)) == []
    assert ok_json("peers", "list", "--home", str(augsburg)) == []
    states = {m["node_id"]: m["state"] for m in ok_json("network", "members", "--home", str(operator))["members"]}
    assert states[me["node_id"]] == "left"
    actions = [entry["action"] for entry in ok_json("audit", "list", "--home", str(augsburg))]
    assert "network.leave" in actions
    with unchanged(augsburg):
        assert_refused(invoke("network", "leave", "DEFUS", "--home", str(augsburg)), "no network called 'DEFUS'")


@pytest.mark.parametrize("as_json", [True, False])
def test_leave_with_an_unreachable_operator(joined: tuple[Path, Path, str], as_json: bool) -> None:
    augsburg, operator, network = joined
    database = sqlite3.connect(augsburg / "praevnet.db")
    with database:
        database.execute("UPDATE peers SET url = 'http://127.0.0.1:9'")
    database.close()
    if as_json:
        left = ok_json("network", "leave", network, "--json", "--home", str(augsburg))
        assert (left["operator_notified"], left["version"]) == (False, None)
        assert "cannot reach" in left["operator_error"]
    else:
        result = ok("network", "leave", "DEFUS", "--home", str(augsburg))
        assert "left DEFUS" in result.stdout
        assert "WARNING: the operator at" in result.stderr
        assert "was not told: cannot reach" in result.stderr
        assert f"praevnet network revoke {identity(augsburg)['node_id']}" in result.stderr
    assert ok_json("network", "list", "--home", str(augsburg)) == []
    states = {m["node_id"]: m["state"] for m in ok_json("network", "members", "--home", str(operator))["members"]}
    assert states[identity(augsburg)["node_id"]] == "current"  # the operator was not told


def test_join_from_a_file_and_from_stdin(served_home: Path, serving_peer: ServingPeer, tmp_path: Path) -> None:
    ok("network", "create", "DEFUS", "--home", str(bonn(tmp_path)))
    code = admit_code(bonn(tmp_path), served_home, "--expires", "90d", "--role", "member", "--role", "hub")
    path = write(tmp_path / "code.txt", code + "\n")
    result = ok("network", "join", path, "--home", str(served_home))
    assert "joined DEFUS" in result.stdout
    (network,) = ok_json("network", "list", "--home", str(served_home))
    assert network["roles"] == ["hub", "member"]
    assert network["role"] == "member"


# --- bad input: one error line, nothing changed --------------------------------------------------

FP = "SHA256:" + "A" * 43


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["network", "create", ""], ("network name", "1 to 200")),
        (["network", "create", "x" * 201], ("network name", "1 to 200")),
        (["network", "admit", "http://127.0.0.1:9", "--fingerprint", FP], ("operates no network",)),
        (["network", "revoke", "pnaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], ("operates no network",)),
        (["network", "members"], ("belongs to no network",)),
        (["network", "refresh", "DEFUS"], ("no network called 'DEFUS'",)),
        (["network", "join", "pvnet1.AAAA"], ("not a valid network join code",)),
        (["network", "join", "nonsense"], ("neither a network join code",)),
        (["network", "join", "-"], ("neither a network join code",)),
        (["network", "leave", "DEFUS"], ("no network called 'DEFUS'",)),
    ],
)
def test_refusals_on_a_node_without_networks(home: Path, args: list[str], needles: tuple[str, ...]) -> None:
    with unchanged(home):
        result = invoke(*args, "--home", str(home))
    assert_refused(result, *needles)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["network", "create", "DEFUS"], ("already has a network called 'DEFUS'",)),
        (["network", "admit", "http://127.0.0.1:9", "--fingerprint", "SHA256:short"], ("is not a fingerprint",)),
        (["network", "admit", "http://127.0.0.1:9", "--fingerprint", FP, "--expires", "1x"], ("is not a duration",)),
        (["network", "admit", "http://127.0.0.1:9", "--fingerprint", FP, "--expires", "6y"], ("1 minute to 5 years",)),
        (["network", "admit", "ftp://x", "--fingerprint", FP], ("ftp",)),
        (["network", "admit", "URL", "--fingerprint", FP], ("cannot reach",)),
        (["network", "admit", "URL", "--fingerprint", FP, "--network", "Nope"], ("no network called 'Nope'",)),
        (["network", "revoke", "pnaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], ("not a member of DEFUS",)),
        (["network", "revoke", "nonsense"], ("'nonsense' is not a trusted peer",)),
        (["network", "members", "--network", "Nope"], ("no network called 'Nope'",)),
        (["network", "leave", "DEFUS"], ("operates DEFUS", "an operator cannot leave its own network")),
        (["network", "leave", "Nope"], ("no network called 'Nope'",)),
    ],
)
def test_operator_refusals(home: Path, args: list[str], needles: tuple[str, ...]) -> None:
    ok("network", "create", "DEFUS", "--home", str(home))
    args = [unreachable_url() if word == "URL" else word for word in args]
    with unchanged(home):
        result = invoke(*args, "--home", str(home))
    assert_refused(result, *needles)


def test_admit_refuses_a_wrong_fingerprint(served_home: Path, serving_peer: ServingPeer, tmp_path: Path) -> None:
    operator = bonn(tmp_path)
    ok("network", "create", "DEFUS", "--home", str(operator))
    with unchanged(operator):
        result = invoke(
            "network",
            "admit",
            identity(served_home)["url"],
            "--fingerprint",
            OTHER_FINGERPRINT,
            "--home",
            str(operator),
        )
    assert_refused(result, "fingerprint mismatch", OTHER_FINGERPRINT)


def test_join_refuses_a_code_for_another_node(served_home: Path, serving_peer: ServingPeer, tmp_path: Path) -> None:
    ok("network", "create", "DEFUS", "--home", str(bonn(tmp_path)))
    code = admit_code(bonn(tmp_path), served_home)
    other = tmp_path / "chemnitz"
    ok("init", "--home", str(other), "--name", "Stadt Chemnitz", "--url", unreachable_url())
    with unchanged(other):
        result = invoke("network", "join", code, "--home", str(other))
    assert_refused(result, "this join code admits node", "not this node")


def test_a_member_cannot_admit_or_revoke(joined: tuple[Path, Path, str]) -> None:
    augsburg, operator, _ = joined
    with unchanged(augsburg):
        result = invoke("network", "revoke", identity(operator)["node_id"], "--home", str(augsburg))
    assert_refused(result, "operates no network")
    with unchanged(augsburg):
        result = invoke(
            "network", "revoke", identity(operator)["node_id"], "--network", "DEFUS", "--home", str(augsburg)
        )
    assert_refused(result, "does not operate network DEFUS")


def test_network_shares_refuse_bad_scopes(joined: tuple[Path, Path, str], tmp_path: Path) -> None:
    augsburg, operator, _ = joined
    record = ok_json("records", "add", write(tmp_path / "r.json", json.dumps(RECORD)), "--home", str(augsburg))["id"]
    red = ok_json(
        "records", "add", write(tmp_path / "red.json", json.dumps(RECORD)), "--tlp", "red", "--home", str(augsburg)
    )["id"]
    cases = [
        (["records", "share", record, "--network", "Nope"], ("no network called 'Nope'",)),
        (["records", "share", record, "--network", "DEFUS", "--to", identity(operator)["node_id"]], ("cannot be",)),
        (["records", "share", red, "--network", "DEFUS"], ("TLP:RED", "never to network")),
    ]
    for args, needles in cases:
        with unchanged(augsburg):
            result = invoke(*args, "--home", str(augsburg))
        assert_refused(result, *needles)


@pytest.mark.parametrize(
    "command",
    [
        ["network", "list"],
        ["network", "create", "DEFUS"],
        ["network", "members"],
        ["network", "refresh"],
        ["network", "join", "pvnet1.AAAA"],
        ["network", "revoke", "pnaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
        ["network", "admit", "http://127.0.0.1:9", "--fingerprint", FP],
        ["network", "leave", "DEFUS"],
    ],
)
def test_network_commands_on_a_home_without_a_node(tmp_path: Path, command: list[str]) -> None:
    target = tmp_path / "nothing-here"
    result = invoke(*command, "--home", str(target))
    assert_refused(result, "no praevnet node in", str(target))
    assert not target.exists()


def test_admit_from_a_descriptor_file_of_a_node_nobody_can_reach(home: Path, tmp_path: Path) -> None:
    operator = tmp_path / "land"
    ok("init", "--home", str(operator), "--name", "Landesrat", "--url", unreachable_url())
    ok("network", "create", "DEFUS", "--home", str(operator))
    town = identity(home)  # its server is not running: only the file can tell the operator about it
    descriptor = write(tmp_path / "town.json", ok("id", "--descriptor", "--home", str(home)).stdout)
    admitted = ok_json(
        "network", "admit", descriptor, "--fingerprint", town["fingerprint"], "--pull-only", "--home", str(operator)
    )
    assert admitted["pull_only"] is True
    peers = {p["node_id"]: p for p in ok_json("peers", "list", "--home", str(operator))}
    assert peers[town["node_id"]]["pull_only"] is True
    not_a_descriptor = write(tmp_path / "nonsense.json", json.dumps(RECORD))
    with unchanged(operator):
        result = invoke("network", "admit", not_a_descriptor, "--fingerprint", FP, "--home", str(operator))
    assert_refused(result, "nonsense.json is not an acceptable descriptor")
