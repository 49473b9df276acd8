"""An officer's everyday work through the CLI: set up a node, keep records and alerts, pair and share."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from cli.main import main
from tests.cli.conftest import PRAEVNET_VARIABLES, ServingPeer, invoke, ok, ok_json
from tests.conftest import RECORD, alert_content
from tests.ports import unreachable_url

NODE_ID = re.compile(r"^pn[a-z2-7]{32}$")


def write_json(path: Path, data: object) -> str:
    """Write a JSON input file and return its path as a CLI argument."""
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_init_and_id(tmp_path: Path) -> None:
    home = tmp_path / "augsburg"
    url = unreachable_url()
    created = ok("init", "--home", str(home), "--name", "  Stadt Augsburg ", "--url", url + "/")
    assert sorted(path.name for path in home.iterdir()) == ["node.key", "praevnet.db", "praevnet.toml"]
    assert (home / "node.key").stat().st_mode & 0o777 == 0o600

    identity = ok_json("id", "--home", str(home))
    assert set(identity) == {"name", "node_id", "url", "ui_url", "fingerprint", "safety_number", "key_id"}
    assert identity["name"] == "Stadt Augsburg"
    assert identity["url"] == url
    assert NODE_ID.match(identity["node_id"]), identity
    assert re.fullmatch(r"SHA256:[A-Za-z0-9+/]{43}", identity["fingerprint"]), identity
    assert re.fullmatch(r"\d{5}( \d{5})+", identity["safety_number"]), identity
    assert identity["node_id"] in created.output
    assert identity["fingerprint"] in created.output

    human = ok("id", "--home", str(home)).output
    for value in identity.values():
        assert value in human
    assert ok_json("id", "--home", str(home)) == identity  # stable across openings


def test_home_defaults_to_praevnet_home(tmp_path: Path) -> None:
    home = tmp_path / "from-env"
    env = {**dict.fromkeys(PRAEVNET_VARIABLES), "PRAEVNET_HOME": str(home)}
    result = CliRunner().invoke(main, ["init", "--name", "Stadt Bonn", "--url", "http://127.0.0.1:8470"], env=env)
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["id", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] == "Stadt Bonn"
    assert json.loads(ok("id", "--json", "--home", str(home)).stdout) == json.loads(result.stdout)


def test_records_add_list_show_keep_local_notes_visible_locally(home: Path, tmp_path: Path) -> None:
    assert "nothing here yet" in ok("records", "list", "--home", str(home)).output
    first = ok("records", "add", write_json(tmp_path / "one.json", RECORD), "--home", str(home)).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", first), first
    second_record = {"title": "Zweiter Bericht", "summary": "Kurz.", "internal_notes": "nur hier"}
    second = ok_json("records", "add", write_json(tmp_path / "two.json", second_record), "--home", str(home))["id"]

    listed = ok_json("records", "list", "--home", str(home))
    assert [item["id"] for item in listed] == [second, first]  # newest first
    assert listed[1]["content"] == RECORD  # including internal_notes: this is the node's own view
    assert all(item["shared_with"] == [] and item["kind"] == "experience" for item in listed)

    shown = ok_json("records", "show", first, "--home", str(home))
    assert shown["content"]["internal_notes"] == RECORD["internal_notes"]
    assert shown["shared_with"] == []
    assert {key: shown[key] for key in listed[1]} == listed[1]
    assert RECORD["internal_notes"] in ok("records", "show", first, "--home", str(home)).output

    human = ok("records", "list", "--home", str(home)).output
    assert first in human
    assert second in human
    assert "local" in human
    assert RECORD["title"] in human

    assert ok_json("alerts", "list", "--home", str(home)) == []  # records are not alerts
    assert "nothing here yet" in ok("alerts", "list", "--home", str(home)).output


def test_pair_share_send_and_remove(home: Path, tmp_path: Path, serving_peer: ServingPeer) -> None:
    assert "no trusted peers" in ok("peers", "list", "--home", str(home)).output
    added = ok_json("peers", "add", serving_peer.url, "--fingerprint", serving_peer.fingerprint, "--home", str(home))
    assert added["node_id"] == serving_peer.node_id
    assert added["name"] == serving_peer.name
    assert added["fingerprint"] == serving_peer.fingerprint
    peers = ok_json("peers", "list", "--home", str(home))
    assert [peer["node_id"] for peer in peers] == [serving_peer.node_id]
    assert serving_peer.url in ok("peers", "list", "--home", str(home)).output
    again = ok("peers", "add", serving_peer.url, "--fingerprint", serving_peer.fingerprint, "--home", str(home))
    assert "trusted Stadt Bonn" in again.output  # pairing twice is harmless
    assert len(ok_json("peers", "list", "--home", str(home))) == 1

    record_id = ok_json("records", "add", write_json(tmp_path / "record.json", RECORD), "--home", str(home))["id"]
    shared = ok("records", "share", record_id, "--to", serving_peer.node_id, "--home", str(home))
    assert f"shared {record_id} with 1 peer(s): {serving_peer.node_id}" in shared.output
    ok("records", "share", record_id, "--all-peers", "--home", str(home))  # shares add up, never duplicate
    shown = ok_json("records", "show", record_id, "--home", str(home))
    assert shown["shared_with"] == [serving_peer.node_id]
    assert shown["content"] == RECORD  # local notes remain visible locally after sharing
    assert "shared with 1" in ok("records", "list", "--home", str(home)).output

    alert = alert_content()
    sent = ok_json("alerts", "send", write_json(tmp_path / "alert.json", alert), "--all-peers", "--home", str(home))
    assert sent["recipients"] == [serving_peer.node_id]
    alerts = ok_json("alerts", "list", "--home", str(home))
    assert [(item["id"], item["kind"]) for item in alerts] == [(sent["id"], "alert")]
    assert alerts[0]["content"] == alert
    assert alerts[0]["shared_with"] == [serving_peer.node_id]
    assert alert["headline"] in ok("alerts", "list", "--home", str(home)).output
    assert [item["id"] for item in ok_json("records", "list", "--home", str(home))] == [record_id]

    human_send = ok(
        "alerts", "send", write_json(tmp_path / "alert2.json", alert), "--to", serving_peer.node_id, "--home", str(home)
    )
    assert "1 peer(s)" in human_send.output
    assert len(ok_json("alerts", "list", "--home", str(home))) == 2

    removed = ok("peers", "remove", serving_peer.node_id, "--home", str(home))
    assert f"removed {serving_peer.node_id}" in removed.output
    assert ok_json("peers", "list", "--home", str(home)) == []
    refused = invoke("records", "share", record_id, "--to", serving_peer.node_id, "--home", str(home))
    assert refused.exit_code == 1
    assert "not a trusted peer" in refused.stderr


def test_sync_without_peers_and_empty_inbox(home: Path) -> None:
    assert ok_json("sync", "--home", str(home)) == []
    assert "no trusted peers" in ok("sync", "--home", str(home)).output
    assert "the inbox is empty" in ok("inbox", "list", "--home", str(home)).output


def test_version(home: Path) -> None:
    result = ok("--version")
    assert "0.1.0" in result.output
