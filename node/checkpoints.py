"""Signed checkpoints of the audit log, so that a log cut at its end does not go unnoticed.

`audit.verify` recomputes the chain up to the head; someone with write access to the database
file who deletes the last entries and rewinds the head to the new last one leaves a valid, shorter
chain. A checkpoint (protocol.checkpoint) is the node's signature over its head at a moment: the
data-protection officer keeps copies outside the node, and `verify` with such a copy shows that the
log still holds the entry it names with the same hash, and so, the chain being intact, every entry
before it unchanged.

The node makes one on demand (`praevnet audit checkpoint`) and, while serving, whenever the log has
grown since the last one by `[audit] checkpoint_entries` entries or `checkpoint_interval` seconds
have passed (the worker runs `checkpoint_loop`). The newest `checkpoints_kept` stay in the
database, where `verify` checks them too; someone who can cut the log can delete those as well,
which is why the copies outside count.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from node import audit
from node.errors import NodeError
from node.home import Node
from node.store import now, write
from protocol.canonical import canonical_bytes
from protocol.checkpoint import MAX_SIZE, Checkpoint, build_checkpoint, parse_checkpoint, verify_checkpoint
from protocol.errors import ProtocolError
from protocol.timestamps import parse_timestamp

log = logging.getLogger("praevnet.audit")
CHECK_INTERVAL = 60.0
"""How often the serving node looks whether a checkpoint is due (seconds)."""


def make(node: Node) -> dict[str, Any]:
    """Sign a checkpoint of the audit log's current head, keep it in the database, and return it."""
    with write(node.db) as conn:
        found = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        if found is None or type(found[0]) is not int:
            raise NodeError("the audit log has no valid head; run `praevnet audit verify`")
        try:
            document = build_checkpoint(node.key, node_id=node.node_id, seq=found[0], hash_=found[1], time=now())
        except ProtocolError as exc:
            raise NodeError(f"cannot sign a checkpoint of this head: {exc}; run `praevnet audit verify`") from None
        conn.execute(
            "INSERT INTO audit_checkpoints (seq, made, checkpoint) VALUES (?, ?, ?)",
            (document["seq"], document["time"], canonical_bytes(document).decode()),
        )
        conn.execute(
            "DELETE FROM audit_checkpoints WHERE id NOT IN (SELECT id FROM audit_checkpoints ORDER BY id DESC LIMIT ?)",
            (node.config.audit.checkpoints_kept,),
        )
    return document


def make_if_due(node: Node) -> dict[str, Any] | None:
    """Make a checkpoint if the log has grown since the last one by the configured number of entries or
    the configured time has passed since it (or if there is none yet and the log is not empty)."""
    settings = node.config.audit
    top = audit.head(node)
    if top is None or type(top["seq"]) is not int or top["seq"] == 0:
        return None  # nothing to vouch for, or a broken head that `audit verify` reports
    last = node.db.execute("SELECT seq, made FROM audit_checkpoints ORDER BY id DESC LIMIT 1").fetchone()
    if last is not None:
        grown = top["seq"] - last[0]
        if grown <= 0:
            return None
        waited = now() - parse_timestamp(last[1])
        if grown < settings.checkpoint_entries and waited < timedelta(seconds=settings.checkpoint_interval):
            return None
    return make(node)


async def checkpoint_loop(node: Node) -> None:
    """For the serving node's worker: make the checkpoints that are due, at start and every minute."""
    while True:
        try:
            made = make_if_due(node)
            if made is not None:
                log.info("signed audit checkpoint at entry %d", made["seq"])
        except Exception:
            log.exception("audit checkpoint loop")
        await asyncio.sleep(CHECK_INTERVAL)


def stored(node: Node) -> list[str]:
    """The checkpoints kept in the database, oldest first, as signed (canonical JSON text)."""
    return [text for (text,) in node.db.execute("SELECT checkpoint FROM audit_checkpoints ORDER BY id")]


def check(node: Node, document: object) -> Checkpoint:
    """Verify a checkpoint of this node, signed with one of its keys (current or old); NodeError if not."""
    keys = {key.key_id: key.public for key in node.keys.values()}
    try:
        return verify_checkpoint(document, node_id=node.node_id, keys=keys)
    except ProtocolError as exc:
        raise NodeError(f"checkpoint refused: {exc}") from None


def load(node: Node, path: Path) -> Checkpoint:
    """The checkpoint in the file `path`, verified with `check`; NodeError names the file and the problem."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SIZE + 1)
    except OSError as exc:
        raise NodeError(f"cannot read the checkpoint {path}: {exc.strerror or exc}") from None
    try:
        return check(node, parse_checkpoint(data))
    except ProtocolError as exc:
        raise NodeError(f"{path} is not a checkpoint: {exc}") from None
    except NodeError as exc:
        raise NodeError(f"{path}: {exc}") from None


def _against(node: Node, checkpoint: Checkpoint, where: str) -> list[str]:
    problem = audit.holds(node, checkpoint.seq, checkpoint.hash)
    return [] if problem is None else [f"checkpoint of seq {checkpoint.seq} ({checkpoint.time}{where}): {problem}"]


def verify(node: Node, given: Checkpoint | None = None) -> list[str]:
    """`audit.verify`, and that the log still holds what every kept checkpoint and `given` vouch for.

    One line per problem, [] if all is intact. `given` is a checkpoint the data-protection officer
    kept outside the node (`load` reads and verifies one).
    """
    problems = audit.verify(node)
    try:
        kept = stored(node)
    except sqlite3.DatabaseError as exc:
        problems.append(f"the checkpoints kept in the database cannot be read: {exc}")
        kept = []
    for text in kept:
        try:
            problems += _against(node, check(node, parse_checkpoint(text)), ", kept in the database")
        except (NodeError, ProtocolError) as exc:
            problems.append(f"a checkpoint kept in the database does not verify: {exc}")
    if given is not None:
        problems += _against(node, given, "")
    return problems
