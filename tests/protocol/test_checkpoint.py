"""protocol.checkpoint: an audit checkpoint's signed bytes are fixed, and verification refuses anything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from nacl.signing import VerifyKey

from protocol.canonical import canonical_bytes
from protocol.checkpoint import MAX_SIZE, Checkpoint, build_checkpoint, parse_checkpoint, verify_checkpoint
from protocol.encoding import b64url, b64url_decode, sha256_b64url
from protocol.errors import ProtocolError, SignatureError
from protocol.keys import NodeKey, node_id_for

KEY = NodeKey.from_seed(bytes(range(32)))
NODE = node_id_for(KEY.public)
KEYS = {KEY.key_id: KEY.public}
HASH = sha256_b64url(b"entry 42")
TIME = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

VECTOR = (
    '{"hash":"qDwzC5AEgQTAtmN4IoMi2cN25LpQmsJDBpDXkBkn4Z0","key_id":"ed25519:1",'
    '"node_id":"pne3iellvo3z6al7yzxhru7usy5yd2cbsy","seq":42,'
    '"signature":"CZJm9qIkRpfxLnyyfoyY9S0wjC6rHlx7ckApnZEf5WcTqhkB3FSEAk0AdejgebZ9QO0ivOBmX8XZ_2Ra3DzEDA",'
    '"time":"2026-03-01T08:00:00Z","type":"audit-checkpoint"}'
)
"""The checkpoint of entry 42 (hash of b"entry 42") at 2026-03-01 08:00 UTC, by the key with seed 00 01 .. 1f."""


def checkpoint(**changes: Any) -> dict[str, Any]:
    """The vector's checkpoint with `changes` (a value None removes the field), not re-signed."""
    document = build_checkpoint(KEY, node_id=NODE, seq=42, hash_=HASH, time=TIME)
    document.update(changes)
    return {name: value for name, value in document.items() if value is not None}


def test_the_fixed_vector() -> None:
    document = build_checkpoint(KEY, node_id=NODE, seq=42, hash_=HASH, time=TIME)
    assert canonical_bytes(document).decode() == VECTOR
    body = {name: value for name, value in document.items() if name != "signature"}
    VerifyKey(KEY.public).verify(canonical_bytes(body), b64url_decode(document["signature"]))  # libsodium agrees
    assert verify_checkpoint(parse_checkpoint(VECTOR), node_id=NODE, keys=KEYS) == Checkpoint(
        NODE, "ed25519:1", 42, HASH, "2026-03-01T08:00:00Z"
    )


def test_the_time_is_written_in_utc_to_the_second() -> None:
    moment = datetime(2026, 3, 1, 10, 0, 0, 999, tzinfo=timezone(timedelta(hours=2)))
    assert build_checkpoint(KEY, node_id=NODE, seq=42, hash_=HASH, time=moment)["time"] == "2026-03-01T08:00:00Z"


def test_an_empty_log_has_seq_0_and_the_empty_hash() -> None:
    document = build_checkpoint(KEY, node_id=NODE, seq=0, hash_="", time=TIME)
    assert verify_checkpoint(document, node_id=NODE, keys=KEYS).seq == 0
    with pytest.raises(ProtocolError, match="empty hash"):
        build_checkpoint(KEY, node_id=NODE, seq=0, hash_=HASH, time=TIME)


def test_an_old_key_of_the_node_verifies() -> None:
    second = NodeKey.from_seed(bytes(range(1, 33)), version=2)
    document = build_checkpoint(second, node_id=NODE, seq=42, hash_=HASH, time=TIME)
    both = {**KEYS, second.key_id: second.public}
    assert verify_checkpoint(document, node_id=NODE, keys=both).key_id == "ed25519:2"
    with pytest.raises(ProtocolError, match="signed with ed25519:2, which this node never had"):
        verify_checkpoint(document, node_id=NODE, keys=KEYS)


@pytest.mark.parametrize(
    "changes",
    [
        {"seq": 41},
        {"hash": sha256_b64url(b"entry 41")},
        {"time": "2026-03-01T08:00:01Z"},
        {"signature": b64url(bytes(64))},
        {"signature": checkpoint()["signature"][:-2] + "AA"},
    ],
    ids=["seq", "hash", "time", "zero-signature", "flipped-signature"],
)
def test_a_changed_checkpoint_does_not_verify(changes: dict[str, Any]) -> None:
    with pytest.raises(SignatureError, match="signature does not verify with ed25519:1"):
        verify_checkpoint(checkpoint(**changes), node_id=NODE, keys=KEYS)


def test_a_key_that_signed_for_another_node_is_refused() -> None:
    other = NodeKey.from_seed(bytes(32))
    document = build_checkpoint(other, node_id=node_id_for(other.public), seq=42, hash_=HASH, time=TIME)
    with pytest.raises(ProtocolError, match=f"of node {node_id_for(other.public)}, not of this node {NODE}"):
        verify_checkpoint(document, node_id=NODE, keys=KEYS)
    forged = build_checkpoint(other, node_id=NODE, seq=42, hash_=HASH, time=TIME)  # claims our node id
    with pytest.raises(SignatureError):
        verify_checkpoint(forged, node_id=NODE, keys=KEYS)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be a JSON object"),
        (checkpoint(seq=None), "missing field 'seq'"),
        (checkpoint(signature=None), "missing field 'signature'"),
        (checkpoint(extra=1), "unknown field 'extra'"),
        (checkpoint(type="network-card"), "not an audit checkpoint"),
        (checkpoint(node_id="node-a"), "malformed node id"),
        (checkpoint(key_id="rsa:1"), "malformed key id"),
        (checkpoint(seq=-1), "seq must be a whole number"),
        (checkpoint(seq=True), "seq must be a whole number"),
        (checkpoint(seq="42"), "seq must be a whole number"),
        (checkpoint(hash="abc"), "hash must be a base64url SHA-256"),
        (checkpoint(time="2026-03-01T10:00:00+02:00"), "time must be UTC with second precision"),
        (checkpoint(time="gestern"), "not an ISO 8601 date-time"),
        (checkpoint(signature=7), "signature must be base64url text"),
        (checkpoint(signature="!!"), "signature does not verify"),
    ],
)
def test_a_malformed_checkpoint_is_refused(document: Any, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        verify_checkpoint(document, node_id=NODE, keys=KEYS)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"Sehr geehrte Damen und Herren", "not JSON: malformed JSON"),
        (b"\xff{}", "not JSON: body is not valid UTF-8"),
        (b'{"seq": 1, "seq": 2}', "not JSON: duplicate key 'seq'"),
        (b'{"seq": 1.5}', "not JSON: floating-point number"),
        (b" " * (MAX_SIZE + 1), f"at most {MAX_SIZE} bytes"),
    ],
)
def test_parse_refuses_what_is_not_json(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_checkpoint(data)


def test_build_refuses_a_bad_head() -> None:
    with pytest.raises(ProtocolError, match="hash must be"):
        build_checkpoint(KEY, node_id=NODE, seq=1, hash_="", time=TIME)
    with pytest.raises(ProtocolError, match="malformed node id"):
        build_checkpoint(KEY, node_id="pnX", seq=1, hash_=HASH, time=TIME)
