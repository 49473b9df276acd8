"""Migration 0014_share_versions: the version a share asks to release (four-eyes binds a release to it), and the
edit that voided a request."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0014_share_versions"


def apply(db: Database) -> None:
    """The version a share asks to release (four-eyes binds a release to it), and the edit that voided a request.

    A share waiting for release names its version; an edit to a newer version voids it (state
    `withdrawn`, `voided_by_version` set). Shares not withdrawn take their record's current version,
    the one they would have released.
    """
    db.execute("ALTER TABLE shares ADD COLUMN version INTEGER")  # pending: the version to release; else last released
    db.execute("ALTER TABLE shares ADD COLUMN voided_by_version INTEGER")  # the edit (new version) that voided it
    db.execute(
        """UPDATE shares SET version = (SELECT version FROM records WHERE records.id = shares.record_id)
           WHERE state != 'withdrawn'"""
    )
