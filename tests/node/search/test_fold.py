"""German folding (node.search.fold): the Python fold of queries equals the SQL fold of the index."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.migrations import SEARCH_FOLDS, fold_sql
from node.search.fold import fold, fold_with_map

# The characters that matter: ASCII, and the Latin letters the fold table covers (capitals included)
MATTERING = st.text(st.sampled_from([*map(chr, range(32, 127)), *SEARCH_FOLDS, *"".join(SEARCH_FOLDS.values())]))


@pytest.fixture(scope="module")
def sql() -> sqlite3.Connection:
    return sqlite3.connect(":memory:")


def sql_fold(conn: sqlite3.Connection, text: str) -> str:
    return str(conn.execute(f"SELECT {fold_sql('?')}", (text,)).fetchone()[0])


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Straße", "strasse"),
        ("STRASSE", "strasse"),
        ("GROẞE", "grosse"),
        ("München", "muenchen"),
        ("MÜNCHEN", "muenchen"),
        ("Öffentlicher Raum", "oeffentlicher raum"),
        ("Ärger", "aerger"),
        ("Café Crème", "cafe creme"),
        ("Łódź", "lodz"),
        ("İstanbul Şişli", "istanbul sisli"),
        ("Ærø", "aero"),
    ],
)
def test_umlauts_sharp_s_and_diacritics_fold(sql: sqlite3.Connection, text: str, folded: str) -> None:
    assert fold(text) == folded
    assert sql_fold(sql, text) == folded


@given(st.text())
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


@given(MATTERING)
def test_the_sql_fold_equals_the_python_fold(sql: sqlite3.Connection, text: str) -> None:
    assert sql_fold(sql, text) == fold(text)


@given(st.text())
def test_the_map_leads_each_folded_character_back_to_the_one_it_came_from(text: str) -> None:
    folded, origins = fold_with_map(text)
    assert folded == fold(text)
    assert len(origins) == len(folded)
    assert origins == sorted(origins)
    assert "".join(fold(text[index]) for index in sorted(set(origins))) == folded
