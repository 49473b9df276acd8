"""Search filters (node.search.query.Filters): kind, topic, origin, evidence, label, dates and lapsed alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from node.errors import NodeError
from node.home import Node
from node.search.query import Filters, QueryError, facets, search
from node.sharing.records import add_record
from node.users import ADMIN
from tests.conftest import FakePeer, SetClock, alert_content
from tests.node.search.conftest import found, receive


def experience(title: str, **fields: object) -> dict[str, object]:
    return {"title": title, "summary": "Prävention im Quartier", **fields}


def sent_alert(days: int = 7) -> dict[str, object]:
    """An alert as a peer sends it: without the local field."""
    return {key: value for key, value in alert_content(days).items() if key != "internal_notes"}


def test_kind(node: Node, bonn: FakePeer) -> None:
    record = add_record(node, "experience", experience("Quartier"), by=ADMIN)
    alert = receive(node, bonn, {**sent_alert(), "description": "Quartier"}, kind="alert")
    assert found(node, "quartier", kind="experience") == [record]
    assert found(node, "quartier", kind="alert") == [alert]
    assert sorted(found(node, "quartier")) == sorted([record, alert])


def test_topic_matches_a_whole_topic_folded(node: Node, bonn: FakePeer) -> None:
    public = add_record(node, "experience", experience("Eins", topics=["Öffentlicher Raum", "Jugend"]), by=ADMIN)
    theirs = receive(node, bonn, experience("Zwei", topics=["oeffentlicher raum"]))
    room = add_record(node, "experience", experience("Drei", topics=["Raum"]), by=ADMIN)
    for topic in ("öffentlicher raum", "OEFFENTLICHER  RAUM", " Öffentlicher Raum "):
        assert sorted(found(node, topic=topic)) == sorted([public, theirs]), topic
    assert found(node, topic="Jugend") == [public]
    assert found(node, topic="Raum") == [room]


def test_origin_by_own_name_id_or_a_peers_name_or_id(node: Node, bonn: FakePeer, make_node: object) -> None:
    mine = add_record(node, "experience", experience("Eigen"), by=ADMIN)
    chemnitz = FakePeer("Stadt Chemnitz", "http://127.0.0.1:9").trusted_by(node)
    from_bonn = receive(node, bonn, experience("Aus Bonn"))
    from_chemnitz = receive(node, chemnitz, experience("Aus Chemnitz"))
    for own in ("own", "Stadt Augsburg", "stadt augsburg", node.node_id):
        assert found(node, origin=own) == [mine], own
    for peer in ("Stadt Bonn", "bonn", bonn.node_id):
        assert found(node, origin=peer) == [from_bonn], peer
    assert found(node, origin="chem") == [from_chemnitz]
    with pytest.raises(NodeError, match="matches 2 peers"):
        search(node, "", Filters(origin="Stadt"))
    with pytest.raises(NodeError, match="not a trusted peer"):
        search(node, "", Filters(origin="Dresden"))


def test_evidence_and_label(node: Node, bonn: FakePeer) -> None:
    probable = add_record(node, "experience", experience("A", evidence_level="probable"), tlp="TLP:GREEN", by=ADMIN)
    proven = receive(node, bonn, experience("B", evidence_level="proven"), tlp="TLP:CLEAR")
    assert found(node, evidence="probable") == [probable]
    assert found(node, evidence="proven") == [proven]
    assert found(node, tlp="green") == [probable]
    assert found(node, tlp="TLP:CLEAR") == [proven]
    assert found(node, tlp="amber") == []


def test_dates_of_making_or_arrival(node: Node, bonn: FakePeer, clock: SetClock) -> None:
    clock.set(datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    march = add_record(node, "experience", experience("März"), by=ADMIN)
    clock.set(datetime(2026, 4, 2, 8, 0, tzinfo=UTC))
    april = add_record(node, "experience", experience("April"), by=ADMIN)
    arrived = receive(node, bonn, experience("Angekommen"))  # made now by the peer's clock, received on 2 April
    assert found(node, since="2026-03-01", until="2026-03-01") == [march]
    assert found(node, until="2026-03-31") == [march]
    assert found(node, since="2026-04-01", until="2026-04-30", date_of="received") == [arrived, april]
    assert found(node, since="2026-03-02", until="2026-03-31", date_of="received") == []


def test_lapsed_alerts_only_on_request(node: Node, bonn: FakePeer, clock: SetClock) -> None:
    alert = receive(node, bonn, sent_alert(days=1), kind="alert")
    assert found(node, "Trickdiebstahl") == [alert]
    clock.advance(timedelta(days=2))
    assert found(node, "Trickdiebstahl") == []
    [hit] = search(node, "Trickdiebstahl", Filters(include_lapsed=True))["hits"]
    assert (hit["id"], hit["lapsed"]) == (alert, True)


@pytest.mark.parametrize(
    ("filters", "code", "message"),
    [
        (Filters(kind="retraction"), "kind", "kind must be one of experience, alert"),
        (Filters(evidence="sehr gut"), "evidence", "evidence must be one of none, theoretically_founded"),
        (Filters(tlp="purple"), "tlp", "label must be one of TLP:RED"),
        (Filters(since="31.03.2026"), "date", "since must be a day written YYYY-MM-DD, e.g. 2026-03-31"),
        (Filters(until="2026-02-30"), "date", "until must be a day written YYYY-MM-DD"),
        (Filters(since="20260331"), "date", "since must be a day written YYYY-MM-DD"),
        (Filters(since="2026-04-02", until="2026-04-01"), "dates", "since \\(2026-04-02\\) is after until"),
        (Filters(date_of="sent"), "date_of", "dates are those of 'created' or 'received'"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_filter_is_refused_naming_it(node: Node, filters: Filters, code: str, message: str) -> None:
    with pytest.raises(QueryError, match=message) as refused:
        search(node, "quartier", filters)
    assert refused.value.code == code


def test_facets_name_the_origins_and_each_topic_once(node: Node, bonn: FakePeer) -> None:
    add_record(node, "experience", experience("Eins", topics=["Öffentlicher Raum", "Jugend"]), by=ADMIN)
    add_record(node, "experience", experience("Zwei", topics=["Öffentlicher  Raum"]), by=ADMIN)
    receive(node, bonn, experience("Drei", topics=["oeffentlicher raum", "Alter"]))
    receive(node, bonn, experience("Vier"))
    assert facets(node) == {
        "origins": [
            {"origin": "own", "name": "Stadt Augsburg", "records": 2},
            {"origin": bonn.node_id, "name": "Stadt Bonn", "records": 2},
        ],
        "topics": ["Alter", "Jugend", "Öffentlicher Raum"],
    }
