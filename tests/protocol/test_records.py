"""Content schemas of experience records and alerts: every refusal names its field."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import ProtocolError, SchemaError
from protocol.records import (
    ALERT_SCHEMA,
    CASE_BANDS,
    DATE_HINT,
    DEFAULT_SMALL_NUMBER_THRESHOLD,
    EXPERIENCE_SCHEMA,
    KINDS,
    LOCAL_FIELDS,
    MIN_SMALL_NUMBER_THRESHOLD,
    RECORD_KINDS,
    RETRACTION_SCHEMA,
    SCHEMAS,
    ContentError,
    Kind,
    case_band,
    case_bands,
    check_kind,
    check_threshold,
    is_case_band,
    shared_content,
    validate_content,
)

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

FULL_EXPERIENCE: dict[str, Any] = {
    "title": "Sicherer Schulweg",
    "summary": "Eltern, Schule und Ordnungsamt begleiten den Schulweg.",
    "problem": "Unsicherheitsgefühl laut kommunaler Sicherheitsbefragung 2025.",
    "causes": "Schlecht beleuchtete Unterführung.",
    "goals": "Weniger Angsträume.",
    "target_groups": ["Kinder", "Eltern"],
    "measures": "Beleuchtung, Begehungen.",
    "implementation": {"duration": "2 Jahre", "costs": "15.000 EUR", "staff": "0,5 Stelle", "partners": ["Polizei"]},
    "evaluation": {
        "kind": "outcome",
        "design": "Vorher-Nachher-Befragung",
        "result": "Deutlich weniger Angst.",
        "report_url": "https://example.de/bericht.pdf",
    },
    "evidence_level": "probable",
    "lessons": {"success_factors": "Frühe Beteiligung.", "pitfalls": "Lange Vergabe.", "transferability": "Hoch."},
    "topics": ["öffentlicher Raum"],
    "contact": {"mailbox": "praevention@musterstadt.de"},
}

FULL_ALERT: dict[str, Any] = {
    "headline": "Falsche Handwerker an der Haustür",
    "area": {"name": "Nordstadt", "ars": "064140000000"},
    "expires": "2026-12-31T00:00:00Z",
    "effective": "2026-11-22T00:00:00+01:00",
    "description": "Täter geben sich als Wasserwerker aus.",
    "phenomenon": "Trickbetrug",
    "urgency": "Expected",
    "severity": "Moderate",
    "certainty": "Observed",
    "trend": "rising",
    "case_band": "5-9",
    "instruction": "Niemanden unangemeldet hereinlassen.",
    "source": "Pressemitteilung der Polizei",
}


def test_full_records_are_valid() -> None:
    validate_content("experience", FULL_EXPERIENCE, allow_local=False)
    validate_content("alert", FULL_ALERT, allow_local=False, now=NOW)


def test_minimal_records_are_valid() -> None:
    validate_content("experience", {"title": "T", "summary": "S"}, allow_local=False)
    validate_content(
        "alert", {"headline": "H", "area": {"name": "A"}, "expires": "2027-01-01T00:00:00Z"}, allow_local=False
    )


def test_schemas_list_every_field() -> None:
    assert set(EXPERIENCE_SCHEMA["properties"]) == set(FULL_EXPERIENCE) | {"internal_notes"}
    assert set(ALERT_SCHEMA["properties"]) == set(FULL_ALERT) | {"internal_notes", "case_count"}
    assert RETRACTION_SCHEMA["properties"] == {}
    assert RETRACTION_SCHEMA["additionalProperties"] is False
    assert set(LOCAL_FIELDS) == {"internal_notes", "case_count"}


def test_kinds() -> None:
    assert KINDS == ("experience", "alert", "retraction")
    assert RECORD_KINDS == ("experience", "alert")
    assert set(SCHEMAS) == set(KINDS)


@pytest.mark.parametrize("name", ["title", "summary"])
def test_experience_required_field_missing(name: str) -> None:
    content = {k: v for k, v in FULL_EXPERIENCE.items() if k != name}
    with pytest.raises(SchemaError, match="required field is missing") as info:
        validate_content("experience", content, allow_local=False)
    assert info.value.field == name


@pytest.mark.parametrize("name", ["headline", "area", "expires"])
def test_alert_required_field_missing(name: str) -> None:
    content = {k: v for k, v in FULL_ALERT.items() if k != name}
    with pytest.raises(SchemaError, match="required field is missing") as info:
        validate_content("alert", content, allow_local=False, now=NOW)
    assert info.value.field == name


def test_alert_area_name_missing() -> None:
    content = {**FULL_ALERT, "area": {"ars": "06414"}}
    with pytest.raises(SchemaError, match="required field is missing") as info:
        validate_content("alert", content, allow_local=False)
    assert info.value.field == "area.name"


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    content = copy.deepcopy(base)
    *parents, last = path.split(".")
    target = content
    for name in parents:
        target = target[name]
    target[last] = value
    return content


@pytest.mark.parametrize(
    ("kind", "path", "field"),
    [
        ("experience", "colour", "colour"),
        ("experience", "implementation.foo", "implementation.foo"),
        ("experience", "evaluation.score", "evaluation.score"),
        ("experience", "lessons.extra", "lessons.extra"),
        ("experience", "contact.name", "contact.name"),
        ("alert", "colour", "colour"),
        ("alert", "area.lat", "area.lat"),
    ],
)
def test_unknown_field_is_refused(kind: Kind, path: str, field: str) -> None:
    base = FULL_EXPERIENCE if kind == "experience" else FULL_ALERT
    with pytest.raises(SchemaError, match="unknown field") as info:
        validate_content(kind, _with(base, path, "x"), allow_local=False)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kind", "path", "value", "message"),
    [
        ("experience", "title", 5, "must be of type string, not int"),
        ("experience", "title", None, "must be of type string"),
        ("experience", "title", ["a"], "must be of type string"),
        ("experience", "title", "", "must not be empty"),
        ("experience", "title", "x" * 301, "longer than 300"),
        ("experience", "summary", "x" * 5001, "longer than 5000"),
        ("experience", "problem", "x" * 20001, "longer than 20000"),
        ("experience", "target_groups", "Kinder", "must be of type array"),
        ("experience", "target_groups", ["x"] * 31, "more than 30"),
        ("experience", "implementation", "2 Jahre", "must be of type object"),
        ("experience", "implementation.partners", ["x"] * 51, "more than 50"),
        ("experience", "implementation.costs", 15000, "must be of type string"),
        ("experience", "evaluation.kind", "great", "must be one of"),
        ("experience", "evaluation.report_url", "ftp://example.de/x", "wrong format"),
        ("experience", "evaluation.report_url", "https://example.de/a b", "wrong format"),
        ("experience", "evaluation.report_url", "https://example.de/x\n", "wrong format"),
        ("experience", "evidence_level", "excellent", "must be one of"),
        ("experience", "evidence_level", None, "must be one of"),
        ("experience", "contact.mailbox", "Max Mustermann", "wrong format"),
        ("experience", "contact.mailbox", "a@b", "wrong format"),
        ("experience", "contact.mailbox", "praevention@musterstadt.de\n", "wrong format"),
        ("experience", "contact.mailbox", "x" * 250 + "@b.de", "longer than 254"),
        ("alert", "headline", "", "must not be empty"),
        ("alert", "area", "Nordstadt", "must be of type object"),
        ("alert", "area.ars", 6414, "must be of type string"),
        ("alert", "area.ars", "0", "wrong format"),
        ("alert", "area.ars", "0641400000001", "wrong format"),
        ("alert", "area.ars", "06414a", "wrong format"),
        ("alert", "area.ars", "06414\n", "wrong format"),
        ("alert", "urgency", "immediate", "must be one of"),
        ("alert", "severity", "High", "must be one of"),
        ("alert", "certainty", "Sure", "must be one of"),
        ("alert", "trend", "up", "must be one of"),
        ("alert", "case_band", "7", "wrong format"),
        ("alert", "case_band", 7, "must be of type string, not integer"),
        ("alert", "case_band", None, "must be of type string"),
        ("alert", "case_count", -1, "less than the minimum of 0"),
        ("alert", "case_count", 10**9 + 1, "greater than the maximum of 1000000000"),
        ("alert", "case_count", "7", "must be of type integer, not string"),
        ("alert", "case_count", True, "must be of type integer, not boolean"),
        ("alert", "case_count", 2.5, "must be of type integer"),
        ("alert", "expires", 1796000000, "must be of type string"),
        ("alert", "expires", "x" * 41, "longer than 40"),
    ],
)
def test_wrong_value_is_refused(kind: Kind, path: str, value: Any, message: str) -> None:
    base = FULL_EXPERIENCE if kind == "experience" else FULL_ALERT
    with pytest.raises(SchemaError, match=message) as info:
        validate_content(kind, _with(base, path, value), allow_local=True)
    assert info.value.field == path


@pytest.mark.parametrize(
    ("path", "items", "message"),
    [
        ("target_groups", ["Kinder", ""], "must not be empty"),
        ("target_groups", ["Kinder", 1], "must be of type string"),
        ("topics", ["ok", "x" * 101], "longer than 100"),
        ("implementation.partners", ["ok", "x" * 201], "longer than 200"),
    ],
)
def test_wrong_list_item_is_refused_with_its_index(path: str, items: list[Any], message: str) -> None:
    with pytest.raises(SchemaError, match=message) as info:
        validate_content("experience", _with(FULL_EXPERIENCE, path, items), allow_local=False)
    assert info.value.field == f"{path}.1"


# --- case bands -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "band",
    ["<5", "5-9", "10-19", "20+", "<3", "3-5", "6-11", "12+", "<10000", "10000-19999", "20000-39999", "40000+"],
)
def test_case_band_pattern_accepts(band: str) -> None:
    validate_content("alert", {**FULL_ALERT, "case_band": band}, allow_local=False)
    assert is_case_band(band)


@pytest.mark.parametrize(
    "band",
    [
        "2-2",  # finding 11: an exact small count in the form of a band
        "1-1",
        "5-5",
        "9-9",
        "5-8",
        "5-10",
        "10-20",
        "3-4",
        "<1",
        "<2",
        "<10001",
        "<99999",
        "4+",  # k = 1
        "8+",  # k = 2
        "13+",
        "21+",
        "40004+",
        "99999+",
        "2-3",  # k = 1 or k = 2
        "3-3",
        "6-10",
        "20001-40001",
        "12345-67890",
    ],
)
def test_finding_11_a_well_formed_text_that_is_no_band_of_any_threshold_is_refused(band: str) -> None:
    for allow_local in (False, True):
        with pytest.raises(SchemaError, match="is not a case band") as info:
            validate_content("alert", {**FULL_ALERT, "case_band": band}, allow_local=allow_local)
        assert info.value.field == "case_band"
        assert repr(band) in str(info.value)
    assert not is_case_band(band)


@pytest.mark.parametrize("value", [None, 5, ["<5"], "<5\n", " <5", "<05"])
def test_is_case_band_refuses_other_values(value: Any) -> None:
    assert not is_case_band(value)


@pytest.mark.parametrize(
    "band",
    [
        "5 to 9",
        "",
        "<0",
        "-5",
        "5",
        "7",
        "<",
        "+",
        "5-",
        "-9",
        "5--9",
        "5-9-12",
        "<5+",
        "<=5",
        ">20",
        "20++",
        "0-4",
        "05-9",
        "5-09",
        "0+",
        "<05",
        "<100000",
        "100000+",
        "1-100000",
        " 5-9",
        "5-9 ",
        "5 - 9",
        "5-9\n",
        "\n5-9",
        "5\u20139",  # en dash
        "\uff15-\uff19",  # full-width digits
        "\u0665-\u0669",  # Arabic-Indic digits
        "fünf bis neun",
    ],
)
def test_case_band_pattern_refuses_junk(band: str) -> None:
    with pytest.raises(SchemaError, match="has the wrong format") as info:
        validate_content("alert", {**FULL_ALERT, "case_band": band}, allow_local=True)
    assert info.value.field == "case_band"


def test_default_case_bands() -> None:
    assert DEFAULT_SMALL_NUMBER_THRESHOLD == 5
    assert case_bands() == ("<5", "5-9", "10-19", "20+") == CASE_BANDS
    assert case_bands(5) == case_bands()


@pytest.mark.parametrize(
    ("k", "bands"),
    [
        (3, ("<3", "3-5", "6-11", "12+")),
        (5, ("<5", "5-9", "10-19", "20+")),
        (10, ("<10", "10-19", "20-39", "40+")),
        (10000, ("<10000", "10000-19999", "20000-39999", "40000+")),
    ],
)
def test_case_bands_for_k(k: int, bands: tuple[str, str, str, str]) -> None:
    assert case_bands(k) == bands
    for band in bands:
        validate_content("alert", {**FULL_ALERT, "case_band": band}, allow_local=False)


@pytest.mark.parametrize("k", [0, 1, 2, -1, -5, 10001, 10**9, True, False, 5.0, "5", None])
def test_case_bands_refuse_invalid_k(k: Any) -> None:
    # k = 1 and k = 2 would yield bands naming exact counts ("1-1", "<1") or pairs of them (finding 11)
    with pytest.raises(ProtocolError, match="small-number threshold must be between 3 and 10000"):
        case_bands(k)
    with pytest.raises(ProtocolError, match="small-number threshold must be between 3 and 10000"):
        case_band(3, k)
    with pytest.raises(ProtocolError, match="small-number threshold must be between 3 and 10000"):
        check_threshold(k)


@pytest.mark.parametrize(
    ("k", "count", "band"),
    [
        (5, 0, "<5"),
        (5, 1, "<5"),
        (5, 4, "<5"),
        (5, 5, "5-9"),
        (5, 9, "5-9"),
        (5, 10, "10-19"),
        (5, 19, "10-19"),
        (5, 20, "20+"),
        (5, 10**9, "20+"),
        (3, 0, "<3"),
        (3, 2, "<3"),
        (3, 3, "3-5"),
        (3, 5, "3-5"),
        (3, 6, "6-11"),
        (3, 11, "6-11"),
        (3, 12, "12+"),
        (10, 9, "<10"),
        (10, 10, "10-19"),
        (10, 19, "10-19"),
        (10, 20, "20-39"),
        (10, 39, "20-39"),
        (10, 40, "40+"),
    ],
)
def test_case_band_boundaries(k: int, count: int, band: str) -> None:
    assert case_band(count, k) == band
    if k == DEFAULT_SMALL_NUMBER_THRESHOLD:
        assert case_band(count) == band


def _band_range(band: str) -> tuple[int, int | None]:
    """The counts a band stands for, as (lowest, highest or None for no limit)."""
    if band.startswith("<"):
        return 0, int(band[1:]) - 1
    if band.endswith("+"):
        return int(band[:-1]), None
    low, high = band.split("-")
    return int(low), int(high)


@settings(max_examples=300)
@given(st.integers(min_value=3, max_value=10000), st.integers(min_value=0, max_value=10**9))
def test_case_band_contains_the_count(k: int, count: int) -> None:
    band = case_band(count, k)
    assert band in case_bands(k)
    low, high = _band_range(band)
    assert low <= count
    assert high is None or count <= high


@settings(max_examples=100)
@given(st.integers(min_value=3, max_value=10000))
def test_case_bands_partition_the_counts(k: int) -> None:
    # The four bands are contiguous and cover 0.. without gaps or overlaps; the smallest exact
    # number a band reveals is k.
    ranges = [_band_range(band) for band in case_bands(k)]
    assert ranges[0][0] == 0
    for (_, high), (low, _) in itertools.pairwise(ranges):
        assert high is not None
        assert low == high + 1
    assert ranges[-1][1] is None
    assert ranges[1][0] == k
    for (low, high), band in zip(ranges, case_bands(k), strict=True):
        assert high is None or high - low + 1 >= MIN_SMALL_NUMBER_THRESHOLD  # no band names an exact count
        assert is_case_band(band)
        validate_content("alert", {**FULL_ALERT, "case_band": band}, allow_local=False)


@pytest.mark.parametrize("content", [None, [], "text", 5])
def test_content_must_be_an_object(content: Any) -> None:
    with pytest.raises(SchemaError, match="must be a JSON object") as info:
        validate_content("experience", content, allow_local=True)
    assert info.value.field == "(content)"


def test_check_kind() -> None:
    assert check_kind("experience") == "experience"
    assert check_kind("alert") == "alert"
    assert check_kind("retraction") == "retraction"
    for kind in ("Experience", "note", None, "", "Retraction", "tombstone"):
        with pytest.raises(SchemaError, match="unknown type") as info:
            check_kind(kind)
        assert info.value.field == "type"


def test_every_problem_is_reported_deterministically() -> None:
    content = {"summary": 5, "colour": "x"}
    messages = set()
    for _ in range(5):
        with pytest.raises(SchemaError) as info:
            validate_content("experience", content, allow_local=False)
        messages.add(str(info.value))
    assert messages == {
        "3 problems: title: required field is missing; summary: must be of type string, not integer; "
        "colour: unknown field"
    }


def test_three_distinct_problems_are_all_named_with_their_field_paths_in_schema_order() -> None:
    content = {**FULL_EXPERIENCE, "implementation": {"costs": 15000}, "evidence_level": "excellent"}
    del content["title"]
    with pytest.raises(ContentError) as info:
        validate_content("experience", content, allow_local=False)
    assert [field for field, _ in info.value.problems] == ["title", "implementation.costs", "evidence_level"]
    assert info.value.field == "title"  # the first, for callers that name one field
    message = str(info.value)
    assert message.startswith("3 problems: ")
    for needle in ("title: required", "implementation.costs: must be of type string", "evidence_level: must be one"):
        assert needle in message


def test_several_unknown_and_missing_members_are_each_named() -> None:
    content = {"headline": "H", "area": {"lat": 1, "lon": 2}, "colour": "x", "expires": "2026-12-31T00:00:00Z"}
    with pytest.raises(ContentError) as info:
        validate_content("alert", content, allow_local=False)
    assert info.value.problems == (
        ("area.name", "required field is missing"),
        ("area.lat", "unknown field"),
        ("area.lon", "unknown field"),
        ("colour", "unknown field"),
    )


def test_local_fields_and_schema_problems_are_reported_together() -> None:
    content = {**FULL_ALERT, "internal_notes": "x", "urgency": "soon", "case_band": "2-2", "expires": "morgen"}
    with pytest.raises(ContentError) as info:
        validate_content("alert", content, allow_local=False, now=NOW)
    fields = [field for field, _ in info.value.problems]
    assert fields == ["expires", "urgency", "case_band", "internal_notes"]


def test_one_problem_keeps_the_one_line_message() -> None:
    with pytest.raises(ContentError) as info:
        validate_content("experience", {**FULL_EXPERIENCE, "title": ""}, allow_local=False)
    assert str(info.value) == "title: must not be empty"
    assert info.value.problems == (("title", "must not be empty"),)


@pytest.mark.parametrize("value", ["2026-12-31", "31.12.2026 18:00", "2026-12-31T18:00:00", 1796000000, None])
def test_a_wrongly_written_time_says_which_format_it_needs_with_an_example(value: Any) -> None:
    for name in ("expires", "effective"):
        with pytest.raises(ContentError) as info:
            validate_content("alert", {**FULL_ALERT, name: value}, allow_local=False, now=NOW)
        assert info.value.field == name
        assert DATE_HINT in str(info.value)
        assert "e.g. 2026-12-31T18:00:00+01:00" in DATE_HINT


def test_a_missing_expiry_says_how_to_write_one() -> None:
    content = {k: v for k, v in FULL_ALERT.items() if k != "expires"}
    with pytest.raises(ContentError) as info:
        validate_content("alert", content, allow_local=False)
    assert info.value.problems == (("expires", f"required field is missing; {DATE_HINT}"),)


def test_an_expiry_in_the_past_gets_no_format_hint() -> None:
    content = {k: v for k, v in FULL_ALERT.items() if k != "effective"}
    with pytest.raises(ContentError) as info:
        validate_content("alert", {**content, "expires": "2026-11-01T00:00:00Z"}, allow_local=False, now=NOW)
    assert info.value.problems == (("expires", "lies in the past; an alert must expire in the future"),)


# --- alert times ------------------------------------------------------------------------------


def test_alert_expired_is_refused() -> None:
    content = {**FULL_ALERT, "expires": "2026-11-22T07:59:59Z"}
    with pytest.raises(SchemaError, match="lies in the past") as info:
        validate_content("alert", content, allow_local=False, now=NOW)
    assert info.value.field == "expires"
    # Without `now` (e.g. an archived alert from an envelope) the time is not checked.
    validate_content("alert", content, allow_local=False)


def test_alert_expiring_now_is_refused() -> None:
    with pytest.raises(SchemaError, match="lies in the past"):
        validate_content("alert", {**FULL_ALERT, "expires": "2026-11-22T09:00:00+01:00"}, allow_local=False, now=NOW)


@pytest.mark.parametrize(
    "expires", ["2026-12-31T00:00:00", "2026-12-31", "31.12.2026", "2026-12-31T00:00Z", "2026-13-31T00:00:00Z", ""]
)
def test_alert_expires_without_offset_or_malformed_is_refused(expires: str) -> None:
    with pytest.raises(SchemaError) as info:
        validate_content("alert", {**FULL_ALERT, "expires": expires}, allow_local=False, now=NOW)
    assert info.value.field == "expires"


def test_alert_effective_without_offset_is_refused() -> None:
    with pytest.raises(SchemaError, match="UTC offset") as info:
        validate_content("alert", {**FULL_ALERT, "effective": "2026-11-22T00:00:00"}, allow_local=False, now=NOW)
    assert info.value.field == "effective"


@pytest.mark.parametrize("effective", ["2027-01-01T00:00:00Z", "2026-12-31T00:00:00Z", "2026-12-31T01:00:00+01:00"])
def test_alert_effective_not_before_expires_is_refused(effective: str) -> None:
    with pytest.raises(SchemaError, match="later than effective") as info:
        validate_content("alert", {**FULL_ALERT, "effective": effective}, allow_local=False, now=NOW)
    assert info.value.field == "expires"


@pytest.mark.parametrize(
    "expires", ["2026-12-31T00:00:00Z", "2026-12-31T00:00:00.5+02:00", "2026-12-31T00:00:00-05:00"]
)
def test_alert_expires_formats(expires: str) -> None:
    validate_content("alert", {**FULL_ALERT, "expires": expires}, allow_local=False, now=NOW)


# --- local fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "base", "name", "value"),
    [
        ("experience", FULL_EXPERIENCE, "internal_notes", "Ansprechpartner: Herr M."),
        ("alert", FULL_ALERT, "internal_notes", "Ansprechpartner: Herr M."),
        ("alert", FULL_ALERT, "case_count", 7),
        ("alert", FULL_ALERT, "case_count", 0),
    ],
)
def test_local_fields_never_leave(kind: Kind, base: dict[str, Any], name: str, value: Any) -> None:
    content = {**base, name: value}
    validate_content(kind, content, allow_local=True)
    with pytest.raises(SchemaError, match="is a local field and must never be sent") as info:
        validate_content(kind, content, allow_local=False)
    assert info.value.field == name
    shared = shared_content(content)
    assert name not in shared
    assert shared == base
    validate_content(kind, shared, allow_local=False)
    assert name in content  # the input is not changed


def test_all_local_fields_are_stripped_together() -> None:
    content = {**FULL_ALERT, "internal_notes": "x", "case_count": 12}
    with pytest.raises(SchemaError) as info:
        validate_content("alert", content, allow_local=False)
    assert info.value.field == "case_count"  # the first in sorted order
    assert shared_content(content) == FULL_ALERT


def test_case_count_alone_is_allowed_locally() -> None:
    # An officer may give only the exact count; the node derives the band before signing.
    content = {k: v for k, v in FULL_ALERT.items() if k != "case_band"}
    validate_content("alert", {**content, "case_count": 12}, allow_local=True)
    validate_content("alert", {**shared_content(content), "case_band": case_band(12)}, allow_local=False)


def test_case_count_is_an_alert_field_only() -> None:
    with pytest.raises(SchemaError, match="unknown field") as info:
        validate_content("experience", {**FULL_EXPERIENCE, "case_count": 3}, allow_local=True)
    assert info.value.field == "case_count"


def test_internal_notes_must_be_text_even_locally() -> None:
    with pytest.raises(SchemaError, match="must be of type string") as info:
        validate_content("experience", {**FULL_EXPERIENCE, "internal_notes": 5}, allow_local=True)
    assert info.value.field == "internal_notes"


def test_schema_error_message_names_the_field() -> None:
    with pytest.raises(SchemaError) as info:
        validate_content("experience", _with(FULL_EXPERIENCE, "implementation.foo", 1), allow_local=False)
    assert str(info.value) == "implementation.foo: unknown field"
    assert info.value.reason == "unknown field"


# --- retractions ------------------------------------------------------------------------------


@pytest.mark.parametrize("allow_local", [True, False])
def test_retraction_content_is_the_empty_object(allow_local: bool) -> None:
    validate_content("retraction", {}, allow_local=allow_local)


@pytest.mark.parametrize(
    "content",
    [
        {"reason": "Fehler"},
        {"title": "T", "summary": "S"},
        {"internal_notes": "nur für uns"},
        {"case_count": 3},
        {"id": "rec-0001abcd"},
        {"version": 2},
    ],
)
@pytest.mark.parametrize("allow_local", [True, False])
def test_retraction_refuses_every_field(content: dict[str, Any], allow_local: bool) -> None:
    with pytest.raises(SchemaError, match="unknown field") as info:
        validate_content("retraction", content, allow_local=allow_local)
    assert info.value.field == sorted(content)[0]


@pytest.mark.parametrize("content", [None, [], "", 0])
def test_retraction_content_must_be_an_object(content: Any) -> None:
    with pytest.raises(SchemaError, match="must be a JSON object"):
        validate_content("retraction", content, allow_local=False)
