"""`praevnet network card|peer|unpeer|peerings`: help, and clean refusals that change nothing.

The end-to-end crossing of records between peered networks is in tests/node/networks/test_peering.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from protocol.canonical import canonical_bytes
from protocol.keys import NodeKey, fingerprint, node_id_for
from protocol.peering import issue_card
from tests.cli.conftest import ServingPeer, invoke, ok, ok_json
from tests.cli.test_bad_input import OTHER_FINGERPRINT, assert_refused, unchanged, write
from tests.ports import unreachable_url

PEERING_COMMANDS = ("card", "peer", "unpeer", "peerings")
OTHER = NodeKey.generate()


def other_card(url: str = "http://127.0.0.1:9") -> bytes:
    operator = NodeKey.generate()
    card = issue_card(
        OTHER,
        name="Sachsen",
        operator_node=node_id_for(operator.public),
        operator_url=url,
        operator_fingerprint=fingerprint(operator.public),
        issued=datetime.now(UTC),
    )
    return canonical_bytes(card)


@pytest.mark.parametrize("command", PEERING_COMMANDS)
def test_every_peering_command_has_help(command: str) -> None:
    result = ok("network", command, "--help")
    assert "--home" in result.stdout
    assert command in ok("network", "--help").stdout
    if command != "card":
        assert "--json" in result.stdout


def test_card_is_signed_by_the_network_key(home: Path) -> None:
    created = ok_json("network", "create", "Brandenburg", "--home", str(home))
    result = ok("network", "card", "--home", str(home))
    card = json.loads(result.stdout)
    assert (card["type"], card["network"], card["name"]) == ("network-card", created["id"], "Brandenburg")
    assert "network key fingerprint: SHA256:" in result.stderr
    assert ok_json("network", "peerings", "--home", str(home)) == []
    assert "no peerings" in ok("network", "peerings", "--home", str(home)).stdout


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["network", "peer", "Brandenburg", "MISSING", "--fingerprint", "FP"], ("is not a file",)),
        (["network", "peer", "Brandenburg", "GARBAGE", "--fingerprint", "FP"], ("not a valid network card",)),
        (["network", "peer", "Brandenburg", "TAMPERED", "--fingerprint", "FP"], ("not a valid network card",)),
        (["network", "peer", "Brandenburg", "CARD", "--fingerprint", "SHA256:short"], ("is not a fingerprint",)),
        (["network", "peer", "Brandenburg", "CARD", "--fingerprint", OTHER_FINGERPRINT], ("fingerprint mismatch",)),
        (["network", "peer", "Brandenburg", "CARD", "--fingerprint", "FP", "--expires", "6y"], ("5 years",)),
        (["network", "peer", "Nope", "CARD", "--fingerprint", "FP"], ("no network called 'Nope'",)),
        (["network", "peer", "Brandenburg", "UNREACHABLE", "--fingerprint", "FP"], ("cannot reach",)),
        (["network", "peer", "Brandenburg", "OWN", "--fingerprint", "OWN_FP"], ("belongs to network",)),
        (["network", "unpeer", "Brandenburg", "Sachsen"], ("does not peer with 'Sachsen'",)),
        (["network", "unpeer", "Nope", "Sachsen"], ("no network called 'Nope'",)),
        (["network", "card", "Nope"], ("no network called 'Nope'",)),
        (["network", "peerings", "Nope"], ("no network called 'Nope'",)),
    ],
)
def test_peering_refusals(home: Path, tmp_path: Path, args: list[str], needles: tuple[str, ...]) -> None:
    ok("network", "create", "Brandenburg", "--home", str(home))
    own = ok("network", "card", "--home", str(home))
    own_fp = own.stderr.strip().rsplit(" ", 1)[1]
    tampered = json.loads(other_card()) | {"name": "Sachsen (falsch)"}
    files = {
        "MISSING": str(tmp_path / "missing.card"),
        "GARBAGE": write(tmp_path / "garbage.card", "{not json"),
        "TAMPERED": write(tmp_path / "tampered.card", canonical_bytes(tampered)),
        "CARD": write(tmp_path / "other.card", other_card()),
        "UNREACHABLE": write(tmp_path / "far.card", other_card(unreachable_url())),
        "OWN": write(tmp_path / "own.card", own.stdout),
        "FP": fingerprint(OTHER.public),
        "OWN_FP": own_fp,
    }
    with unchanged(home):
        result = invoke(*[files.get(word, word) for word in args], "--home", str(home))
    assert_refused(result, *needles)


def test_peering_commands_on_a_node_without_networks(home: Path, tmp_path: Path) -> None:
    card = write(tmp_path / "other.card", other_card())
    with unchanged(home):
        assert_refused(invoke("network", "card", "--home", str(home)), "operates no network")
        peer = invoke("network", "peer", "X", card, "--fingerprint", fingerprint(OTHER.public), "--home", str(home))
        assert_refused(peer, "no network called 'X'")


def test_peer_list_and_unpeer_from_the_command_line(home: Path, tmp_path: Path, serving_peer: ServingPeer) -> None:
    saxony = tmp_path / "bonn"  # the serving peer's home: its operator node is reachable
    ok("network", "create", "Sachsen", "--home", str(saxony))
    card = ok("network", "card", "--home", str(saxony))
    network_fp = card.stderr.strip().rsplit(" ", 1)[1]
    card_file = write(tmp_path / "sachsen.card", card.stdout)
    ok("network", "create", "Brandenburg", "--home", str(home))

    peered = ok_json("network", "peer", "Brandenburg", card_file, "--fingerprint", network_fp, "--home", str(home))
    assert (peered["peer_name"], peered["labels"]) == ("Sachsen", ["TLP:CLEAR"])
    assert serving_peer.node_id in [p["node_id"] for p in ok_json("peers", "list", "--home", str(home))]
    [held] = ok_json("network", "peerings", "--home", str(home))
    assert held["peer_network"] == peered["peer_network"]
    assert "Sachsen" in ok("network", "peerings", "--home", str(home)).stdout

    withdrawn = ok("network", "unpeer", "Brandenburg", "Sachsen", "--home", str(home)).stdout
    assert "no longer peers with Sachsen" in withdrawn
    assert "sent it to 0 member(s)" in withdrawn
    [after] = ok_json("network", "peerings", "--home", str(home))
    assert after["labels"] == []
