"""Records whose every value carries a token naming itself, so that a leak of any value can be traced."""

from __future__ import annotations

from typing import Any


def planted_record(token: str) -> dict[str, Any]:
    """An experience record whose every value is `{token}-{field}` and a few words (internal_notes is local)."""
    return {
        "title": f"{token}-title Präventionsprojekt",
        "summary": f"{token}-summary Kurzbeschreibung",
        "problem": f"{token}-problem Ausgangslage",
        "goals": f"{token}-goals Ziele",
        "measures": f"{token}-measures Maßnahmen",
        "topics": [f"{token}-topics"],
        "implementation": {"duration": f"{token}-duration", "costs": f"{token}-costs"},
        "lessons": {"pitfalls": f"{token}-pitfalls", "transferability": f"{token}-transferability"},
        "internal_notes": f"{token}-internal_notes",
    }
