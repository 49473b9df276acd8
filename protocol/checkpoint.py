"""Audit checkpoints: a node's signed statement of how far its audit log reached at a moment.

A checkpoint is the JSON object `{"type": "audit-checkpoint", "node_id", "key_id", "seq", "hash",
"time", "signature"}`: the seq and hash of the audit log's last entry (0 and "" for an empty log),
when the node made it, and the Ed25519 signature of the node key named by `key_id` over the
canonical JSON (RFC 8785) of every other member. The `type` keeps the signed bytes apart from
every other statement the node key signs.

Checkpoints are local, not federation: no peer ever sees one. The data-protection officer keeps
them outside the node; a later checkpoint cannot vouch for a log that was cut before it was made,
but an earlier one that was kept elsewhere shows that the entries up to its seq are still there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from protocol.canonical import MAX_SAFE_INTEGER, canonical_bytes, parse
from protocol.encoding import b64url, b64url_decode
from protocol.errors import CanonicalError, ProtocolError, SignatureError
from protocol.keys import NodeKey, check_key_id, check_node_id, verify
from protocol.timestamps import format_timestamp, parse_timestamp

TYPE = "audit-checkpoint"
FIELDS = frozenset({"type", "node_id", "key_id", "seq", "hash", "time", "signature"})
HASH_RE = re.compile(r"^[A-Za-z0-9_-]{43}\Z")
MAX_SIZE = 4096
"""A checkpoint is a few hundred bytes; a file larger than this is not one."""


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: the node's audit log ended at entry `seq` with `hash` at `time`."""

    node_id: str
    key_id: str
    seq: int
    hash: str
    time: str


def _check_head(seq: object, hash_: object) -> tuple[int, str]:
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SAFE_INTEGER:
        raise ProtocolError(f"checkpoint: seq must be a whole number from 0 to 2^53-1, not {seq!r}")
    if seq == 0 and hash_ != "":
        raise ProtocolError("checkpoint: an empty log (seq 0) has the empty hash")
    if seq > 0 and (not isinstance(hash_, str) or not HASH_RE.match(hash_)):
        raise ProtocolError(f"checkpoint: hash must be a base64url SHA-256 (43 characters), not {hash_!r}")
    return seq, str(hash_)


def build_checkpoint(key: NodeKey, *, node_id: str, seq: int, hash_: str, time: datetime) -> dict[str, Any]:
    """The checkpoint of the log head (`seq`, `hash_`) at `time`, signed with `key`."""
    seq, hash_ = _check_head(seq, hash_)
    body = {
        "type": TYPE,
        "node_id": check_node_id(node_id),
        "key_id": key.key_id,
        "seq": seq,
        "hash": hash_,
        "time": format_timestamp(time),
    }
    return {**body, "signature": b64url(key.sign(canonical_bytes(body)))}


def parse_checkpoint(data: bytes | str) -> Any:
    """The JSON document in `data`, strictly parsed; ProtocolError says why it is not JSON.

    What it holds is checked by `verify_checkpoint`.
    """
    if len(data) > MAX_SIZE:
        raise ProtocolError(f"a checkpoint has at most {MAX_SIZE} bytes; this has {len(data)}")
    try:
        return parse(data)
    except CanonicalError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None


def verify_checkpoint(document: object, *, node_id: str, keys: Mapping[str, bytes]) -> Checkpoint:
    """Check a checkpoint of node `node_id`, signed by one of its `keys` (key id -> raw public key).

    ProtocolError names the first problem: a missing or unknown field, a bad value, another node,
    a key the node never had; SignatureError if the signature does not verify.
    """
    if not isinstance(document, Mapping):
        raise ProtocolError("a checkpoint must be a JSON object")
    missing = sorted(FIELDS - set(document))
    if missing:
        raise ProtocolError(f"checkpoint: missing field {missing[0]!r}")
    unknown = sorted(set(document) - FIELDS)
    if unknown:
        raise ProtocolError(f"checkpoint: unknown field {unknown[0]!r}")
    if document["type"] != TYPE:
        raise ProtocolError(f"not an audit checkpoint (type {document['type']!r})")
    signer = check_node_id(document["node_id"])
    if signer != node_id:
        raise ProtocolError(f"the checkpoint is of node {signer}, not of this node {node_id}")
    key_id = check_key_id(document["key_id"])
    seq, hash_ = _check_head(document["seq"], document["hash"])
    time = document["time"]
    if format_timestamp(parse_timestamp(time)) != time:
        raise ProtocolError(f"checkpoint: time must be UTC with second precision and Z, not {time!r}")
    public = keys.get(key_id)
    if public is None:
        raise ProtocolError(f"the checkpoint is signed with {key_id}, which this node never had")
    signature = document["signature"]
    if not isinstance(signature, str):
        raise SignatureError("the checkpoint's signature must be base64url text")
    body = {name: value for name, value in document.items() if name != "signature"}
    try:
        verify(public, b64url_decode(signature), canonical_bytes(body))
    except ProtocolError:
        raise SignatureError(f"the checkpoint's signature does not verify with {key_id}") from None
    return Checkpoint(signer, key_id, seq, hash_, time)
