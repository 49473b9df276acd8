"""Migration 0021_audit_records: an audit entry may list the records of a whole received batch (node.audit).

One entry per received transaction or pulled page, in place of one per envelope: `records` holds, for each
envelope stored, its action, record id, version, the digest of its bytes and the detail the entry of its own
would have carried. Entries without it (every entry before this step) hash exactly as before.
"""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0021_audit_records"


def apply(db: Database) -> None:
    """The `records` column of the audit log: JSON, NULL for an entry about one record or none."""
    db.execute("ALTER TABLE audit ADD COLUMN records TEXT")
