"""The database schema as numbered steps, and `migrate`, which brings a database to the newest one.

steps/ holds one module per step (m0001_initial ... in order, listed in steps.STEPS); runner runs the
pending ones in one transaction and refuses a database a newer praevnet migrated. search_index holds
the SQL of the full-text search index that step 0016 builds and every erasure cleans up after;
cursors the outbox cursors that hubs' grants and relays share.
"""

from __future__ import annotations

from node.migrations.cursors import allocate_cursors
from node.migrations.runner import (
    MIGRATION_SET,
    SchemaTooNew,
    applied_steps,
    migrate,
    migration_set,
    pending_steps,
    schema_version,
    software_version,
)
from node.migrations.search_index import (
    SEARCH_FOLDS,
    SEARCH_SHARD_SIZE,
    SEARCH_SHARDS,
    SEARCH_SKIPPED,
    fold_sql,
    index_pending,
    refresh_own_sql,
    refresh_received_sql,
    search_erase_traces,
    search_schema,
)
from node.migrations.steps import STEPS, Step

SCHEMA_VERSION = STEPS[-1].number
"""The schema version this praevnet brings every database to."""

migrations = migration_set(STEPS)
"""Every step as a sqlite-utils migration set (its `apply` commits step by step: the node uses `migrate`)."""

__all__ = [
    "MIGRATION_SET",
    "SCHEMA_VERSION",
    "SEARCH_FOLDS",
    "SEARCH_SHARDS",
    "SEARCH_SHARD_SIZE",
    "SEARCH_SKIPPED",
    "STEPS",
    "SchemaTooNew",
    "Step",
    "allocate_cursors",
    "applied_steps",
    "fold_sql",
    "index_pending",
    "migrate",
    "migration_set",
    "migrations",
    "pending_steps",
    "refresh_own_sql",
    "refresh_received_sql",
    "schema_version",
    "search_erase_traces",
    "search_schema",
    "software_version",
]
