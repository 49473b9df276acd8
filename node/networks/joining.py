"""Joining a network, the deciding part: does a join code admit this node, and is its operator who it says?

Pure checks, no I/O and no database: node.networks.sync reads the code, fetches the operator's
descriptor and lists between these steps, and stores an accepted `Joining` in one transaction.
Each step raises NodeError naming the problem, in the order the join meets them; nothing is
stored unless all of them pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from node.errors import NodeError
from node.networks.member_list import Entry
from protocol.descriptor import descriptor_keys
from protocol.errors import ProtocolError
from protocol.keys import fingerprint
from protocol.network import Bundle, Membership, Revocations, check_member, parse_bundle, verify_certificate


@dataclass(frozen=True)
class JoinCode:
    """A join code whose certificate verified at `moment` and names this node and its current key."""

    bundle: Bundle
    mine: Membership
    moment: datetime

    @property
    def where(self) -> str:
        """The operator as error messages name it."""
        return f"the operator at {self.bundle.operator_url}"


@dataclass(frozen=True)
class Joining:
    """An accepted join: everything node.networks.sync stores and audits."""

    bundle: Bundle
    mine: Membership
    operator: str
    descriptor: dict[str, Any]
    document: dict[str, Any]
    revocations: Revocations
    operator_certificate: dict[str, Any]


def key_fingerprints(descriptor: dict[str, Any]) -> list[str]:
    """The fingerprints of a descriptor's keys, sorted."""
    return sorted(fingerprint(raw) for raw in descriptor_keys(descriptor).values())


def _unacceptable(exc: ProtocolError) -> NodeError:
    return NodeError(f"the join code's certificate is not acceptable: {exc}; nothing was stored")


def check_code(text: str, *, node_id: str, node_fingerprint: str, moment: datetime) -> JoinCode:
    """Parse a join code and check its certificate: signed by the network key, valid at `moment`, and
    for this node (`node_id`) and its current key (`node_fingerprint`)."""
    try:
        bundle = parse_bundle(text)
    except ProtocolError as exc:
        raise NodeError(f"not a valid network join code: {exc}") from None
    try:
        mine = verify_certificate(bundle.certificate, bundle.key, now=moment)
    except ProtocolError as exc:
        raise _unacceptable(exc) from None
    if mine.node_id != node_id:
        raise NodeError(f"this join code admits node {mine.node_id}, not this node ({node_id})")
    if mine.fingerprint != node_fingerprint:
        raise NodeError(
            f"the certificate is for another key ({mine.fingerprint}), not this node's current key "
            f"({node_fingerprint}); ask the operator to admit this node again"
        )
    return JoinCode(bundle, mine, moment)


def held_version(code: JoinCode, known: list[dict[str, Any]]) -> int:
    """The version of the revocation list held already (0 if none), given the rows of the networks this
    node holds with the code's id or name; refused if one is another network of that name or this
    node operates it."""
    bundle = code.bundle
    for row in known:
        if row["id"] != bundle.network:
            raise NodeError(f"this node already belongs to a different network called {bundle.name!r}")
        if row["role"] == "operator":
            raise NodeError(f"this node operates {bundle.name}; it needs no join code")
    return int(known[0]["revocations_version"]) if known else 0


def check_operator(code: JoinCode, descriptor: dict[str, Any]) -> str:
    """The operator's node id, once its descriptor has the code's URL and fingerprint and is not this node."""
    bundle, where = code.bundle, code.where
    if descriptor["url"] != bundle.operator_url:
        raise NodeError(f"{where} says its URL is {descriptor['url']}; not joining")
    if bundle.operator_fingerprint not in key_fingerprints(descriptor):
        raise NodeError(
            f"fingerprint mismatch: {where} has {', '.join(key_fingerprints(descriptor))}, not "
            f"{bundle.operator_fingerprint} as the join code says; not joining"
        )
    operator = str(descriptor["node_id"])
    if operator == code.mine.node_id:
        raise NodeError("the join code names this node as the operator; not joining")
    return operator


def accept(
    code: JoinCode,
    descriptor: dict[str, Any],
    operator: str,
    lists: tuple[dict[str, Any], Revocations, list[Entry]],
    *,
    moment: datetime,
) -> Joining:
    """Check the operator's lists (`lists`: the revocation list as served, verified, and the member
    list): this node's certificate is not revoked (at the code's moment), and the operator holds a
    certificate of the network valid at `moment` (when the lists came) for a key of its descriptor."""
    bundle, mine = code.bundle, code.mine
    document, revocations, entries = lists
    try:
        check_member(
            bundle.certificate,
            bundle.key,
            revocations,
            node_id=mine.node_id,
            fingerprints=[mine.fingerprint],
            now=code.moment,
        )
    except ProtocolError as exc:
        raise _unacceptable(exc) from None
    listed = [entry for entry in entries if entry.node_id == operator]
    operator_certificate = _valid_for(listed, bundle.key, revocations, key_fingerprints(descriptor), moment)
    if operator_certificate is None:
        raise NodeError(f"{code.where} holds no valid certificate of {bundle.name}; not joining")
    return Joining(bundle, mine, operator, descriptor, document, revocations, operator_certificate)


def _valid_for(
    entries: list[Entry], public: bytes, revocations: Revocations | None, fingerprints: list[str], moment: datetime
) -> dict[str, Any] | None:
    """The newest certificate among `entries` that is valid at `moment` for one of `fingerprints`."""
    best: tuple[Membership, dict[str, Any]] | None = None
    for entry in entries:
        try:
            membership = check_member(
                entry.certificate, public, revocations, node_id=entry.node_id, fingerprints=fingerprints, now=moment
            )
        except ProtocolError:
            continue
        if best is None or membership.serial > best[0].serial:
            best = (membership, entry.certificate)
    return best[1] if best else None
