"""Pattern detectors of the PII check: e-mail addresses, IBANs, phone numbers, dates of birth,
vehicle plates and street addresses (see node/sharing/pii.py for what each reports and why).

Each detector yields (start, end) spans of one text. All patterns use bounded or possessive
quantifiers, so hostile input cannot make them backtrack catastrophically.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from typing import Final


class Spans:
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


# ---------------------------------------------------------------------------------------------
# e-mail

_EMAIL = re.compile(
    r"(?<![\w.%+\-])[\w.%+\-]{1,64}+@(?:[^\W_][\w\-]{0,62}+\.){1,8}[^\W\d_]{2,24}+(?![\w\-])",
)


def emails(text: str) -> Iterator[tuple[int, int]]:
    """E-mail addresses."""
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


def ibans(text: str) -> Iterator[tuple[int, int]]:
    """IBANs whose mod-97 checksum holds."""
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


def phones(text: str) -> Iterator[tuple[int, int]]:
    """Phone numbers (not the digits of an IBAN, not file or area keys)."""
    iban_shaped = Spans(iban.span() for iban in _IBAN.finditer(text))
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


def dates_of_birth(text: str) -> Iterator[tuple[int, int]]:
    """Dates right after a birth cue."""
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


def plates(text: str) -> Iterator[tuple[int, int]]:
    """German vehicle registration plates."""
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


def streets(text: str) -> Iterator[tuple[int, int]]:
    """Street names with a house number."""
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
