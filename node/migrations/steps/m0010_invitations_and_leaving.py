"""Migration 0010_invitations_and_leaving: revoked invitations, the key an invitation was used with, and why a
network member was revoked."""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0010_invitations_and_leaving"


def apply(db: Database) -> None:
    """Revoked invitations, the key an invitation was used with, and why a network member was revoked."""
    for statement in (
        "ALTER TABLE invitations ADD COLUMN used_fingerprint TEXT",  # the key that signed the pairing request
        "ALTER TABLE invitations ADD COLUMN revoked TEXT",  # when an officer revoked it (never usable after)
        "ALTER TABLE invitations ADD COLUMN revoked_by TEXT",
        "ALTER TABLE network_members ADD COLUMN revoked_reason TEXT",  # operator: 'revoked' or 'left'
    ):
        db.execute(statement)
