"""Reading the record and alert forms into content, local marks, label and recipients; and the node's refusals
as German messages next to the fields they concern.

This is UI wording, not validation: whether content is valid is decided by protocol.records and the node
(node.sharing.records raises InvalidContent with every problem and its field path); here each problem is
only put into words next to its form field. What is parsed here is the form's own notation: one entry a
line, dates typed as "31.12.2026 18:00", whole numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from node.sharing import policy
from protocol.errors import ProtocolError
from protocol.records import Kind, case_band, case_bands
from protocol.timestamps import format_timestamp
from protocol.tlp import DEFAULT, check_label
from web import i18n
from web.fields import FIELDS, NOT_STATED, Field, field_of, lookup
from web.formats import localtime, parse_local
from web.i18n import N_

GENERAL = "form"  # the key of problems that concern no single field (shown above the form)
DATE_FORMAT = N_("Please give date and time like this: 31.12.2026 18:00")
_NUMBER = re.compile(r"\s*-?\d{1,12}\s*")


@dataclass
class Submitted:
    """A record or alert form as read: the content to store, local marks, label, and what to show again."""

    content: dict[str, Any] = field(default_factory=dict)
    marks: list[str] = field(default_factory=list)
    tlp: str = DEFAULT
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _put(content: dict[str, Any], path: str, value: Any) -> None:
    parent, _, name = path.rpartition(".")
    target = content
    for part in parent.split(".") if parent else ():
        target = target.setdefault(part, {})
    target[name] = value


def _parse(spec: Field, raw: str) -> Any:
    """The value of one field as typed, or None if empty; ValueError with a German message if unreadable."""
    text = raw.strip()
    if spec.widget == "lines":
        entries = [line.strip() for line in raw.splitlines() if line.strip()]
        return entries or None
    if not text:
        return None
    if spec.widget == "count":
        if not _NUMBER.fullmatch(text):
            raise ValueError(i18n.gettext("Please give a whole number, e.g. 7."))
        return int(text)
    if spec.widget == "datetime":
        try:
            return format_timestamp(parse_local(text))
        except (ValueError, OverflowError, ProtocolError):
            raise ValueError(i18n.gettext(DATE_FORMAT)) from None
    return raw.strip("\r\n") if spec.widget == "textarea" else text


def read_form(kind: Kind, form: Mapping[str, Any]) -> Submitted:
    """Read a posted record or alert form: content of the non-empty fields, marks of the fields kept local,
    the label. Unreadable entries (a date, a number) are in `errors`; the rest is for the node to judge."""
    submitted = Submitted()
    for spec in FIELDS[kind]:
        raw = _text(form, spec.path)
        submitted.values[spec.path] = raw
        try:
            value = _parse(spec, raw)
        except ValueError as exc:
            submitted.errors[spec.path] = str(exc)
            continue
        if value is not None:
            _put(submitted.content, spec.path, value)
        if not spec.always_local and _text(form, f"local.{spec.path}"):
            submitted.marks.append(spec.mark)
    label = _text(form, "tlp") or DEFAULT
    submitted.values["tlp"] = label
    try:
        submitted.tlp = check_label(label)
    except ProtocolError:
        submitted.errors["tlp"] = i18n.gettext("Please choose a label from the list.")
    return submitted


def form_values(kind: Kind, content: Mapping[str, Any], tlp: str) -> dict[str, str]:
    """The form's fields filled with stored content, as an officer would type it."""
    values = {"tlp": tlp}
    for spec in FIELDS[kind]:
        value = lookup(content, spec.path)
        if value is None:
            text = ""
        elif isinstance(value, list):
            text = "\n".join(str(entry) for entry in value)
        elif spec.widget == "datetime":
            text = localtime(str(value))
        else:
            text = str(value)
        values[spec.path] = text
    return values


def _form_field(kind: Kind, path: str) -> Field | None:
    """The form field of a problem's path; a missing object (`area`) is its first field (`area.name`)."""
    found = field_of(kind, path)
    if found is None:
        found = next((spec for spec in FIELDS[kind] if spec.path.startswith(f"{path}.")), None)
    return found


def _limit(reason: str) -> str:
    found = re.search(r"\d+", reason)
    return found.group(0) if found else "?"


def problem_message(spec: Field | None, path: str, reason: str) -> str:
    """One problem the protocol or node found, in words for the field it concerns."""
    _ = i18n.gettext
    if reason.startswith(("required field is missing", "must not be empty")):
        return _(spec.missing) if spec is not None and spec.missing else _("Please fill in this field.")
    if reason.startswith("longer than"):
        entry = spec is not None and path != spec.path  # one line of a list
        text = _("Each line at most %(limit)s characters.") if entry else _("At most %(limit)s characters.")
        return text % {"limit": _limit(reason)}
    if reason.startswith("more than"):
        return _("At most %(limit)s lines.") % {"limit": _limit(reason)}
    if reason.startswith("has the wrong format"):
        return _(spec.wrong_format) if spec is not None and spec.wrong_format else _("This entry has the wrong form.")
    if reason.startswith("must be one of"):
        return _("Please choose a value from the list.")
    if reason.startswith("lies in the past"):
        return _("Please give an expiry date in the future, e.g. 31.12.2026 18:00")
    if reason.startswith("must be later than"):
        return _("The expiry must lie after the start (valid from).")
    if spec is not None and spec.widget == "datetime":
        return _(DATE_FORMAT)
    if spec is not None and spec.widget == "count":
        return _("Please give a whole number from 0 to 1,000,000,000.")
    return _("Please check this entry: %(reason)s") % {"reason": reason}


def problem_messages(kind: Kind, problems: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Every problem as a German message keyed by its form field (the first problem of a field wins);
    problems of no form field are keyed GENERAL."""
    errors: dict[str, str] = {}
    for path, reason in problems:
        spec = _form_field(kind, path)
        errors.setdefault(spec.path if spec is not None else GENERAL, problem_message(spec, path, reason))
    return errors


def refusal(exc: Exception) -> str:
    """A node refusal that concerns the whole form, in words."""
    return i18n.gettext("The node refused this: %(reason)s") % {"reason": str(exc)}


def band_table(threshold: int) -> list[tuple[int, str]]:
    """The bands peers receive instead of an exact count, as (lowest count, band) ascending (for praevnet.js)."""
    lowest = (0, threshold, 2 * threshold, 4 * threshold)
    return list(zip(lowest, case_bands(threshold), strict=True))


def band_of(raw: str, threshold: int) -> str | None:
    """The band a typed count falls into (protocol.records.case_band, as the node seals it), or None."""
    if not _NUMBER.fullmatch(raw or "") or int(raw) < 0:
        return None
    return case_band(int(raw), threshold)


@dataclass(frozen=True)
class Recipients:
    """Who a share or alert goes to: named peers, all paired peers, or a network's members."""

    to: tuple[str, ...] = ()
    all_peers: bool = False
    network: str | None = None

    @property
    def mode(self) -> str:
        """peers, all or network (for the form's radio buttons); "" if none is chosen."""
        return "network" if self.network else "all" if self.all_peers else "peers" if self.to else ""

    def query(self) -> list[tuple[str, str]]:
        """The choice as form or query fields, for a link or a hidden field."""
        if self.network:
            return [("audience", "network"), ("network", self.network)]
        if self.all_peers:
            return [("audience", "all")]
        return [("audience", "peers"), *(("to", peer) for peer in self.to)]


def read_recipients(form: Any) -> tuple[Recipients, str | None]:
    """The recipients chosen in a form or query (`audience`, `to` repeated, `network`), and what is missing."""
    _ = i18n.gettext
    audience = _text(form, "audience")
    chosen = [value for value in form.getall("to", []) if isinstance(value, str) and value]
    if audience == "peers":
        return Recipients(to=tuple(dict.fromkeys(chosen))), None if chosen else _("Please choose at least one partner.")
    if audience == "all":
        return Recipients(all_peers=True), None
    if audience == "network":
        network = _text(form, "network").strip()
        return Recipients(network=network or None), None if network else _("Please choose a network.")
    return Recipients(), _("Please choose who receives it.")


@dataclass(frozen=True)
class Shown:
    """A form field as the template renders it: translated label, hint and options; whether it may stay local."""

    spec: Field
    label: str
    hint: str | None
    options: list[tuple[str, str]]
    markable: bool


def form_groups(kind: Kind) -> list[tuple[str, list[Shown]]]:
    """The form's fields in groups (a fieldset each), translated; which may be kept local is the node's rule
    (node.sharing.policy.markable_fields)."""
    _ = i18n.gettext
    markable = set(policy.markable_fields(kind))
    groups: dict[str, list[Shown]] = {}
    for spec in FIELDS[kind]:
        options = [("", _(NOT_STATED)), *((value, _(label)) for value, label in spec.options)] if spec.options else []
        shown = Shown(spec, _(spec.label), _(spec.hint) if spec.hint else None, options, spec.mark in markable)
        groups.setdefault(_(spec.group), []).append(shown)
    return list(groups.items())
