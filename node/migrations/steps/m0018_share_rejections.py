"""Migration 0018_share_rejections: an approver's rejection of a share waiting for release, with the comment its
author reads (node.sharing.release.reject_share). The state CHECK of 0001 allows no new state: a rejected share is
`withdrawn`, and `rejected` set tells it from one its author withdrew."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0018_share_rejections"


def apply(db: Database) -> None:
    """An approver's rejection of a share waiting for release, with the comment its author reads
    (node.sharing.release.reject_share). The state CHECK of 0001 allows no new state: a rejected share is
    `withdrawn`, and `rejected` set tells it from one its author withdrew."""
    db.execute("ALTER TABLE shares ADD COLUMN rejected_by TEXT")  # the approver who rejected it
    db.execute("ALTER TABLE shares ADD COLUMN rejected TEXT")  # when
    db.execute("ALTER TABLE shares ADD COLUMN reject_comment TEXT")  # why, for the author
