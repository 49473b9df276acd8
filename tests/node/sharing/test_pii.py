"""The PII check before signing (node/sharing/pii.py), measured on the corpus in tests/node/pii_corpus.py."""

from __future__ import annotations

from typing import Any

import pytest

from node.sharing.pii import KINDS, Finding, first_names, scan_content, scan_text
from tests.node.pii_corpus import ALLOWED_MAILBOX, CLEAN, PLANTED, planted_case

# --- measurement on the corpus ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_span_is_found_with_its_kind(name: str) -> None:
    case = planted_case(name)
    found = {(f.kind, f.start, f.end, f.text) for f in scan_text(case.text, "summary")}
    for span in case.spans:
        assert (span.kind, span.start, span.end, span.text) in found, f"missed {span.kind} {span.text!r}"


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_text_has_no_other_finding(name: str) -> None:
    case = planted_case(name)
    planted = {(span.kind, span.start, span.end) for span in case.spans}
    extra = [f.describe() for f in scan_text(case.text, "summary") if (f.kind, f.start, f.end) not in planted]
    assert extra == []


def test_corpus_has_enough_planted_cases_for_every_kind() -> None:
    assert len(PLANTED) >= 40
    per_kind = {kind: 0 for kind in KINDS}
    for name in PLANTED:
        for span in planted_case(name).spans:
            per_kind[span.kind] += 1
    assert min(per_kind.values()) >= 5, per_kind


def test_false_positive_rate_is_0_of_72_clean_texts() -> None:
    """Measured false-positive rate: 0 of the 72 clean prevention texts get any finding.

    The clean texts are full of near misses (budgets, date ranges, postal codes, ARS keys, case
    bands, "§ 14 SGB VIII", "Klasse 5", "A 8", markdown timelines, "eine Frau Mitte 70", the
    function mailbox). The last 20 were written as a held-out batch after the detectors had been
    tuned on the others, and were clean on the first run too. The count is asserted exactly, so a
    change in either direction makes this test and its name wrong.
    """
    flagged = {
        text: [f.describe() for f in findings]
        for text in CLEAN
        if (findings := scan_text(text, "summary", allowed_mailbox=ALLOWED_MAILBOX))
    }
    assert len(CLEAN) == 72
    assert flagged == {}


def test_offsets_are_exact() -> None:
    texts = [planted_case(name).text for name in PLANTED] + list(CLEAN)
    findings = [(text, f) for text in texts for f in scan_text(text, "summary")]
    assert findings
    for text, finding in findings:
        assert text[finding.start : finding.end] == finding.text
        assert finding.kind in KINDS


# --- detectors: what must not be reported ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Paragraph 12",
        "Kapitel 3",
        "Phase 2",
        "Klasse 5",
        "§ 12",
        "Jahr 2023",
        "Schuljahr 2",
        "Stufe 3",
        "Im Schnitt 3 Fälle",
        "Hauptstraße ohne Hausnummer",
        "Straße 12",
        "auf dem Spielplatz 3 Jugendliche",
        "Marienplatz",
        "4.000 EUR",
        "2019-2021",
        "86150 Augsburg",
        "01067 Dresden",
        "12 %",
        "10-19 Fälle",
        "Az. 0815/2023",
        "ARS 091620000000",
        "von 08 bis 12 Uhr",
        "CO2",
        "A 8",
        "B 17",
        "U 3",
        "S 1",
        "SGB VIII",
        "CC BY 4.0",
        "am 12.03.2023 begann das Projekt",
        "Stichtag 31.12.2023",
        "* 01.09.2023: Auftakt",
        "**01.09.2023**: Auftakt",
        "eine Frau Mitte 70",
        "ein älterer Herr Anfang 80",
        "Herr der Lage",
        "Friedrich Ebert Stiftung",
        "Sankt Augustin Jugendliche",
        "Max. Teilnehmerzahl",
        "Anne-Frank-Realschule",
        "Rosa Plakate",
        "Mai Kundgebung",
    ],
)
def test_not_reported(text: str) -> None:
    assert scan_text(text, "summary") == []


def test_iban_only_with_a_valid_checksum() -> None:
    valid = "IBAN DE89 3704 0044 0532 0130 00"
    wrong = "IBAN DE89 3704 0044 0532 0130 01"
    assert [(f.kind, f.text) for f in scan_text(valid, "x")] == [("iban", "DE89 3704 0044 0532 0130 00")]
    # IBAN-shaped but not an IBAN: not reported, and its digits are not taken for a phone number
    assert scan_text(wrong, "x") == []
    assert scan_text("DE89370400440532013001", "x") == []


def test_iban_stops_at_the_country_length() -> None:
    text = "an DE89 3704 0044 0532 0130 00 EUR 500"
    assert [f.text for f in scan_text(text, "x")] == ["DE89 3704 0044 0532 0130 00"]


def test_bare_digit_runs_count_as_phone_numbers_only_with_a_phone_length_or_cue() -> None:
    assert [f.text for f in scan_text("Nummer 01711234567", "x")] == ["01711234567"]
    assert scan_text("Schlüssel 091620000000", "x") == []  # 12 digits: an ARS, not a landline
    assert [f.text for f in scan_text("Tel. 091620000000", "x")] == ["091620000000"]


def test_date_of_birth_needs_a_cue() -> None:
    assert scan_text("Termin 12.03.1987", "x") == []
    assert [f.kind for f in scan_text("geb. 12.03.1987", "x")] == ["date_of_birth"]
    assert [f.kind for f in scan_text("Max M. (*12.03.1987)", "x")] == ["date_of_birth"]
    assert [f.kind for f in scan_text("Geburtstag am 12.03.1987", "x")] == ["date_of_birth"]
    assert scan_text("geb. 31.13.1987", "x") == []  # no 13th month


# --- scan_content --------------------------------------------------------------------------------


def test_scan_content_names_nested_fields_and_list_indices() -> None:
    content: dict[str, Any] = {
        "title": "Sicher wohnen",
        "summary": "Kontakt: Herr Müller",
        "implementation": {"partners": ["Caritas", "Weißer Ring", "Anna Schmidt (Elternbeirat)"], "costs": "4.000 EUR"},
        "area": {"name": "Lechhausen, Hauptstraße 12", "ars": "091620000000"},
    }
    findings = scan_content(content)
    assert [(f.field, f.kind, f.text) for f in findings] == [
        ("area.name", "street_address", "Hauptstraße 12"),
        ("implementation.partners[2]", "person_name", "Anna Schmidt"),
        ("summary", "person_name", "Herr Müller"),
    ]
    assert findings[0].start == len("Lechhausen, ")


def test_scan_content_orders_by_field_then_position_with_numeric_indices() -> None:
    partners = ["Caritas"] * 11
    partners[2] = "Herr Meier und Frau Kowalski"
    partners[10] = "Herr Weber"
    findings = scan_content({"implementation": {"partners": partners}})
    assert [(f.field, f.text) for f in findings] == [
        ("implementation.partners[2]", "Herr Meier"),
        ("implementation.partners[2]", "Frau Kowalski"),
        ("implementation.partners[10]", "Herr Weber"),
    ]


def test_function_mailbox_is_allowed_and_other_mailboxes_are_not() -> None:
    content = {
        "summary": "Fragen an PRAEVENTION@stadt.de oder an m.mueller@stadt.de",
        "contact": {"mailbox": "praevention@stadt.de"},
    }
    findings = scan_content(content, allowed_mailbox="Praevention@Stadt.de")
    assert [(f.field, f.kind, f.text) for f in findings] == [("summary", "email", "m.mueller@stadt.de")]


def test_mailbox_field_itself_is_not_scanned() -> None:
    assert scan_content({"contact": {"mailbox": "anna.schmidt@stadt.de"}}) == []
    # without allowed_mailbox the same address elsewhere is reported
    findings = scan_content({"summary": "anna.schmidt@stadt.de", "contact": {"mailbox": "anna.schmidt@stadt.de"}})
    assert [(f.field, f.kind) for f in findings] == [("summary", "email")]


def test_scan_content_ignores_non_strings_and_empty_content() -> None:
    assert scan_content({}) == []
    content: dict[str, Any] = {
        "case_count": 1234567,
        "flag": True,
        "nothing": None,
        "ratio": 0.5,
        "nested": {"list": [7, [8, None], {"deep": "Tel. 0821 3241234"}]},
    }
    assert [(f.field, f.kind) for f in scan_content(content)] == [("nested.list[2].deep", "phone")]


# --- Finding ---------------------------------------------------------------------------------------


def test_describe_names_field_positions_kind_and_text() -> None:
    text = "Bitte rufen Sie die Kollegin in Augsburg unter 0821 324-1234 an."
    [finding] = scan_text(text, "summary")
    assert finding == Finding("summary", "phone", 47, 60, "0821 324-1234")
    # positions are 1-based and inclusive: the 48th to the 60th character
    assert finding.describe() == 'summary, characters 48-60: phone number "0821 324-1234"'


def test_describe_labels_every_kind() -> None:
    labels = {kind: Finding("f", kind, 0, 1, "x").describe().split(": ", 1)[1].rsplit(" ", 1)[0] for kind in KINDS}
    assert labels == {
        "email": "e-mail address",
        "iban": "IBAN",
        "phone": "phone number",
        "date_of_birth": "date of birth",
        "vehicle_plate": "vehicle registration plate",
        "street_address": "street address",
        "person_name": "personal name",
    }


# --- first-name list -------------------------------------------------------------------------------


def test_first_name_list_is_loaded_from_package_data() -> None:
    names = first_names()
    assert 800 <= len(names) <= 1500
    assert {"Anna", "Mehmet", "Katarzyna", "Giuseppe", "Olga", "Dragan", "Fatima", "John"} <= names
    assert not any(name.startswith("#") or name != name.strip() or not name for name in names)
    # left out on purpose: common capitalised words (see the file's header)
    assert not {"Mai", "April", "August", "Rosa", "Kai", "Mark", "Nur", "Can", "Will"} & names


# --- hostile input ---------------------------------------------------------------------------------
# No timing here: these inputs are large enough that a backtracking pattern would hang the suite
# for minutes, while the linear detectors take well under a second each.


@pytest.mark.parametrize(
    ("text", "possible_kinds"),
    [
        pytest.param("a" * 1_000_000, set(), id="1MB-letters"),
        pytest.param("1" * 1_000_000, set(), id="1MB-digits"),
        pytest.param("0" * 200_000, set(), id="zeros"),
        pytest.param("1 " * 100_000, set(), id="digit-space"),
        pytest.param("a@" * 50_000, set(), id="at-signs"),
        pytest.param("a." * 50_000 + "@", set(), id="dots-then-at"),
        pytest.param("x@" + "a." * 50_000, set(), id="at-then-dots"),
        pytest.param("0171 " * 20_000, {"phone"}, id="phone-prefixes"),  # the last "0171 0171" looks like one
        pytest.param("+4 " * 50_000, set(), id="plus-digits"),
        pytest.param("DE89 " * 20_000, set(), id="iban-prefixes"),
        pytest.param(("A" + "a" * 40 + "-") * 10_000, set(), id="hyphenated-words"),
        pytest.param("Am " * 50_000, set(), id="prepositions"),
        pytest.param("M-AB " * 20_000, set(), id="plate-prefixes"),
        pytest.param("12.03." * 50_000, set(), id="date-fragments"),
        pytest.param("Herr " * 20_000, {"person_name"}, id="honorifics"),
        pytest.param("Anna " * 20_000, {"person_name"}, id="given-names"),
        pytest.param("x * 1.1.1987 " * 10_000, {"date_of_birth"}, id="birth-stars"),
    ],
)
def test_hostile_input_completes(text: str, possible_kinds: set[str]) -> None:
    findings = scan_text(text, "description")
    assert {f.kind for f in findings} <= possible_kinds
    for finding in findings[:100]:
        assert text[finding.start : finding.end] == finding.text
