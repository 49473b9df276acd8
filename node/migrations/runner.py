"""Bringing a database to the newest schema: every pending step in one transaction, or none of them.

The steps a database ran are recorded in `_sqlite_migrations` (sqlite-utils' format, migration set
"praevnet"), each in the same transaction as the step itself. `migrate` runs all pending steps and
their records inside one `BEGIN IMMEDIATE` transaction: SQLite's DDL is transactional, so a step that
fails rolls back every step of the run, and the database is exactly as it was before. It never uses
`executescript` (which commits first) and so a step must not either; a step that would need to run
outside a transaction (VACUUM, PRAGMA foreign_keys) has no place here.

A database that ran a step this praevnet does not know was migrated by a newer praevnet: `migrate`
refuses it (SchemaTooNew) before changing anything, so that an older version never writes to a
schema it does not understand.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from sqlite_utils import Database, Migrations

from node.migrations.steps import STEPS, Step

MIGRATION_SET = "praevnet"
"""The migration set the steps are recorded under in `_sqlite_migrations`."""


def software_version() -> str:
    """The installed praevnet's version, as `praevnet --version` prints it."""
    try:
        return version("praevnet")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "(version unknown)"


class SchemaTooNew(Exception):
    """The database ran schema steps this praevnet does not know: a newer praevnet migrated it."""

    def __init__(self, database_version: int, newest: int, unknown: Sequence[str]) -> None:
        self.database_version = database_version
        self.newest = newest
        self.unknown = tuple(unknown)
        super().__init__(
            f"the database has schema version {database_version} (steps {', '.join(self.unknown)} are unknown "
            f"here), but this praevnet {software_version()} knows schema versions up to {newest}: a newer "
            "praevnet has run this node. Install that newer praevnet (or a later one) and start it; "
            "this one changes nothing in the database"
        )


def applied_steps(db: Database) -> list[str]:
    """The names of the steps the database ran, in the order it ran them (none for a new database)."""
    return [migration.name for migration in Migrations(MIGRATION_SET).applied(db)]


def schema_version(db: Database) -> int:
    """The database's schema version: the number of the newest step it ran (0 for a new database)."""
    return max((int(name[:4]) for name in applied_steps(db) if name[:4].isdigit()), default=0)


def pending_steps(db: Database, steps: Sequence[Step] = STEPS) -> list[str]:
    """The names of the steps of `steps` the database has not run yet, in order."""
    done = set(applied_steps(db))
    return [step.name for step in steps if step.name not in done]


def _refuse_newer(db: Database, steps: Sequence[Step]) -> None:
    """SchemaTooNew if the database ran a step that is not among `steps`."""
    known = {step.name for step in steps}
    unknown = [name for name in applied_steps(db) if name not in known]
    if unknown:
        newest = max((step.number for step in steps), default=0)
        raise SchemaTooNew(max(schema_version(db), newest + 1), newest, unknown)


def migration_set(steps: Sequence[Step] = STEPS) -> Migrations:
    """The steps as a sqlite-utils migration set (its `apply` runs each step in a transaction of its own:
    use `migrate`, which runs them all in one)."""
    migrations = Migrations(MIGRATION_SET)
    for step in steps:
        migrations(name=step.name)(step.apply)
    return migrations


def migrate(db: Database, steps: Sequence[Step] = STEPS) -> list[str]:
    """Run the steps of `steps` that `db` has not run yet and return their names.

    All of them run in one transaction with their records in `_sqlite_migrations`: if one fails, its
    exception propagates and the database is exactly as it was. Refuses a database that ran a step not
    in `steps` (SchemaTooNew) before changing anything. Takes no write lock when nothing is pending.
    """
    conn = db.conn
    if conn.in_transaction:
        raise RuntimeError("migrate runs in a transaction of its own; call it outside of one")
    _refuse_newer(db, steps)
    if not pending_steps(db, steps):
        return []
    conn.execute("BEGIN IMMEDIATE")
    try:
        _refuse_newer(db, steps)  # another process may have migrated it since the look above
        pending = pending_steps(db, steps)
        migration_set(steps).apply(db)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # an error may have ended the transaction already
            conn.execute("ROLLBACK")
        raise
    return pending
