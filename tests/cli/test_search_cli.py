"""`praevnet search`: the search of node.search.query from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.exchange.inbox import ingest
from node.home import Node
from node.search.query import index_waiting
from node.sharing.records import add_record
from node.users import ADMIN
from tests.cli.conftest import invoke, ok, ok_json, snapshot
from tests.conftest import FakePeer


@pytest.fixture
def pool(home: Path) -> dict[str, str]:
    """The node in `home` holds an own record and an alert, and a record from Stadt Bonn; returns their ids."""
    node = Node.open(home)
    try:
        bonn = FakePeer("Stadt Bonn", "http://127.0.0.1:9").trusted_by(node)
        own = add_record(
            node,
            "experience",
            {"title": "Sichere Straße zur Schule", "summary": "Elternhaltestellen und Lotsen", "topics": ["Schulweg"]},
            by=ADMIN,
        )
        alert = add_record(
            node,
            "alert",
            {"headline": "Taschendiebstahl", "area": {"name": "Altstadt"}, "expires": "2099-01-01T00:00:00Z"},
            by=ADMIN,
        )
        envelope = bonn.envelope(
            {"title": "Lagebild", "summary": "Wohnungseinbruchdiebstahl in der Strasse am Park"}, tlp="TLP:GREEN"
        )
        assert ingest(node, bonn.node_id, [envelope])["results"][0]["status"] == "accepted"
        index_waiting(node)  # as the serving node's worker does soon after (node.exchange.indexing)
        return {"own": own, "alert": alert, "bonn": str(envelope["id"]), "bonn_id": bonn.node_id}
    finally:
        node.close()


def test_hits_are_listed_best_first_with_matches_in_brackets(home: Path, pool: dict[str, str]) -> None:
    output = ok("search", "--home", str(home), "strasse").output
    assert "2 found" in output
    assert "1. Sichere [Straße] zur Schule" in output  # the title counts more
    assert f"experience {pool['own']} v1, TLP:AMBER, own (Stadt Augsburg)" in output
    assert f"experience {pool['bonn']} v1, TLP:GREEN, from Stadt Bonn" in output
    assert "summary: Wohnungseinbruchdiebstahl in der [Strasse] am Park" in output


def test_several_words_all_must_match(home: Path, pool: dict[str, str]) -> None:
    result = ok_json("search", "--home", str(home), "Einbruch", "Park")
    assert [hit["id"] for hit in result["hits"]] == [pool["bonn"]]
    assert result["terms"] == ["einbruch", "park"]
    assert result["hits"][0]["snippet"]["segments"] == [
        ["Wohnungs", False],
        ["einbruch", True],
        ["diebstahl in der Strasse am ", False],
        ["Park", True],
    ]


def test_filters(home: Path, pool: dict[str, str]) -> None:
    def ids(*args: str) -> list[str]:
        return [hit["id"] for hit in ok_json("search", "--home", str(home), *args)["hits"]]

    assert ids("--kind", "alert") == [pool["alert"]]
    assert ids("--origin", "bonn") == [pool["bonn"]]
    assert ids("--origin", pool["bonn_id"]) == [pool["bonn"]]
    assert sorted(ids("--origin", "own")) == sorted([pool["own"], pool["alert"]])
    assert ids("--topic", "SCHULWEG") == [pool["own"]]
    assert ids("--tlp", "green") == [pool["bonn"]]
    assert ids("strasse", "--since", "2000-01-01", "--until", "2099-12-31", "--received") != []
    assert ids("strasse", "--until", "2000-01-01") == []
    assert len(ids("--limit", "1")) == 1


def test_without_words_it_lists_everything(home: Path, pool: dict[str, str]) -> None:
    result = ok_json("search", "--home", str(home))
    assert result["total"] == 3
    assert "nothing found" in ok("search", "--home", str(home), "nirgendwo").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ab", "zu"], "search words need at least 3 characters"),
        (["x" * 600], "longer than 500 characters"),
        (["strasse", "--since", "1.4.2026"], "since must be a day written YYYY-MM-DD, e.g. 2026-03-31"),
        (["strasse", "--tlp", "purple"], "label must be one of"),
        (["strasse", "--origin", "Dresden"], "'Dresden' is not a trusted peer"),
        (["--kind", "retraction"], "'retraction' is not one of 'experience', 'alert'"),
        (["--evidence", "excellent"], "'excellent' is not one of"),
        (["--limit", "0"], "0 is not in the range 1<=x<=200"),
    ],
)
def test_bad_input_gets_a_message_and_changes_nothing(
    home: Path, pool: dict[str, str], args: list[str], message: str
) -> None:
    before = snapshot(home)
    result = invoke("search", "--home", str(home), *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert snapshot(home) == before


@pytest.mark.parametrize(
    "query", ['"', "*", "NEAR(", "OR", "einbruch OR park", "title:strasse", "'); DROP TABLE inbox;--"]
)
def test_query_syntax_is_never_run(home: Path, pool: dict[str, str], query: str) -> None:
    before = snapshot(home)
    result = invoke("search", "--home", str(home), query)
    assert result.exit_code in (0, 1)
    assert "Error: unexpected" not in result.output
    assert snapshot(home) == before
