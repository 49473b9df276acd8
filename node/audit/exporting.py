"""Exporting the audit log, or the entries an EntryFilter lets through, as CSV (guarded against spreadsheet
formula injection) or as JSON with the node and the head."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from node.audit.reading import EntryFilter, _head, _present, _select, _snapshot
from node.audit.writing import FIELDS
from node.errors import NodeError
from node.home import Node
from node.store import dumps, now_text

_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CSV_FREE_TEXT = frozenset({"user", "action", "record_id", "detail"})


def _csv_cell(name: str, value: Any) -> Any:
    """Free text that a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    if name in _CSV_FREE_TEXT and isinstance(value, str) and value.startswith(_CSV_FORMULA_START):
        return "'" + value
    return value


def export(node: Node, fmt: Literal["csv", "json"], *, only: EntryFilter | None = None) -> str:
    """Every entry (or those `only` lets through) with its hashes, as CSV (header row first) or JSON
    (with the node, the head and, if filtered, the filter).

    CSV gives recipients as a JSON array and puts an apostrophe before free text (user, action,
    record id, detail) that starts like a spreadsheet formula; JSON carries every value unchanged.
    """
    if fmt not in ("csv", "json"):
        raise NodeError(f"unknown export format {fmt!r}; use csv or json")
    where, params = (only or EntryFilter()).where()
    with _snapshot(node) as conn:
        entries = [_present(row) for row in _select(conn, f"{where} ORDER BY seq", params)]
        top = _head(conn)
    if fmt == "json":
        document: dict[str, Any] = {
            "node_id": node.node_id,
            "node_name": node.config.name,
            "exported": now_text(),
            "head": top,
        }
        if only is not None:
            document["filter"] = only.described()
        document["entries"] = entries
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS)
    writer.writeheader()
    for entry in entries:
        recipients, records = entry["recipients"], entry["records"]
        cells = {
            **entry,
            "recipients": dumps(recipients) if isinstance(recipients, list) else recipients,
            "records": dumps(records) if isinstance(records, list) else records,
        }
        writer.writerow({name: _csv_cell(name, cells[name]) for name in FIELDS})
    return out.getvalue()
