"""Snippets (node.search.snippets): matches found in folded text, shown as segments of the original text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from node.search.fold import fold
from node.search.snippets import SNIPPET_WIDTH, fields, mark, snippet

WORDS = st.text(st.sampled_from("aäbcdeéfgsßtuüoöSÜÖÄ -"), min_size=1, max_size=400)
TERMS = st.lists(st.text(st.sampled_from("aäbesßuüoö"), min_size=1, max_size=4), max_size=3)


def test_a_folded_match_is_marked_in_the_original_characters() -> None:
    assert mark("Die Straße zur Schule", ["strasse"]) == [("Die ", False), ("Straße", True), (" zur Schule", False)]
    assert mark("Muenchen und München", ["muenchen"]) == [("Muenchen", True), (" und ", False), ("München", True)]
    assert mark("Straße", ["as"]) == [("Str", False), ("aß", True), ("e", False)]  # half of ß marks all of it
    assert mark("ohne", ["mit"]) == [("ohne", False)]
    assert mark("", ["x"]) == []


def test_overlapping_matches_merge() -> None:
    assert mark("Einbruchdiebstahl", ["einbruch", "bruchdieb"]) == [("Einbruchdieb", True), ("stahl", False)]


@given(WORDS, TERMS)
def test_segments_reassemble_to_the_original_and_mark_only_matches(text: str, terms: list[str]) -> None:
    segments = mark(text, [fold(term) for term in terms])
    assert "".join(piece for piece, _ in segments) == text
    assert all(piece for piece, _ in segments)
    for piece, matched in segments:
        if matched:
            assert any(fold(term) in fold(piece) or fold(piece) in fold(term) for term in terms)
    assert any(matched for _, matched in segments) == any(fold(term) in fold(text) for term in terms)


@given(st.lists(WORDS, min_size=1, max_size=4), TERMS)
def test_a_snippet_is_a_piece_of_one_field_as_written(texts: list[str], terms: list[str]) -> None:
    content = {"title": "Titel", "summary": texts[0], "lessons": {"pitfalls": texts[-1]}, "topics": texts[1:]}
    shown = snippet(content, [fold(term) for term in terms])
    assert shown is not None
    piece = "".join(text for text, _ in shown["segments"])
    field_texts = [text for field, text in fields(content) if field == shown["field"]]
    assert any(piece in text for text in field_texts)
    if shown["cut_start"] or shown["cut_end"]:
        assert any(len(text) > SNIPPET_WIDTH for text in field_texts)
    else:
        assert piece in field_texts


def test_the_snippet_is_taken_from_the_field_with_most_terms_around_the_first_match() -> None:
    long_text = "Vorweg " * 60 + "die Schulwegsicherung mit Lotsen" + " danach" * 60
    content = {"title": "Titel", "summary": "Nur Schule", "measures": long_text, "urgency": "Schule Lotsen"}
    shown = snippet(content, ["schul", "lotsen"])
    assert shown is not None
    assert shown["field"] == "measures"
    assert (shown["cut_start"], shown["cut_end"]) == (True, True)
    marked = [text for text, matched in shown["segments"] if matched]
    assert marked == ["Schul", "Lotsen"]
    assert shown["segments"][0][0].startswith("Vorweg ")  # cut at spaces, not inside a word
    assert shown["segments"][-1][0].endswith(" danach")


def test_fields_leave_out_titles_and_codes() -> None:
    content = {
        "headline": "Warnung",
        "area": {"name": "Mitte", "ars": "091620000000"},
        "severity": "Severe",
        "description": "Text",
        "expires": "2026-01-01T00:00:00Z",
    }
    assert list(fields(content)) == [("area.name", "Mitte"), ("description", "Text")]
    assert snippet({"title": "Nur ein Titel"}, ["titel"]) is None
