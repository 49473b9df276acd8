"""Content shown readably: its fields as rows with German labels, personal-data findings marked in place,
and the view of a preview (what leaves, for one audience) that templates/preview_content.html renders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from node.sharing.pii import Finding
from protocol.records import Kind
from web import i18n
from web.fields import CASE_BAND, FIELDS, Field, is_local, lookup, tlp_meaning
from web.formats import localtime
from web.i18n import N_

FINDING_KINDS = {
    "email": N_("e-mail address"),
    "phone": N_("phone number"),
    "iban": N_("IBAN"),
    "street_address": N_("street address"),
    "date_of_birth": N_("date of birth"),
    "vehicle_plate": N_("vehicle registration plate"),
    "person_name": N_("personal name"),
}
Segment = tuple[str, str | None]
"""A piece of shown text, with the kind of personal data found there (in words) or None."""
_ENTRY = re.compile(r"^(.*)\[(\d+)\]$")


@dataclass(frozen=True)
class Row:
    """One field of content as shown: label, entries (one for plain text) as segments, whether it stays local."""

    path: str
    label: str
    entries: list[list[Segment]]
    listed: bool = False
    local: bool = False


def _segments(text: str, found: Sequence[Finding]) -> list[Segment]:
    """`text` cut into pieces so that each finding is a piece of its own, named by its kind."""
    pieces: list[Segment] = []
    at = 0
    for finding in sorted(found, key=lambda f: f.start):
        if finding.start < at or finding.end > len(text):
            continue
        if finding.start > at:
            pieces.append((text[at : finding.start], None))
        pieces.append((text[finding.start : finding.end], i18n.gettext(FINDING_KINDS.get(finding.kind, finding.kind))))
        at = finding.end
    if at < len(text) or not pieces:
        pieces.append((text[at:], None))
    return pieces


def _located(findings: Sequence[Finding]) -> dict[tuple[str, int], list[Finding]]:
    """Findings by (field path, entry index): `implementation.partners[1]` is entry 1 of that field."""
    located: dict[tuple[str, int], list[Finding]] = {}
    for finding in findings:
        match = _ENTRY.match(finding.field)
        key = (match.group(1), int(match.group(2))) if match else (finding.field, 0)
        located.setdefault(key, []).append(finding)
    return located


def _entries(field: Field, value: Any, located: Mapping[tuple[str, int], list[Finding]]) -> list[list[Segment]]:
    if isinstance(value, list):
        return [_segments(str(item), located.get((field.path, n), [])) for n, item in enumerate(value)]
    if field.options:
        return [[(i18n.gettext(dict(field.options).get(str(value), str(value))), None)]]
    if field.widget == "datetime" and isinstance(value, str):
        return [[(localtime(value), None)]]
    if isinstance(value, str):
        return [_segments(value, located.get((field.path, 0), []))]
    return [[(json.dumps(value, ensure_ascii=False), None)]]


def readable(
    kind: Kind, content: Mapping[str, Any], marks: Sequence[str] = (), findings: Sequence[Finding] = ()
) -> list[Row]:
    """The content's fields in form order, with German labels and findings marked; empty fields are left out.

    A field the schema does not know (content from an older or newer node) is shown under its own name.
    """
    located = _located(findings)
    shown: list[Row] = []
    known: set[str] = set()
    for field in (*FIELDS[kind], CASE_BAND) if kind == "alert" else FIELDS[kind]:
        known.add(field.path.partition(".")[0])
        value = lookup(content, field.path)
        if value is None or value == "" or value == []:
            continue
        entries = _entries(field, value, located)
        label = i18n.gettext(field.label)
        shown.append(Row(field.path, label, entries, isinstance(value, list), is_local(field, marks)))
    for name, value in content.items():
        if name not in known:
            shown.append(Row(name, name, [[(json.dumps(value, ensure_ascii=False), None)]]))
    return shown


def kept_local(kind: Kind, written: Mapping[str, Any], sent: Mapping[str, Any]) -> list[str]:
    """Labels of the fields the officer wrote that do not leave (absent from the sent content)."""
    return [
        i18n.gettext(field.label)
        for field in FIELDS[kind]
        if lookup(written, field.path) not in (None, "", []) and lookup(sent, field.path) is None
    ]


def preview_view(
    kind: Kind, written: Mapping[str, Any], review: Mapping[str, Any], recipients: Sequence[str]
) -> dict[str, Any]:
    """What preview_content.html shows for one audience, from a review (node.sharing.review.review): the content
    as it is signed with the findings marked, the fields that stay local, the label and its meaning, the
    recipients' names, and (once sealed) the exact bytes with their SHA-256 and size."""
    sent = review["content"]
    sealed = review.get("sealed")
    return {
        "key": str(sealed["sha256"])[:12] if sealed else f"v{review['version']}",
        "recipients": list(recipients),
        "version": review["version"],
        "tlp": review["tlp"],
        "tlp_meaning": tlp_meaning(str(review["tlp"])),
        "rows": readable(kind, sent, findings=review.get("findings", ())),
        "findings": len(review.get("findings", ())),
        "kept_local": kept_local(kind, written, sent),
        "sealed": sealed,
    }
