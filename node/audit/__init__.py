"""The audit log, as a package: node.audit.writing holds all of it, moved unchanged from node/audit.py; the
next commit splits it into one module a concern. The names other code uses are re-exported here."""

from __future__ import annotations

from node.audit.writing import (
    FIELDS,
    HASHED,
    EntryFilter,
    append,
    append_many,
    digest_of,
    entry_hash,
    export,
    head,
    holds,
    list_entries,
    per_record,
    verify,
)

__all__ = [
    "FIELDS",
    "HASHED",
    "EntryFilter",
    "append",
    "append_many",
    "digest_of",
    "entry_hash",
    "export",
    "head",
    "holds",
    "list_entries",
    "per_record",
    "verify",
]
