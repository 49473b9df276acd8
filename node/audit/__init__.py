"""The audit log: append-only and hash-chained, for the data-protection officer.

Every entry records when, who, what, which record (id and version), to or from whom, and the
SHA-256 of the bytes that left or arrived. An entry about a whole batch received from a peer (a
transaction or a pulled page) lists instead, in `records`, each envelope's action, record id, version,
digest and detail, as the entry of its own would have held them; entries without `records` hash as if
the field did not exist, so entries made before it existed verify unchanged.

Entries are numbered contiguously from 1 (`seq`); each
carries the hash of the entry before it (`prev`, empty for the first) and its own `hash`: the
base64url SHA-256 of the canonical JSON of all its other fields. The `audit_head` row holds the seq
and hash of the last entry; a trigger moves it with every inserted entry, in the same transaction,
so that deleting the last entries is noticed too.

SQL triggers refuse UPDATE and DELETE on the log and any INSERT that does not follow the head.
They stop mistakes, not someone with write access to the file: `verify` recomputes the whole chain
and names every entry that was changed, deleted or inserted even if the triggers were dropped.
What it cannot notice is the end cut off (or a forged entry appended) together with a matching head,
or the whole log rewritten from the start; against that, the node signs checkpoints of its head
(node.checkpoints), the data-protection officer keeps them outside the node, and `holds` checks
that the log still holds the entry a checkpoint vouches for.

The package holds one concern a module: writing (the entry's fields and hash, the checks, append),
reading (head, EntryFilter, list_entries, per_record), integrity (verify, holds) and exporting
(CSV and JSON). Callers use the names re-exported here: `from node import audit; audit.append(...)`.
"""

from __future__ import annotations

from node.audit.exporting import export
from node.audit.integrity import holds, verify
from node.audit.reading import EntryFilter, head, list_entries, per_record
from node.audit.writing import FIELDS, HASHED, append, append_many, digest_of, entry_hash

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
