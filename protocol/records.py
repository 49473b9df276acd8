"""Schemas for the content of experience records and alerts, and their validation.

Field names are the contract between cities (see SPEC.md, "Content"). Input from an officer may
carry local fields such as `internal_notes`; content inside an envelope never does. Validation
names every offending field at once, so the CLI and the server can say exactly what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from protocol.errors import ProtocolError, SchemaError
from protocol.timestamps import parse_timestamp

if TYPE_CHECKING:
    from jsonschema_rs import Draft202012Validator, ValidationError

Kind = Literal["experience", "alert", "retraction"]
KINDS: tuple[Kind, ...] = ("experience", "alert", "retraction")
RECORD_KINDS: tuple[Kind, ...] = ("experience", "alert")

LOCAL_FIELDS = frozenset({"internal_notes", "case_count"})
"""Fields that are stored and shown on their own node only and never put into an envelope."""

DEFAULT_SMALL_NUMBER_THRESHOLD = 5
MIN_SMALL_NUMBER_THRESHOLD = 3
"""The smallest threshold k: every band then stands for at least three counts, as official statistics
suppress cells below 3, and no band names an exact count."""
MAX_SMALL_NUMBER_THRESHOLD = 10000
CASE_BANDS = ("<5", "5-9", "10-19", "20+")


def _text(max_length: int, min_length: int = 0) -> dict[str, Any]:
    return {"type": "string", "minLength": min_length, "maxLength": max_length}


def _list(max_items: int, max_length: int = 200) -> dict[str, Any]:
    return {"type": "array", "maxItems": max_items, "items": _text(max_length, 1)}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_LONG = 20000
_BAND_FORM = r"<[1-9][0-9]{0,4}|[1-9][0-9]{0,4}-[1-9][0-9]{0,4}|[1-9][0-9]{0,4}\+"
_BAND = rf"^({_BAND_FORM})(?!\n)$"
# The pattern checks a band's form; which bands exist (never an exact count) is checked by is_case_band.
# Patterns end in (?!\n)$: Python's $ also matches before a final newline, ECMA-262's does not.
_TIMESTAMP = {"type": "string", "maxLength": 40}

EXPERIENCE_SCHEMA: dict[str, Any] = _object(
    {
        "title": _text(300, 1),
        "summary": _text(5000, 1),
        "problem": _text(_LONG),
        "causes": _text(_LONG),
        "goals": _text(_LONG),
        "target_groups": _list(30),
        "measures": _text(_LONG),
        "implementation": _object(
            {
                "duration": _text(300),
                "costs": _text(1000),
                "staff": _text(1000),
                "partners": _list(50),
            }
        ),
        "evaluation": _object(
            {
                "kind": {"enum": ["none", "process", "outcome", "impact"]},
                "design": _text(_LONG),
                "result": _text(_LONG),
                "report_url": {"type": "string", "maxLength": 2000, "pattern": r"^https?://[^\s]+(?!\n)$"},
            }
        ),
        "evidence_level": {"enum": ["none", "theoretically_founded", "probable", "proven"]},
        "lessons": _object(
            {
                "success_factors": _text(_LONG),
                "pitfalls": _text(_LONG),
                "transferability": _text(_LONG),
            }
        ),
        "topics": _list(50, 100),
        "contact": _object(
            {"mailbox": {"type": "string", "maxLength": 254, "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+(?!\n)$"}}
        ),
        "internal_notes": _text(_LONG),
    },
    required=("title", "summary"),
)

ALERT_SCHEMA: dict[str, Any] = _object(
    {
        "headline": _text(300, 1),
        "area": _object(
            {"name": _text(300, 1), "ars": {"type": "string", "pattern": r"^[0-9]{2,12}(?!\n)$"}},
            required=("name",),
        ),
        "expires": _TIMESTAMP,
        "effective": _TIMESTAMP,
        "description": _text(_LONG),
        "phenomenon": _text(300),
        "urgency": {"enum": ["Immediate", "Expected", "Future", "Past", "Unknown"]},
        "severity": {"enum": ["Extreme", "Severe", "Moderate", "Minor", "Unknown"]},
        "certainty": {"enum": ["Observed", "Likely", "Possible", "Unlikely", "Unknown"]},
        "trend": {"enum": ["new", "rising", "stable", "falling"]},
        "case_band": {"type": "string", "pattern": _BAND},
        "case_count": {"type": "integer", "minimum": 0, "maximum": 1000000000},
        "instruction": _text(_LONG),
        "source": _text(1000),
        "internal_notes": _text(_LONG),
    },
    required=("headline", "area", "expires"),
)

RETRACTION_SCHEMA: dict[str, Any] = _object({})
"""A retraction carries no content of its own: its envelope names the record and the version."""

SCHEMAS: dict[Kind, dict[str, Any]] = {
    "experience": EXPERIENCE_SCHEMA,
    "alert": ALERT_SCHEMA,
    "retraction": RETRACTION_SCHEMA,
}


@cache
def _validator(kind: Kind) -> Draft202012Validator:
    """The compiled schema of `kind`, built when content of that kind is first validated (the first record
    a node receives or writes). jsonschema_rs is imported then too: library and compiled schemas hold about
    8 MB that an idle node does without (README, Operator guide, "Memory")."""
    from jsonschema_rs import Draft202012Validator

    return Draft202012Validator(SCHEMAS[kind])


def check_kind(kind: object) -> Kind:
    """Return `kind` if it names a content type, else raise SchemaError."""
    if kind not in KINDS:
        raise SchemaError("type", f"unknown type {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


class ContentError(SchemaError):
    """Every problem found in record or alert content, as `problems`: (field path, reason) in schema order.

    `field` and `reason` name the first problem; the message lists them all on one line.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__(*self.problems[0])
        if len(self.problems) > 1:
            self.args = (f"{len(self.problems)} problems: " + "; ".join(f"{f}: {r}" for f, r in self.problems),)


DATE_HINT = "give a date and time with offset, e.g. 2026-12-31T18:00:00+01:00 (or 2026-12-31T17:00:00Z in UTC)"
"""How an alert's `expires` and `effective` must be written, with an example."""
_TIMESTAMP_FIELDS = ("expires", "effective")


def _field_paths(error: ValidationError) -> list[str]:
    """The field(s) an error is about: a missing or unknown member is named itself, not its parent."""
    path = ".".join(str(part) for part in error.instance_path)
    details = error.kind.as_dict()
    if error.kind.name == "required":
        names = [str(details["property"])]
    elif error.kind.name == "additionalProperties":
        names = sorted(str(name) for name in details["unexpected"])
    else:
        return [path or "(content)"]
    return [f"{path}.{name}" if path else name for name in names]


def _reason(error: ValidationError) -> str:
    keyword = error.kind.name
    details = error.kind.as_dict()
    limit = details.get("limit")
    if keyword == "required":
        return "required field is missing"
    if keyword == "additionalProperties":
        return "unknown field"
    if keyword == "type":
        return f"must be of type {' or '.join(details['types'])}, not {_json_type(error.instance)}"
    if keyword == "enum":
        return "must be one of " + ", ".join(repr(value) for value in details["options"])
    if keyword == "maxLength":
        return f"longer than {limit} characters"
    if keyword == "minLength":
        return "must not be empty" if limit == 1 else f"shorter than {limit} characters"
    if keyword == "maxItems":
        return f"more than {limit} entries"
    if keyword == "pattern":
        return "has the wrong format"
    return error.message


def _json_type(value: object) -> str:
    names = {bool: "boolean", int: "integer", str: "string", list: "array", dict: "object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _order(kind: Kind, path: str) -> tuple[int, int, str]:
    """Sort key of a field path: the schema's order of fields (as in a template), unknown fields last."""
    properties = SCHEMAS[kind]["properties"]
    top, _, rest = path.partition(".")
    names = list(properties)
    first = names.index(top) if top in names else len(names)
    inner = list(properties.get(top, {}).get("properties", {}))
    member = rest.partition(".")[0]
    second = inner.index(member) if member in inner else len(inner)
    return first, second, path


def _problems(kind: Kind, content: Mapping[str, Any], allow_local: bool, now: datetime | None) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    validator = _validator(kind)
    if not validator.is_valid(content):
        for error in validator.iter_errors(content):
            found.extend((path, _reason(error)) for path in _field_paths(error))
    if not allow_local:
        found.extend((name, "is a local field and must never be sent") for name in sorted(LOCAL_FIELDS & set(content)))
    if kind == "alert":
        wrong = {path.partition(".")[0] for path, _ in found}
        band = content.get("case_band")
        if "case_band" in content and "case_band" not in wrong and not is_case_band(band):
            found.append(("case_band", f"{band!r} is not a case band: {_BAND_RULE}"))
        found.extend(_alert_time_problems(content, wrong, now))
    hinted = [_with_date_hint(path, reason) for path, reason in found]
    return sorted(dict.fromkeys(hinted), key=lambda problem: (*_order(kind, problem[0]), problem[1]))


def _with_date_hint(path: str, reason: str) -> tuple[str, str]:
    """A problem with the form of an alert's time also says how to write one."""
    if path in _TIMESTAMP_FIELDS and DATE_HINT not in reason and not reason.startswith(("must be later", "lies in")):
        return path, f"{reason}; {DATE_HINT}"
    return path, reason


def validate_content(kind: Kind, content: object, *, allow_local: bool, now: datetime | None = None) -> dict[str, Any]:
    """Validate record or alert content, returned as a dict; raise ContentError naming every offending field.

    `allow_local` admits local fields (officer input); content from an envelope must not have them.
    An alert's `case_band` must be one of the four bands of some admissible threshold (`is_case_band`).
    With `now` given, an alert must not have expired yet.
    """
    if not isinstance(content, Mapping):
        raise ContentError([("(content)", "must be a JSON object")])
    problems = _problems(kind, content, allow_local, now)
    if problems:
        raise ContentError(problems)
    return dict(content)


def _alert_time_problems(content: Mapping[str, Any], wrong: set[str], now: datetime | None) -> list[tuple[str, str]]:
    """Problems with an alert's times whose form the schema accepted: each a date-time with offset, in order."""
    moments = {}
    problems = []
    for name in _TIMESTAMP_FIELDS:
        if name in content and name not in wrong:
            try:
                moments[name] = parse_timestamp(content[name])
            except ProtocolError:
                problems.append(
                    (name, f"{content[name]!r} is not a valid date and time with a UTC offset; {DATE_HINT}")
                )
    if "effective" in moments and "expires" in moments and moments["effective"] >= moments["expires"]:
        problems.append(("expires", "must be later than effective"))
    if now is not None and "expires" in moments and moments["expires"] <= now:
        problems.append(("expires", "lies in the past; an alert must expire in the future"))
    return problems


def check_threshold(threshold: object) -> int:
    """Return the small-number threshold k if it is an integer from 3 to 10000, else raise ProtocolError."""
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int)
        or not MIN_SMALL_NUMBER_THRESHOLD <= threshold <= MAX_SMALL_NUMBER_THRESHOLD
    ):
        raise ProtocolError(
            f"the small-number threshold must be between {MIN_SMALL_NUMBER_THRESHOLD} and {MAX_SMALL_NUMBER_THRESHOLD}"
        )
    return threshold


_BAND_RULE = (
    f"a band is <k, k-(2k-1), 2k-(4k-1) or 4k+ for a threshold k from {MIN_SMALL_NUMBER_THRESHOLD} "
    f"to {MAX_SMALL_NUMBER_THRESHOLD} (e.g. <5, 5-9, 10-19, 20+), and never an exact count"
)


def is_case_band(band: object) -> bool:
    """Whether `band` is one of the four bands of some admissible threshold k.

    A receiver does not know the origin's k, so it accepts exactly the bands some admissible k yields:
    `<k`, `A-B` with B = 2A-1 (A = k, or A = 2k), and `4k+`. Each stands for at least
    MIN_SMALL_NUMBER_THRESHOLD counts, so none names an exact small count such as `2-2`.
    """
    if not isinstance(band, str) or not re.fullmatch(_BAND_FORM, band):
        return False
    if band.startswith("<"):
        candidates = [int(band[1:])]
    elif band.endswith("+"):
        number = int(band[:-1])
        candidates = [number // 4] if number % 4 == 0 else []
    else:
        low, high = (int(part) for part in band.split("-"))
        candidates = [low, low // 2] if high == 2 * low - 1 else []
    return any(
        MIN_SMALL_NUMBER_THRESHOLD <= k <= MAX_SMALL_NUMBER_THRESHOLD and band in case_bands(k) for k in candidates
    )


def case_bands(threshold: int = DEFAULT_SMALL_NUMBER_THRESHOLD) -> tuple[str, str, str, str]:
    """The bands in which case counts are shared: below k, k to 2k-1, 2k to 4k-1, and 4k or more."""
    k = check_threshold(threshold)
    return (f"<{k}", f"{k}-{2 * k - 1}", f"{2 * k}-{4 * k - 1}", f"{4 * k}+")


def case_band(count: int, threshold: int = DEFAULT_SMALL_NUMBER_THRESHOLD) -> str:
    """The band an exact case count falls into; the exact number itself never leaves the node."""
    below, low, middle, high = case_bands(threshold)
    if count < threshold:
        return below
    if count < 2 * threshold:
        return low
    return middle if count < 4 * threshold else high


def shared_content(content: Mapping[str, Any]) -> dict[str, Any]:
    """The content without its local fields: what may go into an envelope."""
    return {name: value for name, value in content.items() if name not in LOCAL_FIELDS}
