"""Where a record matched, shown in its original text: segments marked as matches, and a snippet of one field.

Matches are found in folded text (node.search.fold) and mapped back to the characters of the
original they came from, so "Strasse" marks "Straße" as written. The result is plain data, never
HTML: a list of (text, is_match) segments that the web interface renders with escaping and the CLI
with brackets. Joined, the segments give back the original text exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from node.migrations import SEARCH_SKIPPED
from node.search.fold import fold_with_map

Segment = tuple[str, bool]
"""A piece of original text, and whether a search term matched it."""

SNIPPET_WIDTH = 200
"""Characters of a field shown around its first match (a field this short or shorter is shown whole)."""

_LEAD = SNIPPET_WIDTH // 3  # characters shown before the first match


def _find(text: str, terms: Sequence[str]) -> tuple[int, list[tuple[int, int]]]:
    """How many of the folded `terms` match `text`, and the spans they match, merged where they overlap or touch."""
    folded, origins = fold_with_map(text)
    found: list[tuple[int, int]] = []
    matched = 0
    for term in terms:
        start = folded.find(term) if term else -1
        matched += start != -1
        while start != -1:
            found.append((origins[start], origins[start + len(term) - 1] + 1))
            start = folded.find(term, start + 1)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return matched, merged


def match_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """The spans (start, end) of `text` that folded `terms` match, merged where they overlap or touch."""
    return _find(text, terms)[1]


def _segments(text: str, spans: Sequence[tuple[int, int]], start: int, end: int) -> list[Segment]:
    segments: list[Segment] = []
    at = start
    for span_start, span_end in spans:
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start >= span_end:
            continue
        if span_start > at:
            segments.append((text[at:span_start], False))
        segments.append((text[span_start:span_end], True))
        at = span_end
    if at < end:
        segments.append((text[at:end], False))
    return segments


def mark(text: str, terms: Sequence[str]) -> list[Segment]:
    """All of `text` as segments, those that folded `terms` match marked."""
    return _segments(text, match_spans(text, terms), 0, len(text))


def fields(content: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The searchable text of a record's content as (field, text), in order: what the index's body holds."""

    def walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
        if isinstance(value, str):
            if path not in SEARCH_SKIPPED:
                yield path, value
        elif isinstance(value, Mapping):
            for key, item in value.items():
                yield from walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for item in value:
                yield from walk(item, path)

    yield from walk(content, "")


def _window(text: str, first: tuple[int, int]) -> tuple[int, int]:
    """The part of `text` a snippet shows: about SNIPPET_WIDTH characters from a little before the `first`
    match, cut at spaces where there are any."""
    start = max(0, min(first[0] - _LEAD, len(text) - SNIPPET_WIDTH))
    end = min(len(text), max(start + SNIPPET_WIDTH, first[1]))
    if start > 0:
        space = text.find(" ", start, first[0])
        start = space + 1 if space != -1 else start
    if end < len(text):
        space = text.rfind(" ", first[1], end)
        end = space if space != -1 else end
    return start, end


def snippet(content: Mapping[str, Any], terms: Sequence[str]) -> dict[str, Any] | None:
    """A piece of the field where the most terms matched (else of the first field), or None if there is no text.

    Returns {"field": dotted field name, "segments": [(text, is_match), ...], "cut_start": whether text
    precedes the piece, "cut_end": whether text follows it}.
    """
    best: tuple[int, str, str, list[tuple[int, int]]] | None = None
    for field, text in fields(content):
        matched, spans = _find(text, terms)
        if best is None or matched > best[0]:
            best = (matched, field, text, spans)
    if best is None:
        return None
    _, field, text, spans = best
    start, end = _window(text, spans[0] if spans else (0, 0))
    return {
        "field": field,
        "segments": _segments(text, spans, start, end),
        "cut_start": start > 0,
        "cut_end": end < len(text),
    }
