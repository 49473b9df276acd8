"""Schemas for the content of experience records and alerts, and their validation.

Field names are the contract between cities (see SPEC.md, "Content"). Input from an officer may
carry local fields such as `internal_notes`; content inside an envelope never does. Validation
names the offending field, so the CLI and the server can say exactly what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from jsonschema_rs import Draft202012Validator, ValidationError

from protocol.errors import ProtocolError, SchemaError
from protocol.timestamps import parse_timestamp

Kind = Literal["experience", "alert", "retraction"]
KINDS: tuple[Kind, ...] = ("experience", "alert", "retraction")
RECORD_KINDS: tuple[Kind, ...] = ("experience", "alert")

LOCAL_FIELDS = frozenset({"internal_notes", "case_count"})
"""Fields that are stored and shown on their own node only and never put into an envelope."""

DEFAULT_SMALL_NUMBER_THRESHOLD = 5
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
_BAND = r"^(<[1-9][0-9]{0,4}|[1-9][0-9]{0,4}-[1-9][0-9]{0,4}|[1-9][0-9]{0,4}\+)(?!\n)$"
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
_VALIDATORS = {kind: Draft202012Validator(schema) for kind, schema in SCHEMAS.items()}


def check_kind(kind: object) -> Kind:
    """Return `kind` if it names a content type, else raise SchemaError."""
    if kind not in KINDS:
        raise SchemaError("type", f"unknown type {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


def _field_path(error: ValidationError) -> str:
    path = ".".join(str(part) for part in error.instance_path)
    details = error.kind.as_dict()
    name: str | None = None
    if error.kind.name == "required":
        name = str(details["property"])
    elif error.kind.name == "additionalProperties":
        name = str(sorted(details["unexpected"])[0])
    if name is not None:
        return f"{path}.{name}" if path else name
    return path or "(content)"


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


def _first_error(kind: Kind, content: object) -> ValidationError | None:
    validator = _VALIDATORS[kind]
    if validator.is_valid(content):
        return None
    errors = sorted(validator.iter_errors(content), key=lambda e: ([str(p) for p in e.instance_path], e.kind.name))
    return errors[0] if errors else None


def validate_content(kind: Kind, content: object, *, allow_local: bool, now: datetime | None = None) -> None:
    """Validate record or alert content; raise SchemaError naming the first offending field.

    `allow_local` admits local fields (officer input); content from an envelope must not have them.
    With `now` given, an alert must not have expired yet.
    """
    if not isinstance(content, Mapping):
        raise SchemaError("(content)", "must be a JSON object")
    error = _first_error(kind, content)
    if error is not None:
        raise SchemaError(_field_path(error), _reason(error))
    if not allow_local:
        for name in sorted(LOCAL_FIELDS & set(content)):
            raise SchemaError(name, "is a local field and must never be sent")
    if kind == "alert":
        _check_alert_times(content, now)


def _check_alert_times(content: Mapping[str, Any], now: datetime | None) -> None:
    moments = {}
    for name in ("expires", "effective"):
        if name in content:
            try:
                moments[name] = parse_timestamp(content[name])
            except ProtocolError as exc:
                raise SchemaError(name, str(exc)) from None
    if "effective" in moments and moments["effective"] >= moments["expires"]:
        raise SchemaError("expires", "must be later than effective")
    if now is not None and moments["expires"] <= now:
        raise SchemaError("expires", "lies in the past; an alert must expire in the future")


def case_bands(threshold: int = DEFAULT_SMALL_NUMBER_THRESHOLD) -> tuple[str, str, str, str]:
    """The bands in which case counts are shared: below k, k to 2k-1, 2k to 4k-1, and 4k or more."""
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold <= 10000:
        raise ProtocolError("the small-number threshold must be between 1 and 10000")
    k = threshold
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
