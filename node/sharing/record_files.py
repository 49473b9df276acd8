"""Files an officer writes records and alerts in: a commented template, and an own record exported for editing.

Both are TOML that `node.inputs.read_content_file` reads back (so `records add`, `records edit` and
`alerts send` accept them): one line per field, nested fields as dotted keys (`implementation.costs`),
so that any line can be uncommented on its own. Each field carries its German label (as in the
officers' web forms), what it is for, and the values it allows, all taken from the content schema.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import tomli_w

from node.errors import NodeError
from node.home import Node
from node.inputs import parse_toml_content
from node.sharing.policy import markable_fields
from node.sharing.records import get_record
from protocol.records import DATE_HINT, LOCAL_FIELDS, SCHEMAS, Kind, case_bands
from protocol.tlp import DEFAULT, LABELS


class Guide(NamedTuple):
    """What the officer reads about one field: its German label, what it holds, and its choices in German."""

    label: str
    about: str
    choices: Mapping[str, str] = {}


FIELD_GUIDE: dict[Kind, dict[str, Guide]] = {
    "experience": {
        "title": Guide("Projektbezeichnung", "the project's name"),
        "summary": Guide("Kurzbeschreibung", "what was done, in a few sentences"),
        "problem": Guide("Problembeschreibung / Ausgangslage", "incl. the data basis, e.g. a local safety audit"),
        "causes": Guide("Ursachen, Risiko- und Schutzfaktoren", "why the problem arises"),
        "goals": Guide("Präventions- und Projektziele", "what the project set out to achieve"),
        "target_groups": Guide("Zielgruppen", 'broad classes only, never persons, e.g. ["Kinder", "Eltern"]'),
        "measures": Guide("Maßnahmen und Wirkannahme", "what was done, and why it should work"),
        "implementation": Guide("Umsetzung", "duration, costs, staff and partners"),
        "implementation.duration": Guide("Laufzeit", "e.g. 2 Jahre"),
        "implementation.costs": Guide("Kosten", "e.g. 15.000 EUR"),
        "implementation.staff": Guide("Personal", "e.g. 0,5 Stelle"),
        "implementation.partners": Guide("Kooperationspartner", 'e.g. ["Polizei", "Schulamt"]'),
        "evaluation": Guide("Evaluation", "how the project was evaluated"),
        "evaluation.kind": Guide(
            "Art der Evaluation",
            "how it was evaluated",
            {"none": "keine", "process": "Prozess", "outcome": "Ergebnis", "impact": "Wirkung"},
        ),
        "evaluation.design": Guide("Evaluationsdesign", "e.g. Vorher-Nachher-Befragung"),
        "evaluation.result": Guide("Ergebnis der Evaluation", "what the evaluation found"),
        "evaluation.report_url": Guide("Evaluationsbericht", "a link starting https:// or http://"),
        "evidence_level": Guide(
            "Evidenzstufe",
            "as the Grüne Liste Prävention rates it",
            {
                "none": "keine",
                "theoretically_founded": "theoretisch gut begründet",
                "probable": "Effektivität wahrscheinlich",
                "proven": "Effektivität nachgewiesen",
            },
        ),
        "lessons": Guide("Erkenntnisse", "what others can learn"),
        "lessons.success_factors": Guide("Gelingensbedingungen", "what made it work"),
        "lessons.pitfalls": Guide("Stolpersteine", "what got in the way"),
        "lessons.transferability": Guide("Übertragbarkeit", "what another city needs to do the same"),
        "topics": Guide("Themen / Phänomene", 'e.g. ["Wohnungseinbruch", "öffentlicher Raum"]'),
        "contact": Guide("Kontakt", "how other cities reach the office"),
        "contact.mailbox": Guide(
            "Funktionspostfach", "a function mailbox, never a named person, e.g. praevention@stadt.example"
        ),
        "internal_notes": Guide("Interne Notizen", "notes for this office"),
    },
    "alert": {
        "headline": Guide("Überschrift", "what happens, in one line"),
        "area": Guide("Gebiet", "where"),
        "area.name": Guide("Gebietsname", "a district or town, never an address or a point"),
        "area.ars": Guide("Amtlicher Regionalschlüssel (ARS)", "2 to 12 digits, e.g. 097610000000"),
        "expires": Guide("Gültig bis", "when the alert lapses; it is then removed everywhere"),
        "effective": Guide("Gültig ab", "from when the alert applies"),
        "description": Guide("Beschreibung", "modus operandi and development; no personal data"),
        "phenomenon": Guide("Phänomen", "e.g. Trickbetrug"),
        "urgency": Guide(
            "Dringlichkeit",
            "how soon to act (CAP urgency)",
            {
                "Immediate": "sofort",
                "Expected": "bald",
                "Future": "künftig",
                "Past": "vorbei",
                "Unknown": "unbekannt",
            },
        ),
        "severity": Guide(
            "Schwere",
            "how serious (CAP severity)",
            {
                "Extreme": "extrem",
                "Severe": "schwer",
                "Moderate": "mittel",
                "Minor": "gering",
                "Unknown": "unbekannt",
            },
        ),
        "certainty": Guide(
            "Gewissheit",
            "how sure (CAP certainty)",
            {
                "Observed": "bestätigt, z. B. durch Anzeigen",
                "Likely": "wahrscheinlich",
                "Possible": "möglich",
                "Unlikely": "unwahrscheinlich",
                "Unknown": "unbekannt",
            },
        ),
        "trend": Guide(
            "Entwicklung",
            "where the numbers are going",
            {"new": "neu", "rising": "steigend", "stable": "gleichbleibend", "falling": "fallend"},
        ),
        "case_band": Guide("Fallzahl (Band)", "computed by this node from case_count; not given here"),
        "case_count": Guide("Fallzahl", "the exact number of cases"),
        "instruction": Guide("Handlungsempfehlung", "prevention advice"),
        "source": Guide("Quelle", "e.g. Pressemitteilung der Polizei, Ordnungsdienst, Präventionsrat"),
        "internal_notes": Guide("Interne Notizen", "notes for this office"),
    },
}

_LABEL_MEANINGS = {
    "TLP:RED": "the named recipients only, no further disclosure",
    "TLP:AMBER+STRICT": "the recipient office only",
    "TLP:AMBER": "the recipient office and, need-to-know, its partners (e.g. its Präventionsrat)",
    "TLP:GREEN": "the network it was shared in, no public channels",
    "TLP:CLEAR": "no limit",
}
_NAMES = {"experience": "Erfahrungsbericht (experience record)", "alert": "Frühwarnmeldung (alert)"}
_COMMANDS = {
    "experience": "praevnet records add FILE [--tlp LABEL] [--local FIELD ...]",
    "alert": "praevnet alerts send FILE --to PEER ... [--tlp LABEL] [--local FIELD ...]",
}
_WIDTH = 100
_ABSENT = object()  # a field the content does not have


def _comment(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(text, _WIDTH, initial_indent="# " + indent, subsequent_indent="# " + indent) or ["#"]


def _fields(kind: Kind) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Every field an officer writes, in schema order: (dotted path, its schema, whether required)."""
    schema = SCHEMAS[kind]
    for name, sub in schema["properties"].items():
        if name == "case_band":
            continue  # computed by the node, never written by the officer
        required = name in schema["required"]
        if sub.get("type") == "object":
            for inner, inner_sub in sub["properties"].items():
                yield f"{name}.{inner}", inner_sub, required and inner in sub.get("required", [])
        else:
            yield name, sub, required


def _rules(kind: Kind, path: str, schema: Mapping[str, Any], required: bool, threshold: int) -> str:
    """The field's constraints in words, from its schema."""
    parts = ["required" if required else "optional"]
    if path in LOCAL_FIELDS:
        parts.append("always stays on this node, never shared")
    if "enum" in schema:
        choices = FIELD_GUIDE[kind][path].choices
        parts.append("one of " + ", ".join(f'"{value}" ({choices.get(value, "")})' for value in schema["enum"]))
    elif schema.get("type") == "array":
        parts.append(f"a list of up to {schema['maxItems']} texts")
    elif schema.get("type") == "integer":
        bands = ", ".join(case_bands(threshold))
        parts.append(f"a whole number; peers receive only its band ({bands})")
    elif path in ("expires", "effective"):
        parts.append(DATE_HINT)
    elif "maxLength" in schema:
        parts.append(f"up to {schema['maxLength']} characters")
    return "; ".join(parts)


def _value(value: Any) -> str:
    """A value as TOML writes it after `key = ` (text with line breaks in triple quotes over several lines).

    Text with a carriage return stays on one line, escaped: a TOML reader turns a line break written
    as CR LF into LF.
    """
    texts = value if isinstance(value, list) else [value]
    multiline = not any(isinstance(text, str) and "\r" in text for text in texts)
    return tomli_w.dumps({"v": value}, multiline_strings=multiline).removeprefix("v = ").rstrip("\n")


def _placeholder(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    return {"array": "[]", "integer": "0"}.get(kind, '""') if isinstance(kind, str) else '""'


def _field_lines(
    kind: Kind, path: str, schema: Mapping[str, Any], required: bool, value: Any, marked: bool, threshold: int
) -> list[str]:
    guide = FIELD_GUIDE[kind][path]
    lines = _comment(f"{guide.label} ({path}): {guide.about}")
    lines += _comment(_rules(kind, path, schema, required, threshold), "  ")
    if marked:
        lines += _comment("marked local: stays on this node, in every version", "  ")
    if value is not _ABSENT:
        lines.append(f"{path} = {_value(value)}")
    elif required:
        lines.append(f"{path} = {_placeholder(schema)}")
    else:
        lines.append(f"# {path} = {_placeholder(schema)}")
    return lines


def _lookup(content: Mapping[str, Any], path: str) -> Any:
    parent, _, child = path.partition(".")
    value = content.get(parent, _ABSENT)
    if child:
        return value.get(child, _ABSENT) if isinstance(value, Mapping) else _ABSENT
    return value


def _header(kind: Kind) -> list[str]:
    lines = [f"# praevnet: {_NAMES[kind]}", "#"]
    lines += _comment(
        'Lines starting with "#" are comments. Fill in the required fields; to use an optional one, remove '
        'the "# " in front of it. Text goes in quotes; longer text in triple quotes """ ... """ may span '
        "lines. Nothing leaves this node until it is shared."
    )
    lines += ["#", f"# Store it with:  {_COMMANDS[kind]}", "#"]
    lines += _comment(f"The label (--tlp LABEL, default {DEFAULT}) says what recipients may do with it:")
    lines += [f"#   {label:17} {_LABEL_MEANINGS[label]}" for label in LABELS]
    lines += ["#"]
    lines += _comment(
        "Keep an optional field on this node with --local FIELD (repeatable); it then never leaves, in "
        f"any version. Markable: {', '.join(markable_fields(kind))}."
    )
    return lines


def render(
    kind: Kind,
    content: Mapping[str, Any],
    *,
    marks: Sequence[str] = (),
    threshold: int,
    header: Sequence[str] = (),
) -> str:
    """TOML text for `content`: every field of `kind` with its guide, present ones set, absent ones commented.

    Fields in `marks` (the record's local marks) say so. An object with no members is written as `{}`.
    """
    lines = [*header, *_header(kind)]
    for path, schema, required in _fields(kind):
        value = _lookup(content, path)
        marked = path in marks or path.partition(".")[0] in marks
        lines += ["", *_field_lines(kind, path, schema, required, value, marked, threshold)]
    for name, value in content.items():
        if isinstance(value, Mapping) and not value:
            lines += ["", f"{name} = {{}}"]
    return "\n".join(lines) + "\n"


def template(kind: Kind, *, threshold: int) -> str:
    """A commented starting file for a new record or alert: every field, its meaning and its allowed values.

    Filled in minimally (the required fields), `records add` or `alerts send` accepts it. Case counts
    are described with the bands of `threshold` (the node's small-number threshold).
    """
    return render(kind, {}, threshold=threshold)


def export_record(node: Node, record_id: str) -> str:
    """An own record's current content as an editable file that `records edit RECORD_ID FILE` accepts unchanged.

    Local fields are included and marked; the label and local marks are not part of the file (they
    stay as they are unless `records edit` is given --tlp or --local). A case band stored with an
    older alert is left out: the node computes the band from case_count.
    """
    record = get_record(node, record_id)
    kind: Kind = record["kind"]
    marks = record["local_fields"]
    content = {name: value for name, value in record["content"].items() if name != "case_band"}
    header = [
        f"# {record['id']}, version {record['version']}, {record['tlp']}"
        + (f", marked local: {', '.join(marks)}" if marks else ""),
        f"# Edit it and store the new version with:  praevnet records edit {record['id']} FILE",
        "#",
    ]
    threshold = node.config.alerts.small_number_threshold
    text = render(kind, content, marks=marks, threshold=threshold, header=header)
    if parse_toml_content(text.encode(), record_id) != content:
        raise NodeError(f"{record_id} holds fields this form does not know; see `praevnet records show {record_id}`")
    return text
