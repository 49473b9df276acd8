"""The schema steps in the order they run: one module per step, named after its number and what it adds.

A step's NAME is what databases record once it ran (in `_sqlite_migrations`): never rename or change a
step that was released; a change to the schema is a new step with the next number, added to STEPS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlite_utils import Database

from node.migrations.steps import (
    m0001_initial,
    m0002_audit,
    m0003_users,
    m0004_delivery,
    m0005_pairing,
    m0006_keys,
    m0007_networks,
    m0008_relays,
    m0009_audit_head_trigger,
    m0010_invitations_and_leaving,
    m0011_peerings,
    m0012_relay_cursors_and_via_hub,
    m0013_drop_inbox_ref,
    m0014_share_versions,
    m0015_audit_checkpoints,
    m0016_search,
    m0017_user_language,
    m0018_share_rejections,
    m0019_chain_head,
    m0020_search_pending,
    m0021_audit_records,
)


@dataclass(frozen=True)
class Step:
    """One schema step: its name (`NNNN_what`, numbered from 0001 without gaps) and what it does to a database."""

    name: str
    apply: Callable[[Database], None]

    @property
    def number(self) -> int:
        """The schema version a database is at once this step ran."""
        return int(self.name[:4])


STEPS: tuple[Step, ...] = tuple(
    Step(module.NAME, module.apply)
    for module in (
        m0001_initial,
        m0002_audit,
        m0003_users,
        m0004_delivery,
        m0005_pairing,
        m0006_keys,
        m0007_networks,
        m0008_relays,
        m0009_audit_head_trigger,
        m0010_invitations_and_leaving,
        m0011_peerings,
        m0012_relay_cursors_and_via_hub,
        m0013_drop_inbox_ref,
        m0014_share_versions,
        m0015_audit_checkpoints,
        m0016_search,
        m0017_user_language,
        m0018_share_rejections,
        m0019_chain_head,
        m0020_search_pending,
        m0021_audit_records,
    )
)
"""Every step, in order; `node.migrations.migrate` runs those a database has not run yet."""
