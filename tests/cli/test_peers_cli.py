"""The delivery commands: `id --descriptor`, pairing from a file, `peers status`, `peers retry`, `sync --json`.

Every refusal is one `Error:` line, a non-zero exit, and leaves the home exactly as it was.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from node.home import Node
from node.sharing.chain import note_delivery
from node.sharing.records import add_record
from node.sharing.shares import share_record
from node.store import now
from node.trust.peers import trust_descriptor
from node.users import ADMIN
from protocol.descriptor import build_descriptor, verify_descriptor
from protocol.keys import fingerprint
from tests.cli.conftest import ServingPeer, invoke, ok, ok_json
from tests.cli.test_bad_input import assert_refused, unchanged
from tests.conftest import RECORD, FakePeer
from tests.ports import unreachable_url

OTHER_FINGERPRINT = FakePeer("Stadt Niemand", "http://127.0.0.1:9").fingerprint
STATUS_FIELDS = {
    "node_id",
    "name",
    "url",
    "pull_only",
    "queued",
    "in_flight",
    "delivered",
    "refused",
    "failures",
    "last_success",
    "last_error",
    "next_retry",
    "our_cursor_in_their_outbox",
    "their_cursor_in_our_outbox",
    "our_outbox_end_for_them",
    "forks_refused",
    "chain_fork",
}


def with_node(home: Path) -> Node:
    """Open a node for a direct look or change (the caller closes it)."""
    return Node.open(home)


@pytest.fixture
def bonn(tmp_path: Path) -> Path:
    """A second node, Stadt Bonn, that nobody can reach (its URL has no server)."""
    path = tmp_path / "bonn-offline"
    ok("init", "--home", str(path), "--name", "Stadt Bonn", "--url", unreachable_url())
    return path


def descriptor_file(home: Path, path: Path) -> Path:
    """`praevnet id --descriptor > path`."""
    path.write_text(ok("id", "--descriptor", "--home", str(home)).stdout, encoding="utf-8")
    return path


def identity(home: Path) -> dict[str, Any]:
    return dict(ok_json("id", "--home", str(home)))


def fake_peer_with_queue(home: Path, queued: int) -> FakePeer:
    """A trusted peer (known only by its key, unreachable) with `queued` records shared with it."""
    node = with_node(home)
    try:
        peer = FakePeer("Stadt Köln", unreachable_url()).trusted_by(node)
        for n in range(queued):
            record_id = add_record(node, "experience", {**RECORD, "title": f"Bericht {n}"}, by=ADMIN)
            share_record(node, record_id, [peer.node_id], all_peers=False, by=ADMIN)
        return peer
    finally:
        node.close()


# --- id --descriptor ---------------------------------------------------------------------------------


def test_id_descriptor_prints_a_descriptor_that_verifies(home: Path) -> None:
    with unchanged(home):
        result = ok("id", "--descriptor", "--home", str(home))
    descriptor = verify_descriptor(json.loads(result.stdout), now=now())
    me = identity(home)
    assert (descriptor["node_id"], descriptor["name"], descriptor["url"]) == (me["node_id"], me["name"], me["url"])
    keys = descriptor["keys"]
    node = with_node(home)
    try:
        assert keys == {node.key.key_id: node.key.public_b64}
        assert fingerprint(node.key.public) == me["fingerprint"]
    finally:
        node.close()
    valid_until = datetime.fromisoformat(descriptor["valid_until"].replace("Z", "+00:00"))
    assert datetime.now(UTC) + timedelta(days=6) < valid_until <= datetime.now(UTC) + timedelta(days=7, minutes=1)
    assert result.stderr == ""
    assert ok("id", "--descriptor", "--json", "--home", str(home)).stdout.startswith("{")  # JSON either way


# --- peers add FILE ----------------------------------------------------------------------------------


def test_peers_add_from_a_descriptor_file_pull_only(home: Path, bonn: Path, tmp_path: Path) -> None:
    path = descriptor_file(bonn, tmp_path / "bonn.json")
    theirs = identity(bonn)
    added = ok("peers", "add", str(path), "--fingerprint", theirs["fingerprint"], "--pull-only", "--home", str(home))
    assert added.stdout == f"trusted Stadt Bonn ({theirs['node_id']}) at {theirs['url']} (pull-only)\n"

    [peer] = ok_json("peers", "list", "--home", str(home))
    assert (peer["node_id"], peer["url"], peer["fingerprint"], peer["pull_only"]) == (
        theirs["node_id"],
        theirs["url"],
        theirs["fingerprint"],
        True,
    )
    assert "pull-only" in ok("peers", "list", "--home", str(home)).stdout
    [status] = ok_json("peers", "status", "--home", str(home))
    assert (status["node_id"], status["pull_only"]) == (theirs["node_id"], True)
    assert "(pull-only)" in ok("peers", "status", "--home", str(home)).stdout


def test_peers_add_from_a_file_with_json_output(home: Path, bonn: Path, tmp_path: Path) -> None:
    path = descriptor_file(bonn, tmp_path / "bonn.json")
    theirs = identity(bonn)
    peer = ok_json("peers", "add", str(path), "--fingerprint", theirs["fingerprint"], "--home", str(home))
    assert (peer["node_id"], peer["pull_only"]) == (theirs["node_id"], False)


def _bad_file(case: str, home: Path, bonn: Path, path: Path) -> tuple[str, tuple[str, ...]]:
    """Prepare `path` for a bad `peers add` case; return the fingerprint to give and words of the error."""
    theirs = identity(bonn)
    if case == "missing file":
        return theirs["fingerprint"], ("cannot read", str(path))
    descriptor_file(bonn, path)
    if case == "malformed fingerprint":
        return "SHA256:short", ("is not a fingerprint",)
    if case == "wrong fingerprint":
        return OTHER_FINGERPRINT, ("fingerprint mismatch", OTHER_FINGERPRINT, theirs["fingerprint"])
    if case == "tampered":
        descriptor = json.loads(path.read_text(encoding="utf-8"))
        descriptor["url"] = "https://praevnet.example"
        path.write_text(json.dumps(descriptor), encoding="utf-8")
        return theirs["fingerprint"], ("not an acceptable descriptor", "signature")
    if case == "expired":
        node = with_node(bonn)
        try:
            old = build_descriptor(
                [node.key],
                node_id=node.node_id,
                name=node.config.name,
                url=node.config.url,
                valid_until=datetime.now(UTC) - timedelta(hours=1),
            )
        finally:
            node.close()
        path.write_text(json.dumps(old), encoding="utf-8")
        return theirs["fingerprint"], ("expired",)
    if case == "not json":
        path.write_text("trusted Stadt Bonn\n", encoding="utf-8")
        return theirs["fingerprint"], (str(path),)
    if case == "own descriptor":
        descriptor_file(home, path)
        return identity(home)["fingerprint"], ("this node itself",)
    raise AssertionError(case)


@pytest.mark.parametrize("pull_only", [False, True], ids=["push", "pull-only"])
@pytest.mark.parametrize(
    "case",
    ["missing file", "malformed fingerprint", "wrong fingerprint", "tampered", "expired", "not json", "own descriptor"],
)
def test_peers_add_from_a_bad_file_is_refused_and_changes_nothing(
    home: Path, bonn: Path, tmp_path: Path, case: str, pull_only: bool
) -> None:
    path = tmp_path / "bonn.json"
    fp, needles = _bad_file(case, home, bonn, path)
    flags = ["--pull-only"] if pull_only else []
    with unchanged(home):
        result = invoke("peers", "add", str(path), "--fingerprint", fp, *flags, "--home", str(home))
    assert_refused(result, *needles)
    assert ok_json("peers", "list", "--home", str(home)) == []


def test_a_failed_re_pairing_from_a_file_keeps_the_peer_as_it_was(home: Path, bonn: Path, tmp_path: Path) -> None:
    good = descriptor_file(bonn, tmp_path / "good.json")
    theirs = identity(bonn)
    ok("peers", "add", str(good), "--fingerprint", theirs["fingerprint"], "--home", str(home))
    before = ok_json("peers", "list", "--home", str(home))
    fp, needles = _bad_file("tampered", home, bonn, tmp_path / "bad.json")
    with unchanged(home):
        result = invoke(
            "peers", "add", str(tmp_path / "bad.json"), "--fingerprint", fp, "--pull-only", "--home", str(home)
        )
    assert_refused(result, *needles)
    assert ok_json("peers", "list", "--home", str(home)) == before


# --- peers status ------------------------------------------------------------------------------------


def test_peers_status_without_peers(home: Path) -> None:
    with unchanged(home):
        assert ok("peers", "status", "--home", str(home)).stdout == "no trusted peers\n"
        assert ok_json("peers", "status", "--home", str(home)) == []


def test_peers_status_with_peers(home: Path, bonn: Path, tmp_path: Path) -> None:
    peer = fake_peer_with_queue(home, 2)
    path = descriptor_file(bonn, tmp_path / "b.json")
    ok("peers", "add", str(path), "--fingerprint", identity(bonn)["fingerprint"], "--pull-only", "--home", str(home))

    with unchanged(home):
        items = ok_json("peers", "status", "--home", str(home))
        human = ok("peers", "status", "--home", str(home)).stdout
    assert [item["name"] for item in items] == ["Stadt Bonn", "Stadt Köln"]
    assert all(set(item) == STATUS_FIELDS for item in items)
    cologne = items[1]
    assert cologne["node_id"] == peer.node_id
    assert (cologne["queued"], cologne["in_flight"], cologne["delivered"], cologne["refused"]) == (2, 0, 0, 0)
    assert (cologne["failures"], cologne["last_error"], cologne["next_retry"]) == (0, None, None)
    assert cologne["our_outbox_end_for_them"] == 2
    assert items[0]["queued"] == 0
    assert f"Stadt Köln {peer.node_id}\n" in human
    assert "queued 2 (in flight 0), delivered 0, refused 0, forks refused 0" in human
    assert "last success never; next retry now" in human
    assert "ours in their outbox 0, theirs in ours 0 of 2" in human
    assert "last error" not in human
    assert "FORK" not in human
    assert "held" not in human

    node = with_node(home)
    try:
        node.db.execute(
            "UPDATE peers SET failures = 3, next_attempt = ?, last_error = ? WHERE node_id = ?",
            (time.time() + 600, "2026-01-01T00:00:00Z cannot reach http://127.0.0.1:1: refused", peer.node_id),
        )
    finally:
        node.close()
    [_, waiting] = ok_json("peers", "status", "--home", str(home))
    assert waiting["failures"] == 3
    assert waiting["next_retry"] is not None
    human = ok("peers", "status", "--home", str(home)).stdout
    assert "last error (3 sends failed in a row): 2026-01-01T00:00:00Z cannot reach" in human
    assert f"next retry {waiting['next_retry']}" in human


def test_peers_status_shows_a_fork_refusal_of_our_own_envelope(home: Path) -> None:
    peer = fake_peer_with_queue(home, 1)
    node = with_node(home)
    try:
        note_delivery(node, peer.node_id, [(1, "refused", "fork: origin already sent a different envelope with seq 1")])
    finally:
        node.close()
    [cologne] = ok_json("peers", "status", "--home", str(home))
    assert cologne["chain_fork"].endswith("seq 1: fork: origin already sent a different envelope with seq 1")
    human = ok("peers", "status", "--home", str(home)).stdout
    assert human.startswith("this node's own envelopes are held until its peers tell it its chain head: ")
    assert "Stadt Köln refused seq 1 of this node's chain as a fork" in human
    assert f"  FORK: it refused this node's own envelope as a fork: {cologne['chain_fork']}\n" in human


# --- peers retry -------------------------------------------------------------------------------------


@pytest.mark.parametrize("queued", [0, 3])
def test_peers_retry_prints_the_queue_depth_and_ends_the_wait(home: Path, queued: int) -> None:
    peer = fake_peer_with_queue(home, queued)
    node = with_node(home)
    try:
        node.db.execute(
            "UPDATE peers SET failures = 2, next_attempt = ? WHERE node_id = ?", (time.time() + 600, peer.node_id)
        )
    finally:
        node.close()
    result = ok("peers", "retry", peer.node_id, "--home", str(home))
    assert result.stdout == f"{peer.node_id}: {queued} envelope(s) queued; a running node sends them now\n"
    node = with_node(home)
    try:
        assert node.db.execute("SELECT next_attempt FROM peers").fetchone()[0] == 0
    finally:
        node.close()


@pytest.mark.parametrize(
    "peer_id", [FakePeer("Stadt Fremd", "http://127.0.0.1:9").node_id, "nobody"], ids=["stranger", "nobody"]
)
def test_peers_retry_for_an_unknown_peer_fails_with_one_line(home: Path, peer_id: str) -> None:
    fake_peer_with_queue(home, 1)
    with unchanged(home):
        result = invoke("peers", "retry", peer_id, "--home", str(home))
    assert_refused(result, peer_id, "not a trusted peer")


# --- sync --json -------------------------------------------------------------------------------------


def test_sync_json_without_peers_prints_json_only(home: Path) -> None:
    result = ok("sync", "--json", "--home", str(home))
    assert json.loads(result.stdout) == []
    assert result.stderr == ""


def test_sync_json_prints_json_only(
    home: Path, tmp_path: Path, serving_peer: ServingPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cli.main.PROGRESS_FROM", 0)  # progress would be shown for any pull
    monkeypatch.setattr("node.exchange.pull.PAGE_SIZE", 2)  # several pages, so progress is reported several times
    ok("peers", "add", serving_peer.url, "--fingerprint", serving_peer.fingerprint, "--home", str(home))
    ours = with_node(home)
    theirs = with_node(tmp_path / "bonn")
    try:
        trust_descriptor(theirs, ours.config.url, ours.fingerprint, ours.descriptor())
        for n in range(5):
            record_id = add_record(theirs, "experience", {**RECORD, "title": f"Aus Bonn {n}"}, by=ADMIN)
            share_record(theirs, record_id, [ours.node_id], all_peers=False, by=ADMIN)
    finally:
        ours.close()
        theirs.close()
    result = ok("sync", "--json", "--home", str(home))
    [report] = json.loads(result.stdout)
    assert (report["peer"], report["name"], report["accepted"], report["cursor"]) == (
        serving_peer.node_id,
        "Stadt Bonn",
        5,
        5,
    )
    assert result.stderr == ""
    human = ok("sync", "--home", str(home)).stdout
    assert human == "Stadt Bonn: 0 accepted, 0 duplicate, 0 refused\n"


def test_sync_json_with_a_failing_peer_still_prints_json_only(home: Path) -> None:
    peer = fake_peer_with_queue(home, 0)
    result = invoke("sync", "--json", "--home", str(home))
    assert result.exit_code == 1
    [report] = json.loads(result.stdout)
    assert report["peer"] == peer.node_id
    assert "cannot reach" in report["error"]
    assert result.stderr == ""
