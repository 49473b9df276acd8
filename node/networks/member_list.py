"""The member list a network operator serves (`GET /fed/v1/networks/{id}/members`), parsed strictly
into entries that a member then checks one by one (node.networks.sync)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.errors import PeerError
from protocol.descriptor import normalize_base_url
from protocol.errors import ProtocolError

ENTRY_FIELDS = frozenset({"node_id", "url", "fingerprint", "roles", "certificate"})
OPTIONAL_ENTRY_FIELDS = frozenset({"descriptor", "pull_only"})


@dataclass(frozen=True)
class Entry:
    """One entry of a member list, not verified yet."""

    node_id: str
    url: str
    fingerprint: str
    certificate: dict[str, Any]
    descriptor: dict[str, Any] | None = None  # the member's self-signed descriptor, as the operator holds it
    pull_only: bool = False  # never push to it: it pulls (from its hub)


def parse_members(answer: object) -> tuple[list[Entry], list[dict[str, str]]]:
    """The entries of a member list answer, and the malformed ones refused; PeerError if it is no list at all."""
    if not isinstance(answer, dict) or set(answer) != {"members"} or not isinstance(answer["members"], list):
        raise PeerError('the member list must be {"members": [...]}')
    entries, refused = [], []
    for item in answer["members"]:
        node_id = item.get("node_id") if isinstance(item, dict) else None
        who = node_id if isinstance(node_id, str) else "?"
        try:
            if not isinstance(item, dict) or not ENTRY_FIELDS <= set(item) <= ENTRY_FIELDS | OPTIONAL_ENTRY_FIELDS:
                required, optional = ", ".join(sorted(ENTRY_FIELDS)), ", ".join(sorted(OPTIONAL_ENTRY_FIELDS))
                raise ProtocolError(f"an entry has {required} and may have {optional}")
            if not isinstance(item["fingerprint"], str) or not isinstance(item["certificate"], dict):
                raise ProtocolError("fingerprint must be a string and certificate an object")
            if not isinstance(node_id, str):
                raise ProtocolError("node_id must be a string")
            descriptor, pull_only = item.get("descriptor"), item.get("pull_only", False)
            if descriptor is not None and not isinstance(descriptor, dict):
                raise ProtocolError("descriptor must be an object or null")
            if not isinstance(pull_only, bool):
                raise ProtocolError("pull_only must be true or false")
            url = normalize_base_url(item["url"])
            entries.append(Entry(node_id, url, item["fingerprint"], item["certificate"], descriptor, pull_only))
        except ProtocolError as exc:
            refused.append({"node_id": who, "reason": f"malformed entry: {exc}"})
    return entries, refused
