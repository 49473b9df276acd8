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
  ``Mr Jones``), or a given name from ``node/sharing/data/first_names.txt`` followed by a capitalised
  surname (``Anna Schmidt``). "eine Frau Mitte 70" is not a name, nor is "Friedrich Ebert Stiftung".

The detectors are heuristics tuned for German prevention texts; the test corpus in
``tests/node/pii_corpus.py`` measures them. All patterns use bounded or possessive quantifiers, so
hostile input cannot make them backtrack catastrophically.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from node.sharing.pii_names import first_names, person_names
from node.sharing.pii_patterns import Spans, dates_of_birth, emails, ibans, phones, plates, streets

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
    taken = Spans()
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


_DETECTORS: Final = (
    ("email", emails),
    ("iban", ibans),
    ("phone", phones),
    ("date_of_birth", dates_of_birth),
    ("vehicle_plate", plates),
    ("street_address", streets),
    ("person_name", person_names),
)
