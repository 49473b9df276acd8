"""`show_received`: one record or alert a peer sent, as an officer reads it (CLI `inbox show`, web Bericht)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from node.errors import NodeError, NotFound
from node.exchange.inbox import ingest
from node.exchange.received import show_received
from node.home import Node
from node.trust.peers import mark_verified, remove_peer
from node.users import ADMIN
from tests.conftest import FakePeer, SetClock
from tests.node.conftest import NodeFactory

ALERT = {"headline": "Falsche Handwerker", "area": {"name": "Nordstadt"}, "expires": "2026-12-01T00:00:00Z"}


def accepted(node: Node, peer: FakePeer, *envelopes: dict[str, Any]) -> None:
    """Store `envelopes` from `peer`, each of which must be accepted."""
    results = ingest(node, peer.node_id, list(envelopes))["results"]
    assert [result["status"] for result in results] == ["accepted"] * len(envelopes), results


@pytest.fixture
def node(make_node: NodeFactory) -> Node:
    return make_node("Stadt Augsburg")


@pytest.fixture
def bonn(node: Node) -> FakePeer:
    return FakePeer("Stadt Bonn", "http://127.0.0.1:9").trusted_by(node)


def test_shows_the_newest_version_its_origin_signature_label_and_history(node: Node, bonn: FakePeer) -> None:
    first = {"title": "Schulweg", "summary": "Erste Fassung"}
    second = {"title": "Sicherer Schulweg", "summary": "Zweite Fassung", "topics": ["öffentlicher Raum"]}
    accepted(node, bonn, bonn.envelope(first, record_id="rec-schulweg", tlp="TLP:GREEN"))
    accepted(node, bonn, bonn.envelope(second, record_id="rec-schulweg", version=2, tlp="TLP:AMBER"))

    shown = show_received(node, "rec-schulweg")
    assert shown["content"] == second
    assert (shown["kind"], shown["id"], shown["version"], shown["tlp"]) == (
        "experience",
        "rec-schulweg",
        2,
        "TLP:AMBER",
    )
    assert (shown["origin"], shown["origin_name"]) == (bonn.node_id, "Stadt Bonn")
    assert (shown["verified"], shown["problem"]) == (True, None)
    assert (shown["state"], shown["expired"], shown["retracted"], shown["erased"]) == ("current", False, None, None)
    assert (shown["origin_trusted"], shown["origin_confirmed"], shown["network"]) == (True, None, None)
    assert [(v["version"], v["tlp"], v["kind"], v["verified"]) for v in shown["versions"]] == [
        (1, "TLP:GREEN", "experience", True),
        (2, "TLP:AMBER", "experience", True),
    ]
    assert all("content" not in version for version in shown["versions"])
    json.dumps(shown)  # what the CLI prints with --json and the web page renders


def test_a_confirmed_safety_number_is_shown_with_its_date(node: Node, bonn: FakePeer) -> None:
    accepted(node, bonn, bonn.envelope(record_id="rec-0001"))
    marked = mark_verified(node, bonn.node_id, bonn.fingerprint, by=ADMIN)
    assert show_received(node, "rec-0001")["origin_confirmed"] == marked["verified"]


def test_a_retracted_record_shows_its_state_and_no_content(node: Node, bonn: FakePeer) -> None:
    accepted(
        node,
        bonn,
        bonn.envelope(record_id="rec-retracted"),
        bonn.envelope(kind="retraction", record_id="rec-retracted"),
    )
    shown = show_received(node, "rec-retracted")
    assert shown["state"] == "retracted"
    assert shown["content"] is None
    assert shown["erased"] is not None
    assert shown["retracted"]["version"] == 1
    assert [v["kind"] for v in shown["versions"]] == ["experience", "retraction"]


def test_a_later_version_after_a_retraction_of_an_earlier_one_is_current(node: Node, bonn: FakePeer) -> None:
    accepted(
        node, bonn, bonn.envelope(record_id="rec-renewed"), bonn.envelope(kind="retraction", record_id="rec-renewed")
    )
    accepted(node, bonn, bonn.envelope({"title": "Neu", "summary": "S"}, record_id="rec-renewed", version=2))
    shown = show_received(node, "rec-renewed")
    assert (shown["state"], shown["version"], shown["content"]["title"]) == ("current", 2, "Neu")
    assert shown["retracted"]["version"] == 1


def test_an_alert_shows_its_expiry_and_that_it_expired(node: Node, bonn: FakePeer, clock: SetClock) -> None:
    clock.set(datetime(2026, 11, 22, 8, 0, tzinfo=UTC))
    accepted(node, bonn, bonn.envelope(ALERT, kind="alert", record_id="alert-001"))
    shown = show_received(node, "alert-001")
    assert (shown["kind"], shown["expires"], shown["state"], shown["expired"]) == (
        "alert",
        "2026-12-01T00:00:00Z",
        "current",
        False,
    )
    clock.advance(timedelta(days=9))
    assert (show_received(node, "alert-001")["state"], show_received(node, "alert-001")["expired"]) == ("expired", True)


def test_a_record_whose_origin_is_no_longer_trusted_does_not_verify(node: Node, bonn: FakePeer) -> None:
    accepted(node, bonn, bonn.envelope(record_id="rec-0001"))
    remove_peer(node, bonn.node_id, by=ADMIN)
    shown = show_received(node, "rec-0001")
    assert (shown["verified"], shown["origin_trusted"], shown["origin_name"]) == (False, False, None)
    assert shown["problem"]
    assert shown["versions"][0]["verified"] is False


def test_content_changed_in_the_database_does_not_verify(node: Node, bonn: FakePeer) -> None:
    accepted(node, bonn, bonn.envelope({"title": "Echt", "summary": "S"}, record_id="rec-0001"))
    envelope = json.loads(node.db.execute("SELECT envelope FROM inbox").fetchone()[0])
    envelope["content"]["title"] = "Gefälscht"
    node.db.execute("UPDATE inbox SET envelope = ?", (json.dumps(envelope),))
    shown = show_received(node, "rec-0001")
    assert shown["verified"] is False
    assert shown["content"]["title"] == "Gefälscht"  # shown, but marked as not verifying


@pytest.mark.parametrize("record_id", ["rec-unknown", "", "'; DROP TABLE inbox; --", "x" * 1000])
def test_an_unknown_id_is_not_found(node: Node, bonn: FakePeer, record_id: str) -> None:
    accepted(node, bonn, bonn.envelope(record_id="rec-0001"))
    with pytest.raises(NotFound, match="no received record or alert with id"):
        show_received(node, record_id)


def test_an_id_of_which_only_a_retraction_arrived_is_not_found(node: Node, bonn: FakePeer) -> None:
    accepted(node, bonn, bonn.envelope(kind="retraction", record_id="rec-never"))
    with pytest.raises(NotFound, match="rec-never"):
        show_received(node, "rec-never")


def test_an_id_two_origins_sent_needs_the_origin(node: Node, bonn: FakePeer) -> None:
    koeln = FakePeer("Stadt Köln", "http://127.0.0.1:9").trusted_by(node)
    accepted(node, bonn, bonn.envelope({"title": "Bonn", "summary": "S"}, record_id="rec-same"))
    accepted(node, koeln, koeln.envelope({"title": "Köln", "summary": "S"}, record_id="rec-same"))
    with pytest.raises(NodeError, match="2 peers sent a record with id rec-same") as caught:
        show_received(node, "rec-same")
    assert f"Stadt Bonn ({bonn.node_id})" in str(caught.value)
    assert f"Stadt Köln ({koeln.node_id})" in str(caught.value)
    assert show_received(node, "rec-same", koeln.node_id)["content"]["title"] == "Köln"
    assert show_received(node, "rec-same", bonn.node_id)["content"]["title"] == "Bonn"
    stranger = FakePeer("Stadt X", "http://127.0.0.1:9").node_id
    with pytest.raises(NotFound, match=f"'rec-same' from {stranger}"):
        show_received(node, "rec-same", stranger)
