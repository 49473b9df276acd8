"""The fields of experience records and alerts as officers see them: German labels, widgets and choices.

Field paths are the protocol's (protocol.records): `implementation.costs`, `area.name`. They are also the
names of the form fields. Labels are English msgids, translated where they are shown; the German words
are those of the domain notes (Projektbezeichnung, Kurzbeschreibung, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from protocol.records import LOCAL_FIELDS, Kind
from protocol.tlp import AMBER, AMBER_STRICT, CLEAR, GREEN, LABELS, RED
from web import i18n
from web.i18n import N_

NOT_STATED = N_("not stated")
DATE_EXAMPLE = "31.12.2026 18:00"


@dataclass(frozen=True)
class Field:
    """One field of a form: its content path, label, widget and, for choices, the options (value, label)."""

    path: str
    label: str
    widget: str = "text"  # text, textarea, lines (one entry a line), select, email, url, datetime, count
    group: str = ""
    hint: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    required: bool = False
    missing: str | None = None  # what to say when a required field is empty
    wrong_format: str | None = None  # what to say when the text does not have the field's form
    local_mark: str | None = None  # the mark that keeps it local, if not its own path (case_count: case_band)

    @property
    def mark(self) -> str:
        """The local mark (node.sharing.policy) that keeps this field on the node."""
        return self.local_mark or self.path

    @property
    def always_local(self) -> bool:
        """Whether the field never leaves the node, whatever the officer marks."""
        return self.path in LOCAL_FIELDS


UNKNOWN = ("Unknown", N_("unknown"))
_PROJECT, _APPROACH, _IMPLEMENTATION = N_("Project"), N_("Problem and approach"), N_("Implementation")
_EVALUATION, _LESSONS, _CONTACT = N_("Evaluation"), N_("Lessons learned"), N_("Topics and contact")
_INTERNAL, _ALERT, _SITUATION, _VALIDITY = N_("Internal"), N_("Alert"), N_("Situation"), N_("Validity")
_MAILBOX_FORMAT = N_("Please give a valid e-mail address of a function mailbox, e.g. praevention@stadt.de")
_EXPIRY_MISSING = N_("Please give an expiry date, e.g. 31.12.2026 18:00")

EXPERIENCE_FIELDS: tuple[Field, ...] = (
    Field("title", N_("Project title"), group=_PROJECT, required=True, missing=N_("Please give a project title.")),
    Field(
        "summary",
        N_("Short description"),
        "textarea",
        _PROJECT,
        required=True,
        missing=N_("Please give a short description."),
    ),
    Field("problem", N_("Problem / starting point"), "textarea", _APPROACH, N_("Including the data basis.")),
    Field("causes", N_("Causes, risk and protective factors"), "textarea", _APPROACH),
    Field("goals", N_("Prevention and project goals"), "textarea", _APPROACH),
    Field("target_groups", N_("Target groups"), "lines", _APPROACH, N_("One a line; broad groups only.")),
    Field("measures", N_("Measures and how they are meant to work"), "textarea", _APPROACH),
    Field("implementation.duration", N_("Duration"), group=_IMPLEMENTATION),
    Field("implementation.costs", N_("Costs"), "textarea", _IMPLEMENTATION),
    Field("implementation.staff", N_("Staff"), "textarea", _IMPLEMENTATION),
    Field("implementation.partners", N_("Cooperation partners"), "lines", _IMPLEMENTATION, N_("One a line.")),
    Field(
        "evaluation.kind",
        N_("Evaluation: kind"),
        "select",
        _EVALUATION,
        options=(
            ("none", N_("no evaluation")),
            ("process", N_("process evaluation")),
            ("outcome", N_("outcome evaluation")),
            ("impact", N_("impact evaluation")),
        ),
    ),
    Field("evaluation.design", N_("Evaluation: design"), "textarea", _EVALUATION),
    Field("evaluation.result", N_("Evaluation: result"), "textarea", _EVALUATION),
    Field(
        "evaluation.report_url",
        N_("Evaluation: report URL"),
        "url",
        _EVALUATION,
        N_("A web address starting with https://"),
        wrong_format=N_("Please give a web address starting with https:// or http://"),
    ),
    Field(
        "evidence_level",
        N_("Evidence level"),
        "select",
        _EVALUATION,
        N_("As in the Grüne Liste Prävention."),
        options=(
            ("none", N_("no evidence level")),
            ("theoretically_founded", N_("theoretically well founded")),
            ("probable", N_("probably effective")),
            ("proven", N_("proven effective")),
        ),
    ),
    Field("lessons.success_factors", N_("Success factors"), "textarea", _LESSONS),
    Field("lessons.pitfalls", N_("Pitfalls"), "textarea", _LESSONS),
    Field("lessons.transferability", N_("Transferability"), "textarea", _LESSONS),
    Field("topics", N_("Topics / phenomena"), "lines", _CONTACT, N_("One a line, e.g. Wohnungseinbruch.")),
    Field(
        "contact.mailbox",
        N_("Contact (function mailbox)"),
        "email",
        _CONTACT,
        N_("A function mailbox, never a named person."),
        wrong_format=_MAILBOX_FORMAT,
    ),
    Field("internal_notes", N_("Internal notes"), "textarea", _INTERNAL),
)

ALERT_FIELDS: tuple[Field, ...] = (
    Field("headline", N_("Headline"), group=_ALERT, required=True, missing=N_("Please give a headline.")),
    Field("phenomenon", N_("Phenomenon"), group=_ALERT, hint=N_("e.g. fake police officers on the phone")),
    Field(
        "area.name",
        N_("Area"),
        group=_ALERT,
        hint=N_("A district or an ARS, never addresses."),
        required=True,
        missing=N_("Please name the area: a district or an ARS, never an address."),
    ),
    Field(
        "area.ars",
        N_("Official regional key (ARS)"),
        group=_ALERT,
        hint=N_("2 to 12 digits."),
        wrong_format=N_("The ARS has 2 to 12 digits, e.g. 053140000000."),
    ),
    Field(
        "description", N_("Description"), "textarea", _SITUATION, N_("Modus operandi, development; no personal data.")
    ),
    Field(
        "urgency",
        N_("Urgency"),
        "select",
        _SITUATION,
        options=(
            ("Immediate", N_("immediate")),
            ("Expected", N_("expected")),
            ("Future", N_("future")),
            ("Past", N_("past")),
            UNKNOWN,
        ),
    ),
    Field(
        "severity",
        N_("Severity"),
        "select",
        _SITUATION,
        options=(
            ("Extreme", N_("extreme")),
            ("Severe", N_("severe")),
            ("Moderate", N_("moderate")),
            ("Minor", N_("minor")),
            UNKNOWN,
        ),
    ),
    Field(
        "certainty",
        N_("Certainty"),
        "select",
        _SITUATION,
        options=(
            ("Observed", N_("observed (confirmed police reports)")),
            ("Likely", N_("likely")),
            ("Possible", N_("possible")),
            ("Unlikely", N_("unlikely")),
            UNKNOWN,
        ),
    ),
    Field(
        "trend",
        N_("Trend"),
        "select",
        _SITUATION,
        options=(("new", N_("new")), ("rising", N_("rising")), ("stable", N_("stable")), ("falling", N_("falling"))),
    ),
    Field(
        "case_count",
        N_("Number of cases (exact)"),
        "count",
        _SITUATION,
        N_("The exact number stays on this node; partners receive only the band shown below."),
        local_mark="case_band",
    ),
    Field("instruction", N_("Prevention advice"), "textarea", _SITUATION),
    Field("source", N_("Source"), group=_SITUATION, hint=N_("e.g. police press release, public order service")),
    Field("effective", N_("Valid from"), "datetime", _VALIDITY, N_("e.g. 31.12.2026 18:00")),
    Field(
        "expires",
        N_("Expires"),
        "datetime",
        _VALIDITY,
        N_("Required: the alert lapses by itself then. e.g. 31.12.2026 18:00"),
        required=True,
        missing=_EXPIRY_MISSING,
    ),
    Field("internal_notes", N_("Internal notes"), "textarea", _INTERNAL),
)

FIELDS: dict[Kind, tuple[Field, ...]] = {"experience": EXPERIENCE_FIELDS, "alert": ALERT_FIELDS}
CASE_BAND = Field("case_band", N_("Number of cases (band)"), group=_SITUATION)
"""What peers receive instead of the exact count; shown in previews and on received alerts."""

KIND_NAMES = {"experience": N_("Experience report"), "alert": N_("Alert")}
TLP_MEANINGS = {
    RED: N_("Only the recipients named explicitly; no further disclosure."),
    AMBER_STRICT: N_("Only within the receiving city administration."),
    AMBER: N_(
        "The receiving city and, where needed, its local partners (e.g. the prevention council); not to other cities."
    ),
    GREEN: N_("Within the network it was shared in; not public."),
    CLEAR: N_("No restriction."),
}


def field_of(kind: Kind, path: str) -> Field | None:
    """The form field a content path belongs to: itself, or the field holding a list entry (`topics.3`)."""
    by_path = {field.path: field for field in (*FIELDS[kind], CASE_BAND)}
    while path:
        if path in by_path:
            return by_path[path]
        path = path.rpartition(".")[0]
    return None


def tlp_options() -> list[tuple[str, str, str]]:
    """The labels for a select: (label, label, its meaning in one sentence), in the current language."""
    return [(label, label, i18n.gettext(TLP_MEANINGS[label])) for label in LABELS]


def tlp_meaning(label: str) -> str:
    """What a label allows, in one sentence in the current language."""
    return i18n.gettext(TLP_MEANINGS[label]) if label in TLP_MEANINGS else label


def lookup(content: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of content, or None."""
    value: Any = content
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def is_local(field: Field, marks: Sequence[str]) -> bool:
    """Whether a field stays on the node: always (internal notes), or marked (itself or its object)."""
    return field.always_local or field.mark in marks or field.mark.partition(".")[0] in marks
