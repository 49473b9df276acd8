"""Joining a network: the refusals of node.networks.joining for a node that already holds a network of
the code's name, that operates the code's network, or that the code names as its own operator. Each
refusal names the problem and leaves nothing stored: no network, no member, no audit entry, no peer.

Real nodes with servers on loopback, the world of test_registry: operator O of DEFUS, members M1
and M2, an outsider X.
"""

from __future__ import annotations

from typing import Any

import pytest

from node.errors import NodeError
from node.home import Node
from node.networks.operator import create_network
from node.networks.sync import join_network
from node.users import ADMIN
from protocol.network import parse_bundle
from tests.node.networks.test_registry import World, admit, bundle_with, certificate_for, fed, state, world

__all__ = ["fed", "world"]  # the fixtures of test_registry, shared


def refused(node: Node, code: str) -> dict[str, Any]:
    """What `node` holds of the network of `code` and how often it joined any: all nothing after a refusal."""
    network = parse_bundle(code).network
    return {
        "networks": node.db.execute("SELECT id FROM networks WHERE id = ?", (network,)).fetchall(),
        "members": node.db.execute("SELECT node_id FROM network_members WHERE network = ?", (network,)).fetchall(),
        "peers": node.db.execute("SELECT node_id FROM peers WHERE network = ?", (network,)).fetchall(),
        "joins": node.db.execute("SELECT detail FROM audit WHERE action = 'network.join'").fetchall(),
    }


async def test_join_refuses_another_network_of_the_same_name(world: World) -> None:
    """M1 belongs to DEFUS; a code for another operator's network also called DEFUS is refused."""
    elsewhere = await world.fed.add("O2")
    create_network(elsewhere, "DEFUS", by=ADMIN)
    code = await admit(elsewhere, world.m1)
    before = state(world.m1)
    joins = refused(world.m1, code)["joins"]
    with pytest.raises(NodeError, match="already belongs to a different network called 'DEFUS'"):
        await join_network(world.m1, code, by=ADMIN)
    assert state(world.m1) == before
    assert refused(world.m1, code) == {"networks": [], "members": [], "peers": [], "joins": joins}
    assert elsewhere.node_id not in {row[0] for row in world.m1.db.execute("SELECT node_id FROM peers")}


async def test_join_refuses_the_operator_of_the_network(world: World) -> None:
    """O operates DEFUS: a code admitting it to DEFUS is refused, its own network left as it was."""
    code = bundle_with(world, certificate_for(world.o, world.network, world.o))
    before = state(world.o)
    with pytest.raises(NodeError, match="this node operates DEFUS; it needs no join code"):
        await join_network(world.o, code, by=ADMIN)
    assert state(world.o) == before
    assert refused(world.o, code)["joins"] == []


async def test_join_refuses_a_code_naming_this_node_as_the_operator(world: World) -> None:
    """A code for DEFUS admitting a newcomer, but giving the newcomer's own URL and key as the operator's."""
    newcomer = await world.fed.add("Neu")
    certificate = certificate_for(world.o, world.network, newcomer)
    code = bundle_with(world, certificate, operator_url=newcomer.config.url, operator_fingerprint=newcomer.fingerprint)
    before = state(newcomer)
    with pytest.raises(NodeError, match="the join code names this node as the operator; not joining"):
        await join_network(newcomer, code, by=ADMIN)
    assert state(newcomer) == before
    assert refused(newcomer, code) == {"networks": [], "members": [], "peers": [], "joins": []}
    assert newcomer.db.execute("SELECT count(*) FROM peers").fetchone()[0] == 0
