"""Searching own and received records (node.search.query): German folding, parts of compounds, every term
required, ranking, and queries that try to be FTS5 syntax."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.home import Node, init_home
from node.search.query import MAX_QUERY, MAX_TERMS, QueryError, search
from node.sharing.records import add_record, edit_record
from node.users import ADMIN
from tests.conftest import FakePeer
from tests.node.search.conftest import found, receive


def test_umlauts_and_sharp_s_fold_both_ways(node: Node, bonn: FakePeer) -> None:
    street = add_record(node, "experience", {"title": "Sicher über die Straße", "summary": "Schulweg"}, by=ADMIN)
    spelled = add_record(node, "experience", {"title": "Schulwegplan", "summary": "Querung der Strasse"}, by=ADMIN)
    munich = receive(node, bonn, {"title": "Beratung", "summary": "Erfahrungen aus München"})
    for query in ("Strasse", "Straße", "STRASSE", "straße"):
        assert sorted(found(node, query)) == sorted([street, spelled]), query
    for query in ("Muenchen", "München", "MÜNCHEN"):
        assert found(node, query) == [munich], query
    assert found(node, "ueber") == [street]


def test_a_part_of_a_compound_finds_it(node: Node, bonn: FakePeer) -> None:
    received = receive(node, bonn, {"title": "Lagebild", "summary": "Wohnungseinbruchdiebstahl im Winter"})
    assert found(node, "Einbruch") == [received]
    assert found(node, "diebstahl") == [received]


def test_every_term_must_match(node: Node) -> None:
    both = add_record(node, "experience", {"title": "Einbruch", "summary": "Beratung am Abend"}, by=ADMIN)
    add_record(node, "experience", {"title": "Einbruch", "summary": "Streife"}, by=ADMIN)
    assert found(node, "einbruch beratung") == [both]
    assert found(node, "einbruch nirgendwo") == []


def test_short_terms_only_narrow_and_alone_are_refused(node: Node) -> None:
    zoo = add_record(node, "experience", {"title": "Zoo-Besuch", "summary": "Eintritt frei"}, by=ADMIN)
    add_record(node, "experience", {"title": "Besuch im Rathaus", "summary": "Eintritt frei"}, by=ADMIN)
    assert found(node, "besuch zo") == [zoo]
    with pytest.raises(QueryError, match="at least 3 characters") as refused:
        search(node, "zo ab")
    assert refused.value.code == "too_short"


def test_a_match_in_the_title_ranks_above_one_in_a_long_text(node: Node) -> None:
    long_text = " ".join(["Kommunale Prävention braucht Partner im Quartier."] * 60) + " Graffiti."
    in_text = add_record(node, "experience", {"title": "Quartiersarbeit", "summary": long_text}, by=ADMIN)
    in_title = add_record(node, "experience", {"title": "Graffiti an Schulen", "summary": "Kurz."}, by=ADMIN)
    assert found(node, "graffiti") == [in_title, in_text]


def test_only_the_current_version_of_an_own_record_is_found(node: Node) -> None:
    record = add_record(node, "experience", {"title": "Alte Fassung", "summary": "Taschendiebstahl"}, by=ADMIN)
    edit_record(node, record, {"title": "Neue Fassung", "summary": "Fahrraddiebstahl"}, by=ADMIN)
    assert found(node, "Taschendiebstahl") == []
    [hit] = search(node, "Fahrraddiebstahl")["hits"]
    assert (hit["id"], hit["version"], hit["title"]) == (record, 2, "Neue Fassung")


def test_only_the_newest_version_of_a_received_record_is_found(node: Node, bonn: FakePeer) -> None:
    receive(node, bonn, {"title": "Erste", "summary": "Trickbetrug am Telefon"}, record_id="rec-versions")
    receive(node, bonn, {"title": "Zweite", "summary": "Enkeltrick"}, record_id="rec-versions", version=2)
    assert found(node, "Trickbetrug") == []
    [hit] = search(node, "Enkeltrick")["hits"]
    assert (hit["id"], hit["version"], hit["own"], hit["origin_name"]) == ("rec-versions", 2, False, "Stadt Bonn")


def test_a_hit_says_whose_it_is_and_marks_the_match_in_the_original(node: Node, bonn: FakePeer) -> None:
    own = add_record(node, "experience", {"title": "Große Straße", "summary": "Kurz"}, by=ADMIN)
    receive(node, bonn, {"title": "Andere", "summary": "Auch in der Straße vor dem Bahnhof"}, tlp="TLP:GREEN")
    hits = {hit["id"]: hit for hit in search(node, "strasse")["hits"]}
    mine = hits[own]
    assert (mine["own"], mine["origin"], mine["origin_name"], mine["tlp"]) == (
        True,
        node.node_id,
        "Stadt Augsburg",
        "TLP:AMBER",
    )
    assert mine["title_segments"] == [("Große ", False), ("Straße", True)]
    [theirs] = [hit for hit in hits.values() if not hit["own"]]
    assert (theirs["origin"], theirs["tlp"], theirs["kind"], theirs["version"]) == (
        bonn.node_id,
        "TLP:GREEN",
        "experience",
        1,
    )
    assert theirs["snippet"]["field"] == "summary"
    assert theirs["snippet"]["segments"] == [("Auch in der ", False), ("Straße", True), (" vor dem Bahnhof", False)]
    assert theirs["received"] is not None


def test_own_local_fields_are_searched_on_this_node(node: Node) -> None:
    record = add_record(
        node,
        "experience",
        {"title": "Titel", "summary": "Kurz", "internal_notes": "Ansprechpartnerin Kämmerei"},
        by=ADMIN,
    )
    [hit] = search(node, "kaemmerei")["hits"]
    assert hit["id"] == record
    assert hit["snippet"]["field"] == "internal_notes"


def test_an_empty_query_lists_everything_newest_first(node: Node, bonn: FakePeer) -> None:
    first = add_record(node, "experience", {"title": "Eins", "summary": "a"}, by=ADMIN)
    second = receive(node, bonn, {"title": "Zwei", "summary": "b"})
    listed = search(node, "   ")
    assert listed["total"] == 2
    assert {hit["id"] for hit in listed["hits"]} == {first, second}
    assert all(hit["snippet"]["segments"] == [(hit["snippet"]["segments"][0][0], False)] for hit in listed["hits"])


def test_pages_and_the_total(node: Node) -> None:
    ids = [add_record(node, "experience", {"title": f"Streife {n}", "summary": "Nachts"}, by=ADMIN) for n in range(5)]
    first = search(node, "streife", limit=2)
    second = search(node, "streife", limit=2, offset=2)
    beyond = search(node, "streife", limit=2, offset=10)
    assert (first["total"], second["total"], beyond["total"]) == (5, 5, 5)
    assert len(first["hits"]) == len(second["hits"]) == 2
    assert beyond["hits"] == []
    assert {h["id"] for h in first["hits"] + second["hits"]} < set(ids)
    for limit, offset in ((0, 0), (201, 0), (10, -1)):
        with pytest.raises(QueryError, match="limit must be"):
            search(node, "streife", limit=limit, offset=offset)


HOSTILE = [
    '"',
    '""',
    "*",
    "NEAR(",
    "NEAR(einbruch strasse, 2)",
    "OR",
    "einbruch OR raub",
    "NOT einbruch",
    "einbruch AND",
    "(einbruch",
    "einbruch)",
    "einbruch*",
    "^einbruch",
    "title:einbruch",
    "{title body}:einbruch",
    "-einbruch",
    '"einbruch',
    'ein"bruch',
    "'; DROP TABLE search_docs; --",
    "einbruch\x00raub",
    "\x00",
    "\u200b\u200b\u200b",
    "",
    " \t\n ",
    "ab " * 20,
    "x" * MAX_QUERY,
]


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    home = tmp_path_factory.mktemp("pool") / "node"
    init_home(home, name="Stadt Pool", url="http://127.0.0.1:9")
    node = Node.open(Path(home))
    add_record(node, "experience", {"title": "Einbruch in der Straße", "summary": 'Raub "NEAR(" * OR'}, by=ADMIN)
    add_record(
        node,
        "alert",
        {"headline": "Trickdiebstahl", "area": {"name": "Mitte"}, "expires": "2099-01-01T00:00:00Z"},
        by=ADMIN,
    )
    yield node
    node.close()


def outcome(node: Node, query: str) -> dict[str, Any] | QueryError:
    """What a search answers: its result, or the QueryError it raised."""
    try:
        return search(node, query, limit=200)
    except QueryError as exc:
        return exc


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_give_results_or_a_clear_error(pool: Node, query: str) -> None:
    result = outcome(pool, query)
    if isinstance(result, QueryError):
        assert result.code in {"too_short", "too_long", "too_many_terms"}
        assert str(result)
    else:
        assert isinstance(result["hits"], list)


def test_a_query_is_never_read_as_fts5_syntax(pool: Node) -> None:
    assert [hit["title"] for hit in search(pool, "einbruch OR trickdiebstahl")["hits"]] == []
    assert [hit["title"] for hit in search(pool, '"near("')["hits"]] == ["Einbruch in der Straße"]


def test_a_query_of_too_many_words_is_refused(pool: Node) -> None:
    words = [f"wort{n:02d}" for n in range(MAX_TERMS + 1)]
    with pytest.raises(QueryError, match=f"more than {MAX_TERMS} search words") as refused:
        search(pool, " ".join(words))
    assert refused.value.code == "too_many_terms"
    assert search(pool, " ".join(words[:MAX_TERMS] + words[:5]))["hits"] == []  # repeated words count once


def test_a_query_too_long_is_refused(pool: Node) -> None:
    with pytest.raises(QueryError, match=f"longer than {MAX_QUERY}") as refused:
        search(pool, "einbruch " * 2000)
    assert refused.value.code == "too_long"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=MAX_QUERY))
def test_no_query_text_raises_an_sqlite_error(pool: Node, query: str) -> None:
    try:
        search(pool, query)
    except QueryError:
        pass
    except sqlite3.Error as exc:  # pragma: no cover - the failure this test looks for
        pytest.fail(f"{query!r} raised {exc!r}")


@pytest.fixture(scope="module")
def words(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    home = tmp_path_factory.mktemp("words") / "node"
    init_home(home, name="Stadt Wort", url="http://127.0.0.1:9")
    node = Node.open(Path(home))
    yield node
    node.close()


# Letters and signs of the languages records are written in (Latin, Greek and Cyrillic scripts), and white
# space; not NUL, at which SQLite's JSON functions end a string, and not letters newer than FTS5's case tables
WRITTEN = st.sampled_from([*map(chr, [*range(0x01, 0x250), *range(0x391, 0x3CA), *range(0x400, 0x460), 0x1E9E])])


@settings(max_examples=200, deadline=None)
@given(st.text(WRITTEN, min_size=1, max_size=30))
def test_a_folded_query_for_any_word_of_a_record_finds_it(words: Node, word: str) -> None:
    record = add_record(words, "experience", {"title": "Titel", "summary": f"vorher {word} nachher"}, by=ADMIN)
    result = outcome(words, word)
    if isinstance(result, QueryError):
        assert result.code == "too_short"
    else:
        assert record in [hit["id"] for hit in result["hits"]] or result["total"] > 200
