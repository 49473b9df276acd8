"""PII check for free text before a record or alert is signed and shared.

The node carries no personal data (DSGVO Art. 5 and 10), so every string of a record's content is
scanned before it is signed. Each finding names its field (a dotted path such as
``implementation.partners[1]``), its character offsets in that field's text, its kind and the
matched text; the caller refuses to share until the text is edited or the officer confirms.

Kinds and what is reported:

- ``email``: any e-mail address except the record's own function mailbox (``allowed_mailbox``,
  compared case-insensitively); the field ``contact.mailbox`` itself is not scanned.
- ``phone``: German and international numbers that start with ``+``, ``00`` or a ``0`` area code
  of at least three digits (``+49 821 324-1234``, ``0821/324 1234``, ``(0821) 3241234``) with
  7-15 digits. A run of digits without separators (``01711234567``) counts only with the length
  of a German number, or after a cue such as "Tel."; after "Az.", "ARS" and similar cues a number
  is taken for a file or area key, not a phone number.
- ``iban``: a country code, two check digits and the country's IBAN length, with or without
  spaces, and only if the ISO 7064 mod-97 checksum holds. IBAN-shaped strings with a wrong
  checksum are not reported: they are far more often article or file numbers than mistyped IBANs.
- ``street_address``: a German street name with a house number (``Hauptstraße 12``,
  ``Bahnhofstr. 5``, ``Karl-Marx-Allee 90``, ``Am Markt 3a``, ``Lange Gasse 14``). Words like
  "Phase", "Klasse", "Kapitel" never count as streets, and a number followed by a unit or by a
  counted noun ("am Weihnachtsmarkt 12 Taschendiebstähle") is a count, not a house number.
- ``date_of_birth``: a date only when a birth cue stands right before it ("geb.", "geboren am",
  "Geburtsdatum:", "born", "DOB", or ``*`` inside a line); dates in timelines are not reported.
- ``vehicle_plate``: German plates such as ``M-AB 1234``, ``B XY 123``, ``HH-A 12E``; the hyphen
  or a two-letter middle group is required, so roads ("A 8", "B 17") and lines ("U 3") do not count.
- ``person_name``: an honorific with a capitalised name (``Herr Müller``, ``Frau Dr. Schmidt``,
  ``Mr Jones``), or a given name from ``node/data/first_names.txt`` followed by a capitalised
  surname (``Anna Schmidt``). "eine Frau Mitte 70" is not a name, nor is "Friedrich Ebert Stiftung".

The detectors are heuristics tuned for German prevention texts; the test corpus in
``tests/node/pii_corpus.py`` measures them. All patterns use bounded or possessive quantifiers, so
hostile input cannot make them backtrack catastrophically.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, Final

__all__ = ["KINDS", "Finding", "first_names", "scan_content", "scan_text"]

KINDS: Final = ("email", "iban", "phone", "date_of_birth", "vehicle_plate", "street_address", "person_name")
"""The kinds of finding, in priority order: where two findings overlap, the earlier kind wins."""

_LABELS: Final = {
    "email": "e-mail address",
    "phone": "phone number",
    "iban": "IBAN",
    "street_address": "street address",
    "date_of_birth": "date of birth",
    "vehicle_plate": "vehicle registration plate",
    "person_name": "personal name",
}

MAILBOX_FIELD: Final = "contact.mailbox"
"""The field holding the record's function mailbox; it is not scanned."""


@dataclass(frozen=True)
class Finding:
    """Possible personal data in one field of a record's content."""

    field: str
    """Dotted path into the content: "summary", "implementation.partners[1]", "area.name"."""
    kind: str
    """One of KINDS."""
    start: int
    """Offset of the first character in the field's text (0-based)."""
    end: int
    """Offset just past the last character, so that ``text == field_text[start:end]``."""
    text: str
    """The matched text."""

    def describe(self) -> str:
        """One line for the officer, positions 1-based and inclusive.

        Example: ``summary, characters 41-53: phone number "0821 324-1234"``.
        """
        shown = " ".join(self.text.split())
        return f'{self.field}, characters {self.start + 1}-{self.end}: {_LABELS[self.kind]} "{shown}"'


def scan_text(text: str, field: str, *, allowed_mailbox: str | None = None) -> list[Finding]:
    """Find possible personal data in one text; return the findings ordered by position.

    `field` is only copied into the findings. An e-mail address equal to `allowed_mailbox`
    (ignoring case) is not reported. Overlapping matches are resolved in the order of KINDS.
    """
    allowed = allowed_mailbox.strip().casefold() if allowed_mailbox else None
    taken = _Spans()
    kinds: dict[int, str] = {}
    for kind, detector in _DETECTORS:
        for start, end in detector(text):
            if kind == "email" and text[start:end].casefold() == allowed:
                continue
            if taken.add(start, end):
                kinds[start] = kind
    return [Finding(field, kinds[start], start, end, text[start:end]) for start, end in taken]


def scan_content(content: Mapping[str, Any], *, allowed_mailbox: str | None = None) -> list[Finding]:
    """Scan every string in a record's content, in nested objects and lists.

    Findings are ordered by field, then by position; fields are compared part by part with list
    indices as numbers, so ``partners[2]`` comes before ``partners[10]``. The field
    ``contact.mailbox`` is skipped, and `allowed_mailbox` is allowed anywhere else. Values that
    are not strings (numbers, booleans, null) are ignored.
    """
    findings: list[Finding] = []
    for path, text in _strings(content, ""):
        if path != MAILBOX_FIELD:
            findings.extend(scan_text(text, path, allowed_mailbox=allowed_mailbox))
    findings.sort(key=lambda finding: (_path_key(finding.field), finding.start))
    return findings


@cache
def first_names() -> frozenset[str]:
    """The given names of ``node/data/first_names.txt`` (comments and blank lines skipped)."""
    resource = files("node") / "data" / "first_names.txt"
    lines = resource.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


class _Spans:
    """Non-overlapping spans in order of their start, found by binary search (no quadratic scans)."""

    def __init__(self, spans: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in spans:
            self.add(start, end)

    def overlaps(self, start: int, end: int) -> bool:
        """Whether [start, end) overlaps a span already held."""
        index = bisect.bisect_right(self._starts, start)
        if index > 0 and self._ends[index - 1] > start:
            return True
        return index < len(self._starts) and self._starts[index] < end

    def add(self, start: int, end: int) -> bool:
        """Add [start, end) unless it overlaps a span already held; return whether it was added."""
        if self.overlaps(start, end):
            return False
        index = bisect.bisect_right(self._starts, start)
        self._starts.insert(index, start)
        self._ends.insert(index, end)
        return True

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self._starts, self._ends, strict=True)


def _strings(value: object, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


_PATH_PART = re.compile(r"\[(\d{1,9})\]|([^.\[]{1,1000})")


def _path_key(path: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(index)) if index else (1, name) for index, name in _PATH_PART.findall(path))


# ---------------------------------------------------------------------------------------------
# e-mail

_EMAIL = re.compile(
    r"(?<![\w.%+\-])[\w.%+\-]{1,64}+@(?:[^\W_][\w\-]{0,62}+\.){1,8}[^\W\d_]{2,24}+(?![\w\-])",
)


def _emails(text: str) -> Iterator[tuple[int, int]]:
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        yield match.span()


# ---------------------------------------------------------------------------------------------
# IBAN

_IBAN_LENGTHS: Final = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?:[ \u00a0]?[A-Z0-9]){11,30}+")


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    for match in _IBAN.finditer(text):
        positions = [match.start() + i for i, char in enumerate(match.group()) if char not in " \u00a0"]
        compact = "".join(text[i] for i in positions)
        length = _IBAN_LENGTHS.get(compact[:2])
        if length is None or len(compact) < length:
            continue
        if _iban_checksum_ok(compact[:length]):
            yield match.start(), positions[length - 1] + 1


def _iban_checksum_ok(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(char, 36)) for char in rearranged)
    return int(digits) % 97 == 1


# ---------------------------------------------------------------------------------------------
# phone numbers

_PHONE = re.compile(
    r"""
    (?<![\w+/\-])(?<!\d[.,])
    (?:
        (?:\+|00)[1-9]\d{0,3}+(?:[ \u00a0]?\(0\))?     # country code: +49, 0049, +49 (0)
      | \(0[1-9]\d{1,5}+\)                              # area code in brackets: (0821)
      | 0[1-9]\d{1,5}+                                  # area code: 0821, 0171
    )
    (?:(?:[ \u00a0]?[/\-\u2013][ \u00a0]?|[ \u00a0])?\d{1,12}+){1,8}+
    """,
    re.VERBOSE,
)
_PHONE_CUE = re.compile(
    r"(?i)(?:\btel\b|\btel\.|telefon|\bfon\b|phone|mobil|handy|\bfax\b|rufnummer|whatsapp|signal|\bsms\b|anruf|"
    r"\bcall\b|erreichbar|kontakt)"
)
_NUMBER_KEY_CUE = re.compile(
    r"(?i)(?:\baz\b|aktenzeichen|geschäftszeichen|\bgz\b|vorgang|drucksache|\bdrs\b|\bars\b|\bags\b|"
    r"regionalschlüssel|gemeindeschlüssel|kennziffer|kennzeichen|steuer|\biban\b|\bbic\b|\bust|"
    r"projektnummer|bestellnummer)(?=[^\n]{0,12}$)"
)
_YEAR_LIKE = re.compile(r"(?:\d{2}|19\d{2}|20\d{2})")


def _phones(text: str) -> Iterator[tuple[int, int]]:
    iban_shaped = _Spans(iban.span() for iban in _IBAN.finditer(text))
    for match in _PHONE.finditer(text):
        if iban_shaped.overlaps(*match.span()):
            continue  # the digits of an IBAN, valid or not
        candidate = match.group()
        digits = re.sub(r"\D", "", candidate.replace("(0)", ""))
        if digits.startswith("00"):
            digits = digits[2:]
        if not 7 <= len(digits) <= 15:
            continue
        before = text[max(0, match.start() - 30) : match.start()]
        phone_cue = max((cue.end() for cue in _PHONE_CUE.finditer(before)), default=-1)
        key_cue = max((cue.end() for cue in _NUMBER_KEY_CUE.finditer(before)), default=-1)
        if phone_cue > key_cue:
            yield match.span()  # "Tel.-Nr. 0821 ...": the nearest cue decides
            continue
        if key_cue >= 0:
            continue  # "Az. 0815/2023", "ARS 091620000000"
        if candidate.isdigit():
            # a bare run of digits: a phone number only with the length of one (ARS has 12 digits)
            mobile = candidate.startswith(("015", "016", "017"))
            if 10 <= len(candidate) <= (12 if mobile else 11):
                yield match.span()
            continue
        groups = re.split(r"[ \u00a0/\-\u2013]+", candidate)
        if len(groups) == 2 and "/" in candidate and _YEAR_LIKE.fullmatch(groups[1]):
            continue  # 0815/2023: a file number with a year
        yield match.span()


# ---------------------------------------------------------------------------------------------
# dates of birth

_MONTHS: Final = {
    "januar": 1, "jänner": 1, "january": 1, "jan": 1, "februar": 2, "february": 2, "feb": 2, "märz": 3,
    "maerz": 3, "march": 3, "mär": 3, "mrz": 3, "mar": 3, "april": 4, "apr": 4, "mai": 5, "may": 5, "juni": 6,
    "june": 6, "jun": 6, "juli": 7, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9, "sept": 9,
    "sep": 9, "oktober": 10, "october": 10, "okt": 10, "oct": 10, "november": 11, "nov": 11, "dezember": 12,
    "december": 12, "dez": 12, "dec": 12,
}  # fmt: skip
_MONTH_NAMES = "|".join(sorted((re.escape(name) for name in _MONTHS), key=len, reverse=True))

_DATE = re.compile(
    rf"""
    (?<![\w.,/\-])
    (?:
        (?P<d1>\d{{1,2}})\.[ \u00a0]?(?P<m1>\d{{1,2}})\.[ \u00a0]?(?P<y1>\d{{4}}|\d{{2}})
      | (?P<d2>\d{{1,2}})\.?[ \u00a0](?P<n2>{_MONTH_NAMES})\.?[ \u00a0](?P<y2>\d{{4}})
      | (?P<n3>{_MONTH_NAMES})\.?[ \u00a0](?P<d3>\d{{1,2}})(?:st|nd|rd|th)?,?[ \u00a0](?P<y3>\d{{4}})
      | (?P<y4>\d{{4}})-(?P<m4>\d{{2}})-(?P<d4>\d{{2}})
      | (?P<d5>\d{{1,2}})/(?P<m5>\d{{1,2}})/(?P<y5>\d{{4}}|\d{{2}})
    )
    (?![\d])
    """,
    re.VERBOSE | re.IGNORECASE,
)
_BIRTH_CUE = re.compile(
    r"(?i)(?:\bgeb\.|\bgeboren|\bgeburtsdatum|\bgeb\.-datum|\bgeburtstag|\bborn|\bdob\b|\bd\.o\.b\.|"
    r"\bdate of birth|\bbirth ?date|\bbirthday)"
    r"[ \u00a0\t\n:,()\-]{0,4}(?:(?:am|on|den|the|vom|at|is|war)[ \u00a0]{1,2})?$"
)


def _dates_of_birth(text: str) -> Iterator[tuple[int, int]]:
    for match in _DATE.finditer(text):
        if not _plausible_date(match) or not _after_birth_cue(text, match.start()):
            continue
        yield match.span()


def _plausible_date(match: re.Match[str]) -> bool:
    parts = match.groupdict()
    for n in "12345":
        day = parts[f"d{n}"]
        if day is None:
            continue
        name = parts.get(f"n{n}")
        month = _MONTHS[name.lower()] if name else int(parts[f"m{n}"] or 0)
        return 1 <= int(day) <= 31 and 1 <= month <= 12
    return False


def _after_birth_cue(text: str, start: int) -> bool:
    if _BIRTH_CUE.search(text[max(0, start - 40) : start]):
        return True
    if start >= 1 and text[start - 1] == "*":
        star = start - 1
    elif start >= 2 and text[start - 2 : start] == "* ":
        star = start - 2
    else:
        return False
    if star >= 1 and text[star - 1] == "*":
        return False  # the end of "**bold**"
    window = max(0, star - 80)
    line = text[max(window, text.rfind("\n", window, star) + 1) : star]
    return bool(line.strip())  # "(* 12.03.1987)", not a bullet point at the start of a line


# ---------------------------------------------------------------------------------------------
# vehicle registration plates

_PLATE = re.compile(
    r"(?<![\w\-])(?P<district>[A-ZÄÖÜ]{1,3})(?:-[A-Z]{1,2}|[ \u00a0][A-Z]{2})[ \u00a0\-]?\d{1,4}[EH]?(?![\w\-]|[.,]\d)"
)
_NOT_DISTRICTS: Final = frozenset(
    {"AGS", "ARS", "AZ", "BGB", "CAP", "DIN", "EN", "EU", "GG", "ISO", "KW", "NR", "PLZ", "SGB", "TLP", "TOP"}
)


def _plates(text: str) -> Iterator[tuple[int, int]]:
    for match in _PLATE.finditer(text):
        if match.group("district") not in _NOT_DISTRICTS:
            yield match.span()


# ---------------------------------------------------------------------------------------------
# street addresses

_PREPOSITIONS: Final = (
    "Am", "Im", "Beim", "Zum", "Zur", "An der", "An den", "An dem", "Auf dem", "Auf der", "Auf den",
    "In der", "In den", "Unter den", "Unter der", "Hinter dem", "Hinter der", "Hinter den", "Vor dem",
    "Vor der", "Vor den", "Bei der", "Über dem", "Neben der", "Zwischen den",
)  # fmt: skip
_ADJECTIVES: Final = (
    "Alt", "Alte", "Alter", "Altes", "Neue", "Neuer", "Neues", "Große", "Großer", "Großes", "Grosse",
    "Kleine", "Kleiner", "Kleines", "Lange", "Langer", "Langes", "Hohe", "Hoher", "Hohes", "Breite",
    "Breiter", "Obere", "Oberer", "Untere", "Unterer", "Innere", "Äußere", "Kurze", "Kurzer", "Krumme",
    "Schöne", "Schöner",
)  # fmt: skip
_PREFIX = "|".join(sorted(_PREPOSITIONS + _ADJECTIVES, key=len, reverse=True)).replace(" ", "[ \u00a0]")

_STREET = re.compile(
    rf"""
    (?<![\w\-.])
    (?:(?P<prefix>{_PREFIX})[ \u00a0])?
    (?P<word>[A-ZÄÖÜ][a-zäöüß]{{0,40}}+(?:-[A-Za-zÄÖÜäöüß][a-zäöüß]{{0,40}}+){{0,5}}+(?:(?<=[sS]tr)\.)?)
    [ \u00a0]
    (?P<number>\d{{1,3}}+(?:[a-zA-Z](?![\w]))?(?:[ \u00a0]?[-\u2013/][ \u00a0]?\d{{1,3}}+(?:[a-zA-Z](?![\w]))?)?)
    (?![\d]|[.,]\d)
    """,
    re.VERBOSE,
)
_STREET_SUFFIXES: Final = (
    "straße", "strasse", "str.", "gasse", "gässchen", "allee", "chaussee", "promenade", "weg", "ring", "platz",
    "ufer", "damm", "steig", "stieg", "pfad", "graben", "wall", "kai", "steg", "anger", "twiete",
)  # fmt: skip
_BARE_STREET_WORDS: Final = frozenset(
    {suffix for suffix in _STREET_SUFFIXES if suffix != "str."} | {"str.", "markt", "berg", "hof", "tor", "brücke"}
)
_MARKET_STREETS: Final = frozenset(
    {"neumarkt", "altmarkt", "heumarkt", "holzmarkt", "fischmarkt", "kornmarkt", "rindermarkt", "buttermarkt",
     "salzmarkt", "pferdemarkt", "gänsemarkt", "hopfenmarkt", "obstmarkt", "viktualienmarkt", "hühnermarkt"}
)  # fmt: skip
_NOT_STREETS: Final = frozenset(
    {
        "arbeitsplatz", "spielplatz", "parkplatz", "sportplatz", "bolzplatz", "stellplatz", "sitzplatz",
        "studienplatz", "ausbildungsplatz", "kitaplatz", "krippenplatz", "betreuungsplatz", "praktikumsplatz",
        "therapieplatz", "schlafplatz", "listenplatz", "tabellenplatz", "bildungsweg", "lösungsweg", "rechtsweg",
        "dienstweg", "umweg", "ausweg", "heimweg", "zugangsweg", "anstieg", "einstieg", "ausstieg", "aufstieg",
        "abstieg", "lernpfad", "jugendring", "kreisjugendring", "stadtjugendring", "bezirksjugendring",
        "landesjugendring", "schutzwall", "staudamm", "zeitzeile", "kopfzeile", "fußzeile", "betreffzeile",
    }
)  # fmt: skip
_NOT_STREET_STEMS: Final = (
    "phase", "klasse", "kapitel", "paragraph", "paragraf", "stufe", "jahr", "schuljahr", "modul", "tag", "woche",
    "monat", "quartal", "halbjahr", "runde", "welle", "sitzung", "termin", "teil", "abschnitt", "schritt",
    "ziffer", "nummer", "absatz", "artikel", "anlage", "anhang", "seite", "punkt", "gruppe", "jahrgang", "level",
    "raum", "etage", "stock", "zone", "kategorie", "lektion", "einheit", "version", "block", "reihe", "bezirk",
    "stadtbezirk", "stadtteil", "alter", "schnitt", "durchschnitt", "mittel", "vergleich", "verlauf", "rahmen",
    "zeitraum", "zuge", "vorjahr", "folgejahr", "projektjahr", "umfang", "bereich", "ende", "anfang", "mitte",
    "anschluss", "abschluss", "fokus", "vordergrund", "hintergrund", "januar", "jänner", "februar", "märz",
    "april", "mai", "juni", "juli", "august", "september", "oktober", "november", "dezember", "sommer",
    "winter", "herbst", "frühjahr", "frühling", "landkreis", "kreis", "gebiet", "stadtgebiet", "wert", "zeit",
    "laufe", "fall", "fälle", "durchgang", "team", "rang", "ergebnis", "moment", "schuljahr", "semester",
    "ausgabe", "heft", "band", "folge", "staffel", "stunde", "minute", "lauf", "sektor", "feld", "szenario",
)  # fmt: skip
_AFTER_NUMBER_UNIT = re.compile(
    r"[ \u00a0]?(?:%|€|\$|Prozent|Euro|EUR|Uhr|km|Min\b|Minuten|Std\b|Stunden|Jahre|Jahren|Monate|Wochen|Tage|Mal\b|"
    r"x\b|-mal|Prozentpunkte)"
)
_AFTER_NUMBER_NOUN = re.compile(r"[ \u00a0\t]{1,3}[A-ZÄÖÜ][a-zäöüß]")


def _streets(text: str) -> Iterator[tuple[int, int]]:
    for match in _STREET.finditer(text):
        prefix, word = match.group("prefix"), match.group("word")
        after = text[match.end() : match.end() + 20]
        if _AFTER_NUMBER_UNIT.match(after) or _AFTER_NUMBER_NOUN.match(after):
            continue  # "12 %", "Weihnachtsmarkt 12 Taschendiebstähle": a count, not a house number
        lowered = word.lower()
        bare = lowered.rsplit("-", 1)[-1] in _BARE_STREET_WORDS
        named = lowered not in _NOT_STREETS and (lowered.endswith(_STREET_SUFFIXES) or lowered in _MARKET_STREETS)
        if named and ("-" in word or not bare):
            # Hauptstraße, Bahnhofstr., Karl-Marx-Allee; "Alte Poststraße" keeps its adjective,
            # "In der Hauptstraße" loses its preposition
            start = match.start() if prefix in _ADJECTIVES else match.start("word")
        elif bare and prefix in _ADJECTIVES:
            start = match.start()  # Lange Gasse, Hohe Straße, Alter Markt
        elif prefix in _PREPOSITIONS and not lowered.startswith(_NOT_STREET_STEMS):
            start = match.start()  # Am Markt, Unter den Linden, Zur Mühle
        else:
            continue  # Phase 2, Klasse 5, Straße 12 without a name
        yield start, match.end()


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


def _names(text: str) -> Iterator[tuple[int, int]]:
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


_DETECTORS: Final = (
    ("email", _emails),
    ("iban", _ibans),
    ("phone", _phones),
    ("date_of_birth", _dates_of_birth),
    ("vehicle_plate", _plates),
    ("street_address", _streets),
    ("person_name", _names),
)
