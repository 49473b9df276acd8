"""Writing records without reading SPEC.md: `records template`, `records export`, TOML content files,
and every problem in a file reported at once (#12)."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.home import Node
from node.inputs import parse_toml_content
from node.sharing.policy import markable_fields
from node.sharing.record_files import FIELD_GUIDE, render
from protocol.records import DATE_HINT, SCHEMAS, Kind, case_bands
from protocol.tlp import LABELS
from tests.cli.conftest import invoke, ok, ok_json, snapshot
from tests.cli.test_bad_input import assert_refused, trusted_fake_peer, unchanged, write
from tests.conftest import FakePeer

FULL_RECORD: dict[str, Any] = {
    "title": "Sicherer Schulweg",
    "summary": 'Eltern, Schule und Ordnungsamt begleiten den Schulweg.\nZweite Zeile mit "Anführungszeichen".',
    "problem": "Angst im Dunkeln\n\n- Unterführung\n- Parkplatz\\Hinterhof",
    "target_groups": ["Kinder", "Eltern"],
    "implementation": {"duration": "2 Jahre", "costs": "15.000 EUR", "partners": ["Polizei", "Schulamt"]},
    "evaluation": {"kind": "outcome", "report_url": "https://example.de/bericht.pdf"},
    "evidence_level": "probable",
    "lessons": {"pitfalls": 'Tab\tund """ drei Anführungszeichen', "transferability": "Windows\r\nZeilen"},
    "topics": ["öffentlicher Raum"],
    "contact": {"mailbox": "praevention@musterstadt.de"},
    "internal_notes": "LOCAL-ONLY: bleibt hier",
}


@pytest.fixture
def peer(home: Path) -> FakePeer:
    """Stadt Bonn, a peer that the node in `home` trusts."""
    return trusted_fake_peer(home)


def in_days(days: int) -> str:
    """A timestamp `days` from now, with a +01:00 offset as an officer in Germany writes it."""
    return (datetime.now(UTC) + timedelta(days=days)).astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")[:-2] + ":00"


def fill(template: str, **values: str) -> str:
    """The template with the required placeholders `name = ""` replaced by TOML values."""
    for name, value in values.items():
        placeholder = f'{name.replace("__", ".")} = ""'
        assert placeholder in template, placeholder
        template = template.replace(placeholder, f"{name.replace('__', '.')} = {value}", 1)
    return template


def prose(text: str) -> str:
    """A file's comments as one line of words, so that a phrase can be found however it was wrapped."""
    return " ".join(line.removeprefix("#").strip() for line in text.splitlines())


def blocks(text: str) -> dict[str, str]:
    """Each field's part of a template or export (its comment lines and its line), by field path."""
    found: dict[str, str] = {}
    path = None
    for line in text.splitlines():
        start = re.match(r"# .+ \(([a-z_.]+)\): ", line)
        path = start[1] if start else path
        if path is not None:
            found[path] = found.get(path, "") + line + "\n"
    return found


def every_field(kind: Kind) -> list[str]:
    """Every field path an officer writes (case_band is the node's to compute)."""
    paths = []
    for name, sub in SCHEMAS[kind]["properties"].items():
        if sub.get("type") == "object":
            paths += [f"{name}.{inner}" for inner in sub["properties"]]
        elif name != "case_band":
            paths.append(name)
    return paths


# --- records template ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["experience", "alert"])
def test_template_lists_every_field_with_its_german_label_and_allowed_values(home: Path, kind: Kind) -> None:
    text = ok("records", "template", kind, "--home", str(home)).stdout
    parts = blocks(text)
    assert list(parts) == every_field(kind)
    for path, part in parts.items():
        assert re.search(rf"^#? ?{re.escape(path)} = ", part, re.MULTILINE), path
        assert f"{FIELD_GUIDE[kind][path].label} ({path})" in part
        schema = SCHEMAS[kind]["properties"]
        parent, _, child = path.partition(".")
        field = schema[parent]["properties"][child] if child else schema[parent]
        for value in field.get("enum", []):
            assert f'"{value}" (' in prose(part)
    for label in LABELS:
        assert label in text
    assert "Markable: " + ", ".join(markable_fields(kind)) in prose(text)
    assert tomllib.loads(text)  # the template as printed is valid TOML


def test_alert_template_names_the_date_format_the_cap_values_and_this_nodes_bands(home: Path) -> None:
    config = home / "praevnet.toml"
    settings = tomllib.loads(config.read_text(encoding="utf-8"))
    settings["alerts"]["small_number_threshold"] = 10
    config.write_text(tomli_w.dumps(settings), encoding="utf-8")
    text = prose(ok("records", "template", "alert", "--home", str(home)).stdout)
    assert DATE_HINT in text
    assert "peers receive only its band (" + ", ".join(case_bands(10)) + ")" in text
    for value in ("Immediate", "Severe", "Observed", "rising"):
        assert f'"{value}"' in text
    assert "case_band =" not in text  # the node computes it


def test_template_filled_in_minimally_is_accepted_by_records_add(home: Path, tmp_path: Path) -> None:
    template = ok("records", "template", "experience", "--home", str(home)).stdout
    path = write(tmp_path / "bericht.toml", fill(template, title='"Sicherer Schulweg"', summary='"Kurz."'))
    record_id = ok_json("records", "add", path, "--home", str(home))["id"]
    assert ok_json("records", "show", record_id, "--home", str(home))["content"] == {
        "title": "Sicherer Schulweg",
        "summary": "Kurz.",
    }


def test_alert_template_filled_in_minimally_is_accepted_by_alerts_send(
    home: Path, tmp_path: Path, peer: FakePeer
) -> None:
    template = ok("records", "template", "alert", "--home", str(home)).stdout
    expires = in_days(3)
    text = fill(template, headline='"Falsche Handwerker"', area__name='"Nordstadt"', expires=f'"{expires}"')
    sent = ok_json("alerts", "send", write(tmp_path / "warnung.txt", text), "--to", "bonn", "--home", str(home))
    assert sent["recipients"] == [peer.node_id]
    content = ok_json("records", "show", sent["id"], "--home", str(home))["content"]
    assert content == {"headline": "Falsche Handwerker", "area": {"name": "Nordstadt"}, "expires": expires}


@pytest.mark.usefixtures("peer")
def test_an_unquoted_toml_date_time_is_taken_as_its_text(home: Path, tmp_path: Path) -> None:
    template = ok("records", "template", "alert", "--home", str(home)).stdout
    expires = in_days(2)
    text = fill(template, headline='"H"', area__name='"A"', expires=expires)  # a TOML offset date-time
    record = ok_json(
        "alerts", "send", write(tmp_path / "w.toml", text), "--all-peers", "--home", str(home), "--tlp", "green"
    )
    assert ok_json("records", "show", record["id"], "--home", str(home))["content"]["expires"] == expires


def test_template_unfilled_is_refused_naming_every_required_field(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "warnung.toml", ok("records", "template", "alert", "--home", str(home)).stdout)
    with unchanged(home):
        result = invoke("alerts", "send", path, "--all-peers", "--home", str(home))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: invalid alert, 3 problems:",
        "  headline: must not be empty",
        "  area.name: must not be empty",
        f"  expires: '' is not a valid date and time with a UTC offset; {DATE_HINT}",
    ]


# --- every problem at once ----------------------------------------------------------------------


def test_a_file_with_three_distinct_errors_names_all_three_and_stores_nothing(home: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path / "bericht.toml",
        'title = ""\nsummary = "S"\nevidence_level = "excellent"\nimplementation.costs = 15000\ncolour = "rot"\n',
    )
    with unchanged(home):
        result = invoke("records", "add", path, "--home", str(home))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "Error: invalid experience, 4 problems:",
        "  title: must not be empty",
        "  implementation.costs: must be of type string, not integer",
        "  evidence_level: must be one of 'none', 'theoretically_founded', 'probable', 'proven'",
        "  colour: unknown field",
    ]


def test_edit_names_every_problem_too_and_changes_nothing(home: Path, tmp_path: Path) -> None:
    record_id = ok(
        "records", "add", write(tmp_path / "r.json", json.dumps({"title": "T", "summary": "S"})), "--home", str(home)
    ).stdout.strip()
    bad = write(
        tmp_path / "bad.json", json.dumps({"summary": "", "topics": "Einbruch", "contact": {"mailbox": "Herr M"}})
    )
    with unchanged(home):
        result = invoke("records", "edit", record_id, bad, "--home", str(home))
    assert result.stderr.splitlines() == [
        "Error: invalid experience, 4 problems:",
        "  title: required field is missing",
        "  summary: must not be empty",
        "  topics: must be of type array, not string",
        "  contact.mailbox: has the wrong format",
    ]


@pytest.mark.parametrize("expires", ["2026-12-31", "31.12.2026 18:00", "2026-12-31T18:00:00", "morgen"])
def test_an_alert_with_a_wrongly_written_expiry_says_which_format_it_needs(
    home: Path, tmp_path: Path, expires: str
) -> None:
    content = {"headline": "H", "area": {"name": "A"}, "expires": expires}
    with unchanged(home):
        result = invoke(
            "alerts", "send", write(tmp_path / "a.json", json.dumps(content)), "--all-peers", "--home", str(home)
        )
    [line] = result.stderr.splitlines()
    assert (
        line
        == f"Error: invalid alert: expires: {expires!r} is not a valid date and time with a UTC offset; {DATE_HINT}"
    )
    assert "e.g. 2026-12-31T18:00:00+01:00" in line


def test_an_officer_band_is_named_with_the_other_problems(home: Path, tmp_path: Path) -> None:
    content = {"headline": "", "area": {"name": "A"}, "expires": in_days(1), "case_band": "<5"}
    with unchanged(home):
        result = invoke(
            "alerts", "send", write(tmp_path / "a.json", json.dumps(content)), "--all-peers", "--home", str(home)
        )
    lines = result.stderr.splitlines()
    assert lines[:2] == ["Error: invalid alert, 2 problems:", "  headline: must not be empty"]
    assert lines[2].startswith("  case_band is computed by this node from case_count")


# --- TOML files that are refused ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            'title = "A"\ntitle = "B"\nsummary = "S"\n',
            "not valid TOML: Cannot overwrite a value (at line 2, column 12)",
        ),
        ('title = "A\nsummary = "S"\n', "not valid TOML: Illegal character"),
        ('title = "A"\nsummary = "S"\nrating = 4.5\n', "rating: floating-point numbers are not allowed"),
        ('title = "A"\nsummary = "S"\nrating = nan\n', "rating: floating-point numbers are not allowed"),
        ('title = "A"\nsummary = "S"\nn = 9007199254740993\n', "n: integer 9007199254740993 is outside"),
        ('title = "A"\nsummary = "S"\nimplementation.partners = [1.5]\n', "implementation.partners[0]: floating-point"),
        ("title = 'Straße'\nsummary = 'S'\n".encode("latin-1"), "not UTF-8 text (byte 13)"),
        ("title = ", "not valid TOML"),
    ],
)
def test_a_broken_toml_file_is_refused_naming_where_and_what(
    home: Path, tmp_path: Path, text: str | bytes, problem: str
) -> None:
    path = write(tmp_path / "bericht.toml", text)
    with unchanged(home):
        result = invoke("records", "add", path, "--home", str(home))
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {path}: "), line
    assert problem in line


DOTS = "." * 40 + " 1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20"


@pytest.mark.parametrize(
    "text",
    [
        "a" + ".a" * 100_000 + " = 1\n",  # the parser's memory grows with the square of this
        "a = " + "[" * 100_000 + "\n",
        "a = " + "{b = " * 20_000 + "\n",
        "[" + "a." * 20 + "a]\n",
        'title = "T"\nsummary = "S"\nimplementation = {' + "x." * 16 + "y = 1}\n",
        '# a comment "\ntitle = "T"\n' + "k" + ".k" * 16 + " = 1\n",
        'title = """a""""\n' + "k" + ".k" * 16 + " = 1\n",
    ],
    ids=["dotted-key", "arrays", "inline-tables", "header", "inline-dotted", "after-comment", "after-quotes"],
)
def test_toml_nested_too_deeply_is_refused_before_it_is_parsed(home: Path, tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "tief.toml", text)
    with unchanged(home):
        result = invoke("records", "add", path, "--home", str(home))
    assert_refused(result, f"{path}: line ", "nests deeper than 16 levels")


def test_dots_and_brackets_in_text_and_comments_do_not_count_as_nesting(home: Path, tmp_path: Path) -> None:
    text = (
        f"# {DOTS} [[[[[[[[[[[[[[[[[[[[\n"
        f'title = "{DOTS} \\" {DOTS} [[[[[[[[[[[[[[[[[[[["\n'
        f"summary = '''{DOTS}\n{DOTS} {{{{{{{{{{{{{{{{{{{{''''\n"
        f'problem = """{DOTS}\n\\""" {DOTS}\n"""\n'
        f"causes = '{DOTS} # kein Kommentar'  # {DOTS}\n"
        'implementation.costs = "1.000.000 EUR"\n'
        f'target_groups = ["""x"""", "{DOTS}"]\n'
    )
    record_id = ok("records", "add", write(tmp_path / "punkte.toml", text), "--home", str(home)).stdout.strip()
    content = ok_json("records", "show", record_id, "--home", str(home))["content"]
    assert content["title"] == f'{DOTS} " {DOTS} [[[[[[[[[[[[[[[[[[[['
    assert content["summary"] == f"{DOTS}\n{DOTS} {{{{{{{{{{{{{{{{{{{{'"
    assert content["problem"] == f'{DOTS}\n""" {DOTS}\n'
    assert content["causes"] == f"{DOTS} # kein Kommentar"
    assert content["target_groups"] == ['x"', DOTS]


def test_a_file_starting_with_a_brace_is_json_and_one_named_json_is_never_toml(home: Path, tmp_path: Path) -> None:
    ok("records", "add", write(tmp_path / "r.txt", ' {"title": "T", "summary": "S"}'), "--home", str(home))
    result = invoke("records", "add", write(tmp_path / "r.json", 'title = "T"\nsummary = "S"\n'), "--home", str(home))
    assert "malformed JSON" in result.stderr
    ok("records", "add", write(tmp_path / "r.TOML", '\ufefftitle = "T"\nsummary = "S"\n'), "--home", str(home))


# --- records export -----------------------------------------------------------------------------


def test_export_gives_back_a_file_that_edit_accepts_unchanged(home: Path, tmp_path: Path) -> None:
    source = write(tmp_path / "r.json", json.dumps(FULL_RECORD, ensure_ascii=False))
    record_id = ok(
        "records",
        "add",
        source,
        "--local",
        "implementation.costs",
        "--local",
        "problem",
        "--home",
        str(home),
        "--tlp",
        "green",
    ).stdout.strip()
    exported = ok("records", "export", record_id, "--home", str(home)).stdout
    assert parse_toml_content(exported.encode(), "export") == FULL_RECORD
    path = write(tmp_path / "bericht.toml", exported)
    assert ok_json("records", "edit", record_id, path, "--home", str(home))["version"] == 2
    shown = ok_json("records", "show", record_id, "--home", str(home))
    assert shown["content"] == FULL_RECORD
    assert (shown["tlp"], shown["local_fields"]) == ("TLP:GREEN", ["implementation.costs", "problem"])
    assert ok("records", "export", record_id, "--home", str(home)).stdout == exported.replace("version 1", "version 2")


def test_export_marks_local_fields(home: Path, tmp_path: Path) -> None:
    source = write(tmp_path / "r.json", json.dumps(FULL_RECORD, ensure_ascii=False))
    record_id = ok("records", "add", source, "--local", "implementation", "--home", str(home)).stdout.strip()
    exported = ok("records", "export", record_id, "--home", str(home)).stdout
    header = exported.split("\n\n")[0]
    assert f"praevnet records edit {record_id} FILE" in header
    assert "marked local: implementation" in header
    notes = blocks(exported)
    assert {path for path, block in notes.items() if "marked local" in block} == {
        f"implementation.{name}" for name in ("duration", "costs", "staff", "partners")
    }
    assert {path for path, block in notes.items() if "always stays on this node" in block} == {"internal_notes"}


@pytest.mark.usefixtures("peer")
def test_export_of_an_alert_keeps_its_exact_count_and_edit_accepts_it(home: Path, tmp_path: Path) -> None:
    content = {"headline": "H", "area": {"name": "A", "ars": "09761"}, "expires": in_days(5), "case_count": 7}
    sent = ok_json(
        "alerts",
        "send",
        write(tmp_path / "a.json", json.dumps(content)),
        "--all-peers",
        "--home",
        str(home),
        "--tlp",
        "green",
    )
    exported = ok("records", "export", sent["id"], "--home", str(home)).stdout
    assert "case_count = 7" in exported
    ok("records", "edit", sent["id"], write(tmp_path / "a.toml", exported), "--home", str(home))
    assert ok_json("records", "show", sent["id"], "--home", str(home))["content"] == content


def test_export_refuses_an_unknown_id_and_content_the_form_cannot_hold(home: Path, tmp_path: Path) -> None:
    result = invoke("records", "export", "0" * 32, "--home", str(home))
    assert result.stderr == f"Error: no record or alert with id {'0' * 32!r} on this node\n"
    record_id = ok(
        "records", "add", write(tmp_path / "r.json", json.dumps({"title": "T", "summary": "S"})), "--home", str(home)
    ).stdout.strip()
    node = Node.open(home)
    try:  # content from before a schema change: a field the form no longer knows
        node.db.execute(
            "UPDATE versions SET content = ? WHERE record_id = ?",
            (json.dumps({"title": "T", "summary": "S", "colour": "x"}), record_id),
        )
    finally:
        node.close()
    before = snapshot(home)
    result = invoke("records", "export", record_id, "--home", str(home))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"{record_id} holds fields this form does not know" in result.stderr
    assert snapshot(home) == before


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {"title": TEXT, "summary": TEXT},
        optional={
            "problem": TEXT,
            "target_groups": st.lists(TEXT, max_size=3),
            "implementation": st.fixed_dictionaries(
                {}, optional={"costs": TEXT, "partners": st.lists(TEXT, max_size=2)}
            ),
            "internal_notes": TEXT,
        },
    )
)
def test_any_text_survives_the_round_trip_through_the_file(content: dict[str, Any]) -> None:
    text = render("experience", content, marks=["problem"], threshold=5)
    assert parse_toml_content(text.encode(), "export") == content
