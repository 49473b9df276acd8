"""Migration 0019_chain_head: this node's own chain as its peers hold it (node.sharing.chain).

After a restore from a backup, or a peer's refusal of one of our envelopes as a fork, the node learns
from its peers the newest envelope of its chain they hold and continues after it; until then it sends
none of its envelopes above `held_above`. Envelopes signed again after it (under a new seq) are kept
in `chain_resealed`; a peer's last fork refusal of our own envelope is shown in `peers.chain_fork`.
"""

from __future__ import annotations

from sqlite_utils import Database

NAME = "0019_chain_head"

STATEMENTS = (
    """CREATE TABLE chain_state (        -- one row: what this node knows of its chain beyond its own table
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pending TEXT,                       -- why the head must be learned from peers first (NULL: it need not)
        held_above INTEGER NOT NULL DEFAULT 0,  -- while pending: own envelopes above this seq do not leave
        head_seq INTEGER NOT NULL DEFAULT 0,    -- the newest envelope of our chain a peer reported holding
        head_ref TEXT,                          -- its ref: the prev of the next envelope if none of ours follows it
        learned TEXT                            -- when the head was last learned
    )""",
    "INSERT INTO chain_state (id) VALUES (1)",
    """CREATE TABLE chain_resealed (     -- an own envelope peers refused as a fork, signed again under a new seq
        old_seq INTEGER PRIMARY KEY REFERENCES envelopes(seq),
        new_seq INTEGER NOT NULL REFERENCES envelopes(seq),
        resealed TEXT NOT NULL
    )""",
    "ALTER TABLE peers ADD COLUMN chain_fork TEXT",  # the peer's last fork refusal of our envelope: when, seq, why
)


def apply(db: Database) -> None:
    """The chain state (one row), the envelopes signed again after the learned head, and peers.chain_fork."""
    for statement in STATEMENTS:
        db.execute(statement)
