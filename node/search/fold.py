"""German folding for search: the same letters as the index's SQL (node.migrations.SEARCH_FOLDS), in Python.

Text is lowered; ä ö ü become ae oe ue, ß and ẞ become ss, other diacritics of Latin letters are
dropped. A query folded here finds what the index folded in SQL ("Strasse" and "Straße" both find
"Straße", "Muenchen" finds "München"). `fold_with_map` also tells, for each folded character, the
original character it came from, so that a match found in folded text can be shown in the original.
"""

from __future__ import annotations

from functools import cache

from node.migrations import SEARCH_FOLDS


@cache
def _fold_character(character: str) -> str:
    folded = SEARCH_FOLDS.get(character)
    if folded is not None:
        return folded
    return "".join(SEARCH_FOLDS.get(part, part) for part in character.lower())


def fold(text: str) -> str:
    """The folded form of `text`, as the search index holds it."""
    return "".join(map(_fold_character, text))


def fold_with_map(text: str) -> tuple[str, list[int]]:
    """The folded form of `text`, and for each of its characters the index in `text` it came from."""
    parts: list[str] = []
    origins: list[int] = []
    for index, character in enumerate(text):
        folded = _fold_character(character)
        parts.append(folded)
        origins.extend([index] * len(folded))
    return "".join(parts), origins
