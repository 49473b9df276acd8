"""A small town nobody can reach: admitted from its descriptor file, listed with its descriptor and as
pull-only, so that members trust it and verify its records without ever connecting to it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from node.errors import PeerError
from node.exchange.received import list_inbox
from node.home import Node
from node.networks.member_list import parse_members
from node.networks.operator import create_network
from node.networks.sync import refresh_network
from node.store import dumps
from node.transport.client import new_session
from node.users import ADMIN
from tests.node.federation import Federation
from tests.node.networks.test_hub_outbox import join, network_share


def requests_to(fed: Federation, node: Node) -> list[str]:
    return [path for receiver, path in fed.requests if receiver == node.node_id]


async def refresh(node: Node, network: str) -> dict[str, Any]:
    async with new_session(node) as session:
        return await refresh_network(node, session, network)


async def test_members_trust_and_verify_a_town_they_never_reach(federation: Federation) -> None:
    fed = federation
    o, m = await fed.add("O"), await fed.add("M")
    t = await fed.add("T")
    network = create_network(o, "DEFUS", by=ADMIN)["id"]
    await join(o, m)
    fed.requests.clear()
    await join(o, t, pull_only=True, via_hub=True, descriptor=t.descriptor())  # admitted from its file
    assert requests_to(fed, t) == []  # the operator did not need to reach the town
    report = await refresh(m, network)
    assert t.node_id in report["trusted"]
    assert m.db.execute("SELECT pull_only FROM peers WHERE node_id = ?", (t.node_id,)).fetchone() == (1,)
    record = await network_share(t)
    await fed.deliver(t)
    await fed.deliver(o)  # the hub relays the town's record to M
    [entry] = [e for e in list_inbox(m) if e["origin"] == t.node_id]
    assert (entry["id"], entry["verified"]) == (record, True)
    await network_share(m)
    await fed.deliver(m)  # M shares with the network, the town included, but never pushes to it
    assert requests_to(fed, t) == []


async def test_a_tampered_listed_descriptor_is_refused(federation: Federation) -> None:
    fed = federation
    o, m, t = await fed.add("O"), await fed.add("M"), await fed.add("T")
    network = create_network(o, "DEFUS", by=ADMIN)["id"]
    await join(o, m)
    await join(o, t, pull_only=True, descriptor=t.descriptor())
    held = json.loads(o.db.execute("SELECT descriptor FROM peers WHERE node_id = ?", (t.node_id,)).fetchone()[0])
    o.db.execute(
        "UPDATE peers SET descriptor = ? WHERE node_id = ?", (dumps({**held, "name": "Falsche Stadt"}), t.node_id)
    )
    fed.requests.clear()
    report = await refresh(m, network)
    [refusal] = [r for r in report["refused"] if r["node_id"] == t.node_id]
    assert "listed descriptor" in refusal["reason"]
    assert m.db.execute("SELECT 1 FROM peers WHERE node_id = ?", (t.node_id,)).fetchone() is None
    assert requests_to(fed, t) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"descriptor": "text"}, "descriptor must be an object or null"),
        ({"pull_only": "yes"}, "pull_only must be true or false"),
        ({"colour": "blau"}, "may have descriptor, pull_only"),
    ],
)
def test_malformed_member_entries_are_refused(change: dict[str, object], message: str) -> None:
    entry = {
        "node_id": "pn" + "a" * 32,
        "url": "https://praevnet.example",
        "fingerprint": "SHA256:x",
        "roles": ["member"],
        "certificate": {},
    }
    entries, refused = parse_members({"members": [{**entry, **change}]})
    assert entries == []
    assert message in refused[0]["reason"]
    entries, refused = parse_members({"members": [entry]})
    assert refused == []
    assert (entries[0].descriptor, entries[0].pull_only) == (None, False)
    with pytest.raises(PeerError):
        parse_members({"members": "none"})
