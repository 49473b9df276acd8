"""Which key fingerprints a membership certificate may name (SPEC 8A.4 step 4), and the network endpoint paths."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from protocol.descriptor import build_descriptor, verify_descriptor
from protocol.errors import ProtocolError
from protocol.keys import NodeKey, fingerprint, node_id_for
from protocol.network import LEAVE, MEMBERS, REVOCATIONS, member_fingerprints, network_path, vouched_fingerprints

FIRST, SECOND, THIRD = NodeKey.generate(1), NodeKey.generate(2), NodeKey.generate(3)
NODE_ID = node_id_for(FIRST.public)
NOW = datetime.now(UTC)


def old(*keys: NodeKey) -> dict[str, dict[str, str]]:
    return {key.key_id: {"key": key.public_b64, "expired": "2026-01-01T00:00:00Z"} for key in keys}


def descriptor(
    current: NodeKey, old_keys: list[NodeKey], *, signed_by: list[NodeKey], revoked: Sequence[NodeKey] = ()
) -> dict[str, Any]:
    """A verified descriptor of NODE_ID with `current` as its key, signed also by `signed_by`."""
    return verify_descriptor(
        build_descriptor(
            [current],
            node_id=NODE_ID,
            name="Stadt A",
            url="https://a.example",
            valid_until=NOW + timedelta(days=7),
            old_keys=old(*old_keys),
            revoked={key.key_id: {"since": "2026-01-02T00:00:00Z"} for key in revoked},
            revocation_version=len(revoked),
            also_signed_by=signed_by,
        ),
        now=NOW,
    )


def test_member_fingerprints_are_current_and_old_keys_not_revoked() -> None:
    current = {"ed25519:3": THIRD.public}
    olds = {"ed25519:1": FIRST.public, "ed25519:2": SECOND.public}
    assert member_fingerprints(current, olds, []) == sorted(fingerprint(k.public) for k in (FIRST, SECOND, THIRD))
    assert member_fingerprints(current, olds, ["ed25519:1"]) == sorted(fingerprint(k.public) for k in (SECOND, THIRD))
    assert member_fingerprints(current, {}, ["ed25519:3"]) == []  # a revoked key never counts


def test_an_old_key_vouches_only_by_signing_the_descriptor() -> None:
    rotated = descriptor(SECOND, [FIRST], signed_by=[FIRST])
    assert vouched_fingerprints(rotated) == sorted(fingerprint(k.public) for k in (FIRST, SECOND))
    listed_only = descriptor(SECOND, [FIRST], signed_by=[])
    assert vouched_fingerprints(listed_only) == [fingerprint(SECOND.public)]
    twice = descriptor(THIRD, [FIRST, SECOND], signed_by=[SECOND])  # after two rotations, the last one vouches
    assert vouched_fingerprints(twice) == sorted(fingerprint(k.public) for k in (SECOND, THIRD))


def test_a_revoked_old_key_vouches_for_nothing() -> None:
    revoked = descriptor(SECOND, [FIRST], signed_by=[FIRST], revoked=[FIRST])
    assert vouched_fingerprints(revoked) == [fingerprint(SECOND.public)]


def test_network_paths() -> None:
    network = "nw" + "a" * 32
    assert network_path(network, MEMBERS) == f"/fed/v1/networks/{network}/members"
    assert network_path(network, REVOCATIONS) == f"/fed/v1/networks/{network}/revocations"
    assert network_path(network, LEAVE) == f"/fed/v1/networks/{network}/leave"
    with pytest.raises(ProtocolError, match="malformed network id"):
        network_path("../outbox", LEAVE)
    with pytest.raises(ProtocolError, match="no network endpoint"):
        network_path(network, "join")
