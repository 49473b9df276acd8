"""`praevnet invite create|list|revoke|accept` and `praevnet peers verify`, against a real node serving in a thread."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner, Result

from cli.main import main
from node.home import Node
from protocol.invite import make_code, new_secret, parse_code
from tests.cli.conftest import PRAEVNET_VARIABLES, ServingPeer, invoke, ok, ok_json, served_in_thread
from tests.cli.test_bad_input import assert_refused, unchanged
from tests.conftest import FakePeer
from tests.ports import Port, unreachable_url

GROUPS = re.compile(r"^    (\d{5} ){3}\d{5}$")


class Terminal(io.BytesIO):
    """Standard input that is a terminal, where somebody typed these bytes."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def serving_home(home: Path, home_port: Port) -> Iterator[None]:
    """Augsburg (`home`) serving at the URL in its config, where Bonn checks it when Augsburg accepts."""
    node = Node.open(home)
    try:
        with served_in_thread(node, home_port, "augsburg"):
            yield
    finally:
        node.close()


def run(*args: str, stdin: str | IO[bytes] | None = None) -> Result:
    """Run `praevnet ARGS` with `stdin` as standard input."""
    return CliRunner().invoke(main, list(args), input=stdin, env=dict.fromkeys(PRAEVNET_VARIABLES))


def bonn_home(tmp_path: Path) -> Path:
    """The serving peer's home (see tests/cli/conftest.py)."""
    return tmp_path / "bonn"


def node_id_of(home: Path) -> str:
    return str(ok_json("id", "--home", str(home))["node_id"])


def peers_of(home: Path) -> list[dict[str, Any]]:
    return list(ok_json("peers", "list", "--home", str(home)))


def new_home(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name.lower()
    ok("init", "--home", str(path), "--name", f"Stadt {name}", "--url", unreachable_url())
    return path


def paired(home: Path, tmp_path: Path) -> tuple[str, str]:
    """Pair `home` (Augsburg) with the serving Bonn by invitation; return both node ids."""
    code = ok_json("invite", "create", "--home", str(bonn_home(tmp_path)))["code"]
    ok("invite", "accept", code, "--home", str(home))
    return node_id_of(home), node_id_of(bonn_home(tmp_path))


# --- invite create and list ------------------------------------------------------------------


def test_create_prints_the_code_alone_on_stdout(home: Path) -> None:
    result = ok("invite", "create", "--home", str(home))
    code = result.stdout.strip()
    assert result.stdout.count("\n") == 1
    invitation = parse_code(code)
    assert invitation.node_id == node_id_of(home)
    assert timedelta(days=6, hours=23) < invitation.expires - datetime.now(UTC) <= timedelta(days=7)
    assert "valid until" in result.stderr
    assert "invite accept" in result.stderr


def test_create_json_with_a_lifetime(home: Path) -> None:
    data = ok_json("invite", "create", "--expires", "30m", "--home", str(home))
    assert set(data) == {"code", "expires", "url", "node_id", "fingerprint"}
    identity = ok_json("id", "--home", str(home))
    assert (data["url"], data["node_id"], data["fingerprint"]) == (
        identity["url"],
        identity["node_id"],
        identity["fingerprint"],
    )
    assert parse_code(data["code"]).expires_text == data["expires"]
    left = parse_code(data["code"]).expires - datetime.now(UTC)
    assert timedelta(minutes=29) < left <= timedelta(minutes=30)


@pytest.mark.parametrize(
    ("lifetime", "words"),
    [("0m", "not a duration"), ("31d", "30 days"), ("soon", "not a duration"), ("", "not a duration")],
)
def test_create_refuses_bad_lifetimes(home: Path, lifetime: str, words: str) -> None:
    with unchanged(home):
        assert_refused(invoke("invite", "create", "--expires", lifetime, "--home", str(home)), words)


def test_create_as_an_unauthenticated_user(home: Path) -> None:
    with unchanged(home):
        assert_refused(invoke("invite", "create", "--user", "erika", "--home", str(home)), "PRAEVNET_TOKEN")


def test_create_without_a_node(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with unchanged(missing):
        assert_refused(invoke("invite", "create", "--home", str(missing)), "no praevnet node")


def test_list(home: Path) -> None:
    assert ok("invite", "list", "--home", str(home)).stdout.startswith("no invitations")
    assert ok_json("invite", "list", "--home", str(home)) == []
    ok("invite", "create", "--home", str(home))
    [item] = ok_json("invite", "list", "--home", str(home))
    assert (item["id"], item["state"], item["created_by"], item["used_by"]) == (1, "open", "admin", None)
    line = ok("invite", "list", "--home", str(home)).stdout
    assert "open" in line
    assert item["expires"] in line
    assert "pvinv1." not in line  # codes are shown once, when made


# --- invite accept -----------------------------------------------------------------------------


@pytest.mark.usefixtures("serving_home")
def test_accept_pairs_both_nodes(home: Path, serving_peer: ServingPeer, tmp_path: Path) -> None:
    bonn = bonn_home(tmp_path)
    code = ok_json("invite", "create", "--home", str(bonn))["code"]
    result = ok("invite", "accept", code, "--home", str(home))
    assert f"paired with Stadt Bonn ({serving_peer.node_id})" in result.stdout
    assert f"praevnet peers verify {serving_peer.node_id}" in result.stdout
    [at_augsburg] = peers_of(home)
    assert (at_augsburg["node_id"], at_augsburg["fingerprint"], at_augsburg["url"]) == (
        serving_peer.node_id,
        serving_peer.fingerprint,
        serving_peer.url,
    )
    augsburg = ok_json("id", "--home", str(home))
    [at_bonn] = peers_of(bonn)
    assert (at_bonn["node_id"], at_bonn["fingerprint"], at_bonn["url"]) == (
        augsburg["node_id"],
        augsburg["fingerprint"],
        augsburg["url"],
    )
    [used] = ok_json("invite", "list", "--home", str(bonn))
    assert (used["state"], used["used_by"]) == ("used", augsburg["node_id"])
    assert "used by " + augsburg["node_id"] in ok("invite", "list", "--home", str(bonn)).stdout


def test_accept_json_pull_only_from_stdin(home: Path, serving_peer: ServingPeer, tmp_path: Path) -> None:
    bonn = bonn_home(tmp_path)
    code = ok_json("invite", "create", "--home", str(bonn))["code"]
    result = run("invite", "accept", "-", "--pull-only", "--json", "--home", str(home), stdin=code + "\n")
    assert result.exit_code == 0, result.output
    assert '"node_id": "' + serving_peer.node_id in result.stdout
    [at_bonn] = peers_of(bonn)
    assert at_bonn["pull_only"] is True
    assert peers_of(home)[0]["pull_only"] is False


def test_accept_from_a_node_not_serving_at_its_url_is_refused(
    home: Path, serving_peer: ServingPeer, tmp_path: Path
) -> None:
    """Finding 4 of issue #11: Bonn checks that Augsburg is at the URL it claims, and nobody serves there."""
    bonn = bonn_home(tmp_path)
    code = ok_json("invite", "create", "--home", str(bonn))["code"]
    with unchanged(home), unchanged(bonn):
        refused = invoke("invite", "accept", code, "--home", str(home))
        assert_refused(refused, "HTTP 403", "cannot reach", "--pull-only")
    [still_open] = ok_json("invite", "list", "--home", str(bonn))
    assert still_open["state"] == "open"


@pytest.mark.usefixtures("serving_home")
def test_a_used_code_is_refused_to_others_and_answered_again_for_its_user(
    home: Path, serving_peer: ServingPeer, tmp_path: Path
) -> None:
    bonn = bonn_home(tmp_path)
    code = ok_json("invite", "create", "--home", str(bonn))["code"]
    ok("invite", "accept", code, "--home", str(home))
    chemnitz = new_home(tmp_path, "Chemnitz")
    bonn_peers = peers_of(bonn)
    with unchanged(chemnitz):
        refused = invoke("invite", "accept", code, "--home", str(chemnitz))
        assert_refused(refused, "invitation unknown, used, revoked or expired")
    again = ok("invite", "accept", code, "--home", str(home))  # as after a lost answer: nothing new either side
    assert f"paired with Stadt Bonn ({serving_peer.node_id})" in again.stdout
    assert peers_of(bonn) == bonn_peers
    assert peers_of(chemnitz) == []
    assert [p["node_id"] for p in peers_of(home)] == [serving_peer.node_id]


def test_revoke_and_list_open(home: Path, serving_peer: ServingPeer, tmp_path: Path) -> None:
    bonn = bonn_home(tmp_path)
    code = ok_json("invite", "create", "--home", str(bonn))["code"]
    ok("invite", "create", "--home", str(bonn))
    revoked = ok_json("invite", "revoke", "1", "--home", str(bonn))
    assert (revoked["id"], revoked["state"], revoked["revoked_by"]) == (1, "revoked", "admin")
    assert "revoked invitation 2" in ok("invite", "revoke", "2", "--home", str(bonn)).stdout
    assert ok_json("invite", "list", "--open", "--home", str(bonn)) == []
    assert "revoked" in ok("invite", "list", "--home", str(bonn)).stdout
    with unchanged(home):
        assert_refused(invoke("invite", "accept", code, "--home", str(home)), "revoked")
    assert peers_of(bonn) == []
    with unchanged(bonn):
        assert_refused(invoke("invite", "revoke", "1", "--home", str(bonn)), "revoked already")
        assert_refused(invoke("invite", "revoke", "7", "--home", str(bonn)), "no invitation 7")
        assert invoke("invite", "revoke", "one", "--home", str(bonn)).exit_code == 2


def test_accept_refuses_an_expired_code_without_contacting(
    home: Path, serving_peer: ServingPeer, tmp_path: Path
) -> None:
    code = make_code(
        url=serving_peer.url,
        node_id=serving_peer.node_id,
        fingerprint=serving_peer.fingerprint,
        secret=new_secret(),
        expires=datetime.now(UTC) - timedelta(minutes=1),
    )
    with unchanged(home, bonn_home(tmp_path)):  # not even a nonce arrived at Bonn
        assert_refused(invoke("invite", "accept", code, "--home", str(home)), "expired")


def test_accept_refuses_a_code_with_another_fingerprint(home: Path, serving_peer: ServingPeer, tmp_path: Path) -> None:
    code = ok_json("invite", "create", "--home", str(bonn_home(tmp_path)))["code"]
    real = parse_code(code)
    other = FakePeer("Stadt Niemand", "http://127.0.0.1:9").fingerprint
    forged = make_code(url=real.url, node_id=real.node_id, fingerprint=other, secret=real.secret, expires=real.expires)
    with unchanged(home, bonn_home(tmp_path)):
        assert_refused(invoke("invite", "accept", forged, "--home", str(home)), "fingerprint mismatch", other)


def test_accept_refuses_an_unreachable_inviter(home: Path) -> None:
    peer = FakePeer("Stadt Fern", unreachable_url())
    code = make_code(
        url=peer.url,
        node_id=peer.node_id,
        fingerprint=peer.fingerprint,
        secret=new_secret(),
        expires=datetime.now(UTC) + timedelta(days=1),
    )
    with unchanged(home):
        assert_refused(invoke("invite", "accept", code, "--home", str(home)), "cannot reach")


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("hello", "must start with pvinv1."),
        ("pvinv1.!!!", "damaged"),
        ("pvinv1.e30", "lacks the field"),
        ("-", "no invitation code on standard input"),
    ],
)
def test_accept_refuses_malformed_codes(home: Path, code: str, words: str) -> None:
    with unchanged(home):
        assert_refused(invoke("invite", "accept", code, "--home", str(home)), words)


def test_accept_as_an_unauthenticated_user(home: Path, serving_peer: ServingPeer, tmp_path: Path) -> None:
    code = ok_json("invite", "create", "--home", str(bonn_home(tmp_path)))["code"]
    with unchanged(home, bonn_home(tmp_path)):
        assert_refused(invoke("invite", "accept", code, "--user", "erika", "--home", str(home)), "PRAEVNET_TOKEN")


# --- peers verify --------------------------------------------------------------------------------


def number_lines(result: Result) -> list[str]:
    return [line for line in result.stdout.splitlines() if GROUPS.match(line)]


@pytest.mark.usefixtures("serving_home")
def test_verify_shows_the_same_digits_on_both_sides(home: Path, serving_peer: ServingPeer, tmp_path: Path) -> None:
    augsburg_id, bonn_id = paired(home, tmp_path)
    here = ok("peers", "verify", bonn_id, "--home", str(home))
    there = ok("peers", "verify", augsburg_id, "--home", str(bonn_home(tmp_path)))
    assert len(number_lines(here)) == 3
    assert number_lines(here) == number_lines(there)
    assert "not marked verified" in here.stdout
    assert "Stadt Bonn" in here.stdout
    assert peers_of(home)[0]["verified"] is None


@pytest.mark.usefixtures("serving_home")
def test_verify_with_yes_marks_the_peer(home: Path, serving_peer: ServingPeer, tmp_path: Path) -> None:
    _, bonn_id = paired(home, tmp_path)
    result = ok("peers", "verify", bonn_id, "--yes", "--home", str(home))
    assert len(number_lines(result)) == 3
    assert f"marked Stadt Bonn ({bonn_id}) verified" in result.stdout
    [peer] = peers_of(home)
    assert peer["verified"] is not None
    assert peer["verified_by"] == "admin"
    assert ok("peers", "list", "--home", str(home)).stdout.rstrip().endswith("verified")
    entries = ok_json("audit", "list", "--home", str(home))
    assert [e["recipients"] for e in entries if e["action"] == "peer.verify"] == [[bonn_id]]
    again = ok("peers", "verify", bonn_id, "--home", str(home))
    assert "verified on " in again.stdout


@pytest.mark.usefixtures("serving_home")
@pytest.mark.parametrize(("answer", "marked"), [("y\n", True), ("n\n", False), ("\n", False)])
def test_verify_asks_at_a_terminal(
    home: Path, serving_peer: ServingPeer, tmp_path: Path, answer: str, marked: bool
) -> None:
    _, bonn_id = paired(home, tmp_path)
    result = run("peers", "verify", bonn_id, "--home", str(home), stdin=Terminal(answer.encode()))
    assert result.exit_code == 0, result.output
    assert "Does the other officer read exactly these digits? [y/N]" in result.stdout
    assert (peers_of(home)[0]["verified"] is not None) is marked
    assert ("do not exchange anything" in result.stdout) is not marked


def test_verify_refuses_an_unknown_peer(home: Path) -> None:
    stranger = FakePeer("Stadt X", "http://127.0.0.1:9").node_id
    with unchanged(home):
        assert_refused(invoke("peers", "verify", stranger, "--yes", "--home", str(home)), "not a trusted peer")


@pytest.mark.usefixtures("serving_home")
def test_verify_as_an_unauthenticated_user(home: Path, serving_peer: ServingPeer, tmp_path: Path) -> None:
    _, bonn_id = paired(home, tmp_path)
    with unchanged(home):
        result = invoke("peers", "verify", bonn_id, "--yes", "--user", "erika", "--home", str(home))
        assert_refused(result, "PRAEVNET_TOKEN")
