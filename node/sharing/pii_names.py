"""The personal-name detector of the PII check: honorifics with names, and given names from
node/sharing/data/first_names.txt followed by a surname (see node/sharing/pii.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Final


@cache
def first_names() -> frozenset[str]:
    """The given names of ``node/sharing/data/first_names.txt`` (comments and blank lines skipped)."""
    resource = files("node.sharing") / "data" / "first_names.txt"
    lines = resource.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


# ---------------------------------------------------------------------------------------------
# personal names

_TOKEN = re.compile(r"[^\W\d_]{1,100}+(?:['\u2019\-][^\W\d_]{1,100}+){0,5}+(?P<dot>\.)?")
_HONORIFICS: Final = frozenset({"Herr", "Herrn", "Frau", "Hr.", "Fr.", "Dr.", "Dr", "Prof.", "Prof"})
_HONORIFICS_EN: Final = frozenset({"Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.", "Mx."})
_TITLES: Final = frozenset(
    {"Dr.", "Dr", "Prof.", "Dres.", "med.", "phil.", "rer.", "nat.", "jur.", "dent.", "vet.", "pol.", "oec."}
)
_PARTICLES: Final = frozenset({"von", "van", "de", "di", "da", "del", "della", "zu", "vom", "ter", "ten", "al", "el"})
_SECOND_PARTICLES: Final = frozenset({"der", "den", "dem", "la", "le", "zu"})
"""After a first particle only: "von der Leyen", "van den Berg"; "Herr der Lage" is no name."""
# fmt: off
_DETERMINERS: Final = frozenset(
    {
        "ein", "eine", "einer", "einem", "einen", "eines", "die", "der", "den", "dem", "des", "jede", "jeder", "jedem",
        "jeden", "jedes", "keine", "keiner", "keinem", "keinen", "diese", "dieser", "diesem", "diesen", "dieses",
        "jene", "jener", "welche", "welcher", "welchem", "manche", "mancher", "solche", "solcher", "ihre", "ihrer",
        "ihrem", "seine", "seiner", "seinem", "seinen", "meine", "meiner", "unsere", "unserer", "alte", "alten",
        "alter", "ältere", "älterer", "älteren", "junge", "junger", "jungen", "jüngere", "jüngerer", "jüngeren",
        "betroffene", "betroffener", "betroffenen", "unbekannte", "unbekannter", "unbekannten", "fremde", "fremder",
        "fremden", "angebliche", "angeblicher", "vermeintliche", "vermeintlicher", "sogenannte", "alleinstehende",
        "alleinstehender", "alleinlebende", "alleinlebender", "hochbetagte", "hochbetagter", "jährige", "jähriger",
        "jährigen", "hilfsbereite", "hilfsbereiter", "freundliche", "freundlicher", "gut", "gepflegte", "gepflegter"
    }
)
_NOT_AFTER_HONORIFIC: Final = frozenset(
    {"Anfang", "Mitte", "Ende", "Gewalt", "Hilfe", "Opfer", "Polizei", "Schutz", "Angst", "Unterstützung", "Beratung"}
)
_INSTITUTION_WORDS: Final = frozenset(
    {
        "Schule", "Grundschule", "Mittelschule", "Realschule", "Gymnasium", "Gesamtschule", "Förderschule",
        "Berufsschule", "Oberschule", "Kindergarten", "Kita", "Stiftung", "Haus", "Heim", "Zentrum", "Center", "Preis",
        "Institut", "Klinik", "Krankenhaus", "Park", "Halle", "Kirche", "Gemeinde", "Straße", "Platz", "Allee", "Weg",
        "Ring", "Brücke", "Bad", "Kaserne", "Bibliothek", "Museum", "Saal", "Projekt", "Programm", "Initiative",
        "Verein", "Stadion", "Arena", "Universität", "Hochschule", "Akademie", "Gesellschaft", "Werk", "Kolleg",
        "Campus", "Siedlung", "Quartier", "School", "Street", "Foundation", "Centre", "Hospital", "University",
        "College", "Hall", "Square", "Institute", "Award", "Prize", "Trust", "Road"
    }
)
_NOT_SURNAMES: Final = _INSTITUTION_WORDS | frozenset(
    {
        "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag", "Januar", "Februar", "März",
        "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember", "Euro", "Uhr",
        "Jahre", "Jahren", "Prozent", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
        "January", "February", "March", "May", "June", "July", "October", "December"
    }
)
# fmt: on
_SAINTS: Final = frozenset({"St.", "Sankt", "San", "Santa", "Santo", "São", "Saint", "Ste."})


@dataclass(frozen=True)
class _Token:
    word: str
    start: int
    end: int
    dot: bool

    @property
    def written(self) -> str:
        return self.word + "." if self.dot else self.word


def _tokens(text: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(text):
        dot = match.group("dot") is not None
        end = match.end() - 1 if dot else match.end()
        tokens.append(_Token(text[match.start() : end], match.start(), end, dot))
    return tokens


def _adjacent(text: str, left: _Token, right: _Token) -> bool:
    gap = text[left.end + (1 if left.dot else 0) : right.start]
    return 0 < len(gap) <= 3 and gap.isspace() and gap.count("\n") <= 1


def _capitalised(token: _Token) -> bool:
    word = token.word
    return len(word) >= 2 and word[0].isupper() and any(char.islower() for char in word[1:])


def _given_name(token: _Token) -> bool:
    if token.dot:
        return False  # "Max." is an abbreviation, "Jan." a month
    names = first_names()
    return token.word in names or ("-" in token.word and all(part in names for part in token.word.split("-")))


def person_names(text: str) -> Iterator[tuple[int, int]]:
    """Personal names: an honorific with a name, or a known given name with a surname."""
    tokens = _tokens(text)
    count = len(tokens)
    i = 0
    while i < count:
        end = _honorific_name(text, tokens, i) or _given_and_surname(text, tokens, i)
        if end is None:
            i += 1
            continue
        last, stop = end
        yield tokens[i].start, stop
        i = last + 1


def _next(text: str, tokens: Sequence[_Token], j: int) -> _Token | None:
    if j + 1 < len(tokens) and _adjacent(text, tokens[j], tokens[j + 1]):
        return tokens[j + 1]
    return None


def _particles(text: str, tokens: Sequence[_Token], j: int) -> int:
    """How many name particles follow token j: 0, 1 ("von") or 2 ("von der")."""
    first = _next(text, tokens, j)
    if first is None or first.dot or first.word not in _PARTICLES:
        return 0
    second = _next(text, tokens, j + 1)
    return 2 if second is not None and not second.dot and second.word in _SECOND_PARTICLES else 1


def _honorific_name(text: str, tokens: Sequence[_Token], i: int) -> tuple[int, int] | None:
    token = tokens[i]
    german = token.written in _HONORIFICS
    if not german and token.written not in _HONORIFICS_EN:
        return None
    if (
        token.written in {"Herr", "Herrn", "Frau"}
        and i > 0
        and tokens[i - 1].word.lower() in _DETERMINERS
        and _adjacent(text, tokens[i - 1], token)
    ):
        return None  # "eine Frau Mitte 70", "ein älterer Herr"
    j = i
    while (nxt := _next(text, tokens, j)) is not None and nxt.written in _TITLES:
        j += 1
    particles = _particles(text, tokens, j)
    j += particles
    nxt = _next(text, tokens, j)
    if nxt is None or nxt.word in _NOT_AFTER_HONORIFIC or nxt.word in _INSTITUTION_WORDS:
        return None
    if not (_capitalised(nxt) or (nxt.word.isupper() and len(nxt.word) >= 3 and particles == 0 and german)):
        return None
    j += 1
    if _given_name(nxt) and (surname := _surname_after(text, tokens, j)) is not None:
        j = surname
    return j, tokens[j].end


def _surname_after(text: str, tokens: Sequence[_Token], j: int) -> int | None:
    """Index of the surname after the given name at j (middle names and particles allowed), or None."""
    k = j
    for _ in range(2):
        nxt = _next(text, tokens, k)
        if nxt is not None and _given_name(nxt):
            k += 1
    particles = _particles(text, tokens, k)
    k += particles
    nxt = _next(text, tokens, k)
    if nxt is not None and _capitalised(nxt) and nxt.word not in _NOT_SURNAMES:
        follower = _next(text, tokens, k + 1)
        if follower is not None and follower.word in _INSTITUTION_WORDS:
            return None  # "Friedrich Ebert Stiftung"
        return k + 1
    if k > j and particles == 0:
        follower = _next(text, tokens, k)
        if follower is None or follower.word not in _INSTITUTION_WORDS:
            return k  # "Anna Maria": the second given name may be a surname
    return None


def _given_and_surname(text: str, tokens: Sequence[_Token], i: int) -> tuple[int, int] | None:
    token = tokens[i]
    if not _given_name(token):
        return None
    if i > 0 and tokens[i - 1].written in _SAINTS and _adjacent(text, tokens[i - 1], token):
        return None  # Sankt Augustin, St. Georg
    last = _surname_after(text, tokens, i)
    if last is None:
        return None
    return last, tokens[last].end
