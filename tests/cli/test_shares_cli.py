"""`praevnet shares pending|list|release`: a release names the version and SHA-256 it approves (finding 2 of #11).

What left is read from the node's outbox, served on loopback and fetched by the trusted peer with
a signed request, as a pulling peer would.
"""

from __future__ import annotations

import json
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import CliRunner, Result

from cli.main import main
from node import audit
from node.home import Node
from node.users import ADMIN, add_user, issue_token, login_password
from protocol.canonical import canonical_bytes
from tests.cli.conftest import served_in_thread, snapshot
from tests.conftest import RECORD, FakePeer, alert_content
from tests.ports import Port, unreachable_url

USERS = {"olga": "officer", "anton": "approver", "berta": "approver", "bernd": "approver"}
PASSWORD = "correct horse battery"


class FourEyes:
    """A four-eyes node in `home`, its users' tokens, a trusted peer, and one record olga asked to share."""

    def __init__(self, home: Path, tmp_path: Path) -> None:
        config = home / "praevnet.toml"
        settings = tomllib.loads(config.read_text(encoding="utf-8"))
        settings.setdefault("release", {})["four_eyes"] = True
        config.write_text(tomli_w.dumps(settings), encoding="utf-8")
        node = Node.open(home)
        try:
            self.tokens = {}
            for name, role in USERS.items():
                add_user(node, name, role, PASSWORD, by=ADMIN)
                self.tokens[name] = issue_token(node, name, by=login_password(node, name, PASSWORD))
            self.peer = FakePeer("Stadt Bonn", unreachable_url()).trusted_by(node)
        finally:
            node.close()
        self.home = home
        path = tmp_path / "record.json"
        path.write_text(json.dumps(RECORD), encoding="utf-8")
        self.record_id = str(self.json("olga", "records", "add", str(path))["id"])
        self.json("olga", "records", "share", self.record_id, "--to", self.peer.node_id)

    def run(self, user: str | None, *args: str) -> Result:
        """`praevnet ARGS --home HOME --user USER`, with USER's token (no user: a command that takes none)."""
        env = {"PRAEVNET_HOME": None, "PRAEVNET_DEBUG": None, "PRAEVNET_TOKEN": self.tokens[user] if user else None}
        acting = ["--user", user] if user else []
        return CliRunner().invoke(main, [*args, "--home", str(self.home), *acting], env=env)

    def json(self, user: str | None, *args: str) -> Any:
        """Run a command that must succeed, with --json, and parse its output."""
        result = self.run(user, *args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def pending(self) -> list[dict[str, Any]]:
        """`shares pending --json`."""
        return list(self.json(None, "shares", "pending"))


@pytest.fixture
def four_eyes(home: Path, tmp_path: Path) -> FourEyes:
    return FourEyes(home, tmp_path)


@pytest.fixture
def outbox(home: Path, home_port: Port, four_eyes: FourEyes) -> Iterator[Any]:
    """A function that returns the envelopes the trusted peer can pull from `home` now."""
    node = Node.open(home)
    try:
        with served_in_thread(node, home_port, "augsburg"):

            def fetch() -> list[dict[str, Any]]:
                url = f"{node.config.url}/fed/v1/outbox?since=0"
                headers = four_eyes.peer.signed_headers("GET", url, b"")
                with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
                    return list(json.loads(response.read())["envelopes"])

            yield fetch
    finally:
        node.close()


def refused(result: Result, *needles: str) -> None:
    """A clean refusal: non-zero exit, no traceback, an error line containing every needle."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exc_info
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_pending_shows_the_version_its_maker_and_the_digest_the_release_needs(four_eyes: FourEyes) -> None:
    [item] = four_eyes.pending()
    assert (item["version"], item["made_by"], item["author"]) == (1, "olga", "olga")
    preview = four_eyes.json("olga", "records", "preview", four_eyes.record_id, "--to", four_eyes.peer.node_id)
    assert item["sha256"] == preview["sha256"]
    human = four_eyes.run(None, "shares", "pending").output
    assert "version 1 made by olga" in human
    assert f"praevnet shares release {item['id']} --version 1 --sha256 {item['sha256']}" in human
    help_text = CliRunner().invoke(main, ["shares", "release", "--help"]).output
    assert "--version N" in help_text
    assert "--sha256 DIGEST" in help_text
    assert "shares pending" in help_text


def test_pending_shows_what_the_approver_releases_title_kind_label_author_and_recipient(four_eyes: FourEyes) -> None:
    [item] = four_eyes.pending()
    assert item["title"] == RECORD["title"]
    lines = four_eyes.run(None, "shares", "pending").stdout.splitlines()
    assert lines[0] == f'share {item["id"]}: experience "{RECORD["title"]}"'
    fields = {name.strip(): value.strip() for name, value in (line.split(": ", 1) for line in lines[1:])}
    assert fields["record"] == f"{four_eyes.record_id} version 1, TLP:AMBER"
    assert fields["to"] == f"Stadt Bonn ({four_eyes.peer.node_id}), named"
    assert fields["requested"].startswith("by olga on ")
    assert fields["sends"] == item["sha256"]


def test_pending_names_an_alert_by_its_headline(four_eyes: FourEyes, tmp_path: Path) -> None:
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(alert_content()), encoding="utf-8")
    four_eyes.json("olga", "alerts", "send", str(path), "--to", "bonn", "--tlp", "red")
    alert = four_eyes.pending()[1]
    assert (alert["kind"], alert["title"], alert["tlp"]) == ("alert", alert_content()["headline"], "TLP:RED")
    assert (
        f'share {alert["id"]}: alert "{alert_content()["headline"]}"' in four_eyes.run(None, "shares", "pending").stdout
    )


def test_list_has_column_headers_and_names_each_peer_with_its_node_id(four_eyes: FourEyes) -> None:
    header, line = four_eyes.run(None, "shares", "list").stdout.splitlines()
    assert " ".join(header.split()) == "ID KIND RECORD VERSION TO NODE ID SCOPE REQUESTED BY STATE"
    assert line.split() == [
        "1",
        "experience",
        four_eyes.record_id,
        "v1",
        "Stadt",
        "Bonn",
        four_eyes.peer.node_id,
        "named",
        "olga",
        "pending",
    ]
    assert header.index("NODE ID") == line.index(four_eyes.peer.node_id)
    assert [item["peer_id"] for item in four_eyes.json(None, "shares", "list")] == [four_eyes.peer.node_id]


@pytest.mark.parametrize(
    ("options", "needles"),
    [
        ([], ("Missing option '--version'",)),
        (["--version", "1"], ("Missing option '--sha256'",)),
        (["--sha256", "DIGEST"], ("Missing option '--version'",)),
        (["--version", "one", "--sha256", "DIGEST"], ("'one' is not a valid integer",)),
        (["--version", "2", "--sha256", "DIGEST"], ("asks to release version 1 of", "not version 2")),
        (["--version", "1", "--sha256", "sha256:" + "A" * 43], ("sends DIGEST, not 'sha256:AAAA",)),
        (["--version", "1", "--sha256", "DIGEST"[:4]], ("sends DIGEST, not 'DIGE'",)),
    ],
    ids=["none", "no-digest", "no-version", "bad-version", "wrong-version", "wrong-digest", "digest-garbage"],
)
def test_release_refuses_a_missing_or_wrong_version_or_digest(
    four_eyes: FourEyes, outbox: Any, options: list[str], needles: tuple[str, ...]
) -> None:
    [item] = four_eyes.pending()
    words = [item["sha256"] if word == "DIGEST" else word for word in options]
    before = snapshot(four_eyes.home)
    result = four_eyes.run("anton", "shares", "release", str(item["id"]), *words)
    refused(result, *[needle.replace("DIGEST", item["sha256"]) for needle in needles])
    assert snapshot(four_eyes.home) == before
    assert outbox() == []


def test_release_after_an_edit_is_refused_and_the_requester_sees_the_share_voided(
    four_eyes: FourEyes, tmp_path: Path, outbox: Any
) -> None:
    [item] = four_eyes.pending()
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps({**RECORD, "summary": "Neu"}), encoding="utf-8")
    four_eyes.json("anton", "records", "edit", four_eyes.record_id, str(edited))
    before = snapshot(four_eyes.home)
    result = four_eyes.run("anton", "shares", "release", str(item["id"]), "--version", "1", "--sha256", item["sha256"])
    refused(result, f"share {item['id']} was voided by the edit to version 2")
    assert snapshot(four_eyes.home) == before
    assert outbox() == []
    [mine] = four_eyes.json(None, "shares", "list", "--requested-by", "olga")
    assert (mine["id"], mine["state"], mine["version"], mine["voided_by_version"]) == (item["id"], "voided", 1, 2)
    human = four_eyes.run(None, "shares", "list", "--requested-by", "olga").output
    assert "voided by the edit to v2 (anton)" in human
    assert four_eyes.json(None, "shares", "list", "--requested-by", "anton") == []


def test_release_with_the_listed_version_and_digest_sends_exactly_those_bytes(four_eyes: FourEyes, outbox: Any) -> None:
    [item] = four_eyes.pending()
    args = ("shares", "release", str(item["id"]), "--version", "1", "--sha256", item["sha256"])
    refused(four_eyes.run("olga", *args), "may not release shares")
    outcome = four_eyes.json("anton", *args)
    assert (outcome["version"], outcome["sha256"]) == (1, item["sha256"])
    [sent] = outbox()
    assert (sent["id"], sent["version"]) == (four_eyes.record_id, 1)
    assert audit.digest_of(canonical_bytes(sent)) == item["sha256"]
    assert four_eyes.pending() == []


def test_four_eyes_through_the_builtin_administrator_fails_end_to_end(
    four_eyes: FourEyes, tmp_path: Path, outbox: Any
) -> None:
    """The attack of finding 5: act as the built-in administrator (no --user), share a record, print an approver's
    token and release the share as that approver. Every step is refused, and nothing reaches the peer."""
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({**RECORD, "summary": "Am Vier-Augen-Prinzip vorbei"}), encoding="utf-8")
    mine = four_eyes.json(None, "records", "add", str(path))["id"]  # the built-in admin may still write
    [item] = four_eyes.pending()  # olga's request
    release_args = ("shares", "release", str(item["id"]), "--version", "1", "--sha256", item["sha256"])
    before = snapshot(four_eyes.home)
    refused(four_eyes.run(None, "records", "share", mine, "--to", four_eyes.peer.node_id), "may not request shares")
    refused(four_eyes.run(None, "users", "token", "bernd"), "a token is shown only to its own user")
    refused(four_eyes.run(None, *release_args), "built-in admin may not release shares", "--user NAME")
    refused(four_eyes.run("anton", "shares", "release", "999", *release_args[3:]), "no share with id 999")
    assert snapshot(four_eyes.home) == before
    assert four_eyes.pending() == [item]

    reset = four_eyes.run(None, "users", "reset-token", "bernd")  # allowed, audited; shows no token
    assert reset.exit_code == 0, reset.output
    assert "pvt_" not in reset.output
    refused(four_eyes.run("bernd", *release_args), "unknown user or wrong token")  # the token bernd had is dead
    assert outbox() == []

    four_eyes.json("anton", *release_args)  # a named approver releases olga's request: that one leaves
    assert [(sent["id"], sent["version"]) for sent in outbox()] == [(four_eyes.record_id, 1)]
