"""Network cards, peering statements and crossing attachments (protocol.peering), without any node."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from protocol.errors import ProtocolError
from protocol.keys import NodeKey, fingerprint, node_id_for
from protocol.network import issue_certificate, issue_revocations
from protocol.peering import (
    check_crossing,
    crossing_attachment,
    issue_card,
    issue_peering,
    newest_revocations,
    parse_crossing,
    verify_card,
    verify_peering,
)
from protocol.tlp import CLEAR, GREEN

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
X, Y, ORIGIN = NodeKey.from_seed(bytes(32)), NodeKey.from_seed(bytes([1]) * 32), NodeKey.from_seed(bytes([2]) * 32)
ORIGIN_ID = node_id_for(ORIGIN.public)


def card() -> dict[str, Any]:
    return issue_card(
        X,
        name="Brandenburg",
        operator_node=ORIGIN_ID,
        operator_url="https://praevnet.brandenburg.example",
        operator_fingerprint=fingerprint(ORIGIN.public),
        issued=NOW,
    )


def statement(**changes: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "peer_key": X.public,
        "not_before": NOW - timedelta(days=1),
        "expires": NOW + timedelta(days=1),
        "serial": 3,
    } | changes
    return issue_peering(Y, **settings)


def certificate(key: NodeKey = X, **changes: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "node_id": ORIGIN_ID,
        "fingerprint": fingerprint(ORIGIN.public),
        "roles": ["member"],
        "not_before": NOW - timedelta(days=1),
        "expires": NOW + timedelta(days=30),
        "serial": 7,
    } | changes
    return issue_certificate(key, **settings)


def revocations(version: int = 1, revoked: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return issue_revocations(X, version=version, issued=NOW, expires=NOW + timedelta(days=7), revoked=revoked or [])


def test_a_card_verifies_and_names_its_network() -> None:
    verified = verify_card(card())
    assert (verified.name, verified.key, verified.operator_node) == ("Brandenburg", X.public, ORIGIN_ID)


@pytest.mark.parametrize("change", [{"name": "Sachsen"}, {"key": Y.public_b64}, {"type": "membership"}, {"x": 1}])
def test_an_altered_card_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        verify_card(card() | change)


def test_a_statement_verifies_only_with_its_network_key_and_without_rollback() -> None:
    peering = verify_peering(statement(), Y.public, held_serial=3)
    assert (peering.labels, peering.serial) == ((CLEAR,), 3)
    assert peering.problem(CLEAR, NOW) is None
    assert "may not cross" in str(peering.problem(GREEN, NOW))
    assert "expired" in str(peering.problem(CLEAR, NOW + timedelta(days=2)))
    with pytest.raises(ProtocolError, match="rolled back"):
        verify_peering(statement(), Y.public, held_serial=4)
    with pytest.raises(ProtocolError, match="signature"):
        verify_peering(statement(), X.public)
    withdrawn = verify_peering(statement(labels=(), serial=4), Y.public)
    assert "withdrawn" in str(withdrawn.problem(CLEAR, NOW))


def test_statements_refuse_other_labels_and_self_peering() -> None:
    with pytest.raises(ProtocolError, match="TLP:CLEAR"):
        statement(labels=(GREEN,))
    with pytest.raises(ProtocolError, match="itself"):
        statement(peer_key=Y.public)


def test_check_crossing() -> None:
    peering = verify_peering(statement(), Y.public)
    attached = parse_crossing(crossing_attachment(certificate(), ORIGIN.key_id, ORIGIN.public, revocations()))
    held, newer = newest_revocations(attached, X.public, None, now=NOW)
    assert newer
    membership = check_crossing(attached, peering, held, origin=ORIGIN_ID, key_id=ORIGIN.key_id, label=CLEAR, now=NOW)
    assert membership.serial == 7
    with pytest.raises(ProtocolError, match="not under the attached key"):
        check_crossing(attached, peering, held, origin=ORIGIN_ID, key_id="ed25519:9", label=CLEAR, now=NOW)
    with pytest.raises(ProtocolError, match="names"):
        check_crossing(
            attached, peering, held, origin=node_id_for(Y.public), key_id=ORIGIN.key_id, label=CLEAR, now=NOW
        )
    revoked = revocations(2, [{"serial": 7, "node_id": ORIGIN_ID, "since": "2026-02-01T00:00:00Z"}])
    later, _ = newest_revocations(
        parse_crossing(crossing_attachment(certificate(), ORIGIN.key_id, ORIGIN.public, revoked)),
        X.public,
        held,
        now=NOW,
    )
    with pytest.raises(ProtocolError, match="revoked"):
        check_crossing(attached, peering, later, origin=ORIGIN_ID, key_id=ORIGIN.key_id, label=CLEAR, now=NOW)
    still, newer = newest_revocations(attached, X.public, later, now=NOW)  # the older list attached: held one counts
    assert (still, newer) == (later, False)
    foreign = parse_crossing(crossing_attachment(certificate(Y), ORIGIN.key_id, ORIGIN.public, revocations()))
    with pytest.raises(ProtocolError, match="signature"):
        check_crossing(foreign, peering, held, origin=ORIGIN_ID, key_id=ORIGIN.key_id, label=CLEAR, now=NOW)
    other_key = parse_crossing(crossing_attachment(certificate(), ORIGIN.key_id, Y.public, revocations()))
    with pytest.raises(ProtocolError, match="another key"):
        check_crossing(other_key, peering, held, origin=ORIGIN_ID, key_id=ORIGIN.key_id, label=CLEAR, now=NOW)


@pytest.mark.parametrize(
    "unsigned",
    [
        None,
        {},
        {"crossing": {}},
        {"crossing": {"certificate": 1, "key_id": "ed25519:1", "key": "x", "revocations": {}}},
    ],
)
def test_a_malformed_attachment_is_refused(unsigned: object) -> None:
    with pytest.raises(ProtocolError):
        parse_crossing(unsigned)
