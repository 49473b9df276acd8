"""Relay hubs: the operator's node stores and forwards network-scoped envelopes, and cannot change them.

Real nodes with servers on loopback (tests/node/federation.py): operator and hub O of network DEFUS,
a small town T that reaches only O (it has not refreshed since M and N joined), and members M and N.
Every refusal leaves nothing of T's stored at M.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from node.errors import NodeError
from node.exchange.received import list_inbox
from node.home import Node
from node.networks.operator import admit_member, create_network
from node.networks.sync import join_network, refresh_network
from node.sharing.preview import preview
from node.sharing.records import add_record
from node.sharing.shares import retract, share_record
from node.transport.client import new_session, signed_request
from node.trust.peers import get_peer
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from protocol.envelope import build_envelope, envelope_ref, verify_envelope
from protocol.keys import NodeKey
from protocol.network import network_id_for
from protocol.tlp import CLEAR, RED
from tests.conftest import RECORD
from tests.node.federation import Federation
from tests.node.networks.test_registry import YEAR


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path)
    yield federation
    await federation.close()


@dataclass
class Hub:
    fed: Federation
    o: Node
    t: Node
    m: Node
    n: Node
    network: str


async def admit_and_join(operator: Node, member: Node) -> None:
    admitted = await admit_member(operator, member.config.url, member.fingerprint, lifetime=YEAR, by=ADMIN)
    await join_network(member, admitted["code"], by=ADMIN)


@pytest.fixture
async def hub(fed: Federation) -> Hub:
    o, t, m, n = [await fed.add(name) for name in ("O", "T", "M", "N")]
    network = create_network(o, "DEFUS", by=ADMIN)["id"]
    for member in (t, m, n):
        await admit_and_join(o, member)
    async with new_session(m) as session:  # M learns of N, which joined after it; T never refreshes
        await refresh_network(m, session, network)
    return Hub(fed, o, t, m, n, network)


def origin_rows(node: Node, origin: Node) -> list[tuple[Any, ...]]:
    return node.db.execute("SELECT seq, envelope FROM inbox WHERE origin = ?", (origin.node_id,)).fetchall()


def network_envelope(t: Node) -> tuple[bytes, dict[str, Any]]:
    """The envelope T sealed for the network, as T signed and stored it."""
    (text,) = t.db.execute(
        "SELECT e.envelope FROM envelopes e JOIN network_seals s ON s.seq = e.seq ORDER BY e.seq DESC LIMIT 1"
    ).fetchone()
    return text.encode(), json.loads(text)


async def share_to_hub(h: Hub, tlp: str | None = None) -> dict[str, Any]:
    """T shares a record with the network, which T knows only as O; O receives it (and queues relays)."""
    record = add_record(h.t, "experience", RECORD, by=ADMIN, **({"tlp": tlp} if tlp else {}))
    outcome = share_record(h.t, record, [], False, network="DEFUS", by=ADMIN)
    assert outcome["recipients"] == [h.o.node_id]
    await h.fed.deliver(h.t)
    return network_envelope(h.t)[1]


async def push(sender: Node, receiver: Node, envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`sender` pushes `envelopes` to `receiver` in one inbox transaction; the per-envelope results."""
    async with new_session(sender) as session:
        answer = await signed_request(
            sender,
            session,
            get_peer(sender, receiver.node_id),
            "PUT",
            f"/fed/v1/inbox/{uuid.uuid4().hex}",
            {"envelopes": envelopes},
        )
    return list(answer["results"])


def signed_after(key: NodeKey, origin: str, genuine: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A fresh CLEAR envelope of `origin` signed by `key`, after the genuine one, with `changes` (network too)."""
    settings: dict[str, Any] = {
        "origin": origin,
        "kind": "experience",
        "record_id": "test-" + uuid.uuid4().hex[:8],
        "version": 1,
        "tlp": CLEAR,
        "seq": genuine["seq"] + 50,
        "prev": envelope_ref(genuine),
        "created": datetime.now(UTC),
        "content": genuine["content"],
    } | changes
    return build_envelope(key, **settings)


def t_signed(h: Hub, genuine: dict[str, Any], *, key: NodeKey | None = None, **changes: Any) -> dict[str, Any]:
    """An envelope of origin T signed by `key` (T's own unless given) with `changes`, after the genuine one."""
    return signed_after(key or h.t.key, h.t.node_id, genuine, **({"network": h.network} | changes))


# --- the happy path ---------------------------------------------------------------------------------


async def test_a_record_reaches_members_through_the_hub_unchanged(hub: Hub) -> None:
    h = hub
    genuine = await share_to_hub(h)
    signed_bytes, _ = network_envelope(h.t)
    assert genuine["network"] == h.network
    assert [w.receiver for w in h.fed.bytes_from(h.t)] == [h.o.node_id]  # T talked to the hub only
    relays = h.o.db.execute("SELECT peer_id FROM relays ORDER BY peer_id").fetchall()
    assert sorted(r[0] for r in relays) == sorted([h.m.node_id, h.n.node_id])  # never back to the origin

    await h.fed.deliver(h.o)
    t_key = {h.t.key.key_id: h.t.key.public}
    for member in (h.m, h.n):
        ((seq, stored),) = origin_rows(member, h.t)
        assert seq == genuine["seq"]
        assert canonical_bytes(json.loads(stored)) == signed_bytes  # byte for byte what T signed
        verified = verify_envelope(json.loads(stored), lambda origin, kid: t_key.get(kid))
        assert (verified.origin, verified.network) == (h.t.node_id, h.network)
        sender = member.db.execute("SELECT sender FROM inbox WHERE origin = ?", (h.t.node_id,)).fetchone()[0]
        assert sender == h.o.node_id
    pushed = [w for w in h.fed.bytes_from(h.o) if w.receiver == h.m.node_id]
    assert [canonical_bytes(e) for w in pushed for e in w.envelopes()] == [signed_bytes]
    assert {row[0] for row in h.o.db.execute("SELECT state FROM relays")} == {"delivered"}
    assert not h.m.db.execute("SELECT 1 FROM relays").fetchall()  # a plain member does not relay


async def test_a_retraction_follows_through_the_hub(hub: Hub) -> None:
    h = hub
    genuine = await share_to_hub(h)
    await h.fed.deliver(h.o)
    reached = retract(h.t, genuine["id"], by=ADMIN)
    assert reached == [h.o.node_id]
    await h.fed.deliver(h.t)
    await h.fed.deliver(h.o)
    for member in (h.o, h.m, h.n):
        rows = member.db.execute(
            "SELECT kind, erased IS NOT NULL FROM inbox WHERE origin = ? ORDER BY seq", (h.t.node_id,)
        ).fetchall()
        assert rows == [("experience", 1), ("retraction", 0)]
        assert list_inbox(member) == []


async def test_direct_shares_carry_no_network(hub: Hub) -> None:
    h = hub
    record = add_record(h.t, "experience", RECORD, by=ADMIN)
    share_record(h.t, record, [h.o.node_id], False, by=ADMIN)
    await h.fed.deliver(h.t)
    ((_, stored),) = origin_rows(h.o, h.t)
    assert "network" not in json.loads(stored)
    assert not h.o.db.execute("SELECT 1 FROM relays").fetchall()


# --- what a hub cannot do ---------------------------------------------------------------------------


async def test_a_hub_cannot_alter_the_content(hub: Hub) -> None:
    genuine = await share_to_hub(hub)
    altered = json.loads(json.dumps(genuine))
    altered["content"]["title"] = altered["content"]["title"] + " (geändert)"
    (answer,) = await push(hub.o, hub.m, [altered])
    assert answer["status"] == "refused"
    assert "hashes.sha256" in answer["reason"]
    assert origin_rows(hub.m, hub.t) == []


async def test_a_hub_cannot_relabel(hub: Hub) -> None:
    genuine = await share_to_hub(hub)
    relabelled = dict(genuine) | {"tlp": CLEAR if genuine["tlp"] != CLEAR else "TLP:GREEN"}
    (answer,) = await push(hub.o, hub.m, [relabelled])
    assert answer["status"] == "refused"
    assert "signature" in answer["reason"]
    assert origin_rows(hub.m, hub.t) == []


async def test_a_hub_cannot_forge_a_record_of_the_origin(hub: Hub) -> None:
    genuine = await share_to_hub(hub)
    forged = t_signed(hub, genuine, key=hub.o.key)
    (answer,) = await push(hub.o, hub.m, [forged])
    assert answer["status"] == "refused"
    assert answer["reason"] in (  # O's key id may be one T uses too: then it simply does not verify
        "signature does not verify",
        f"no signature by a known key of origin {hub.t.node_id}",
    )
    assert origin_rows(hub.m, hub.t) == []


async def test_a_replay_is_a_duplicate_and_stored_once(hub: Hub) -> None:
    genuine = await share_to_hub(hub)
    await hub.fed.deliver(hub.o)
    assert len(origin_rows(hub.m, hub.t)) == 1
    before = hub.m.db.execute("SELECT * FROM inbox").fetchall()
    (answer,) = await push(hub.o, hub.m, [genuine])
    assert answer["status"] == "duplicate"
    assert hub.m.db.execute("SELECT * FROM inbox").fetchall() == before


async def test_a_hub_cannot_claim_another_network(hub: Hub) -> None:
    genuine = await share_to_hub(hub)
    other = network_id_for(NodeKey.generate().public)
    relabelled = dict(genuine) | {"network": other}
    (answer,) = await push(hub.o, hub.m, [relabelled])
    assert answer["status"] == "refused"
    assert "signature" in answer["reason"]
    scoped_elsewhere = t_signed(hub, genuine, network=other)  # signed by T, but for a network M is not in
    (answer,) = await push(hub.o, hub.m, [scoped_elsewhere])
    assert answer["status"] == "refused"
    assert answer["reason"].startswith(f"this node is not a member of network {other}")
    unscoped = dict(genuine)
    del unscoped["network"]  # stripping the network breaks the signature too
    (answer,) = await push(hub.o, hub.m, [unscoped])
    assert answer["status"] == "refused"
    assert origin_rows(hub.m, hub.t) == []


async def test_a_plain_member_cannot_relay_amber(hub: Hub) -> None:
    genuine = await share_to_hub(hub)
    assert genuine["tlp"] == "TLP:AMBER"  # a plain member may pass on only GREEN and CLEAR (test_forwarding)
    (answer,) = await push(hub.n, hub.m, [genuine])
    assert answer["status"] == "refused"
    assert answer["reason"] == (
        f"relayed by a node that is not a hub of network {hub.network}, and TLP:AMBER may not be forwarded"
    )
    assert origin_rows(hub.m, hub.t) == []


async def test_red_is_never_relayed(hub: Hub) -> None:
    genuine = await share_to_hub(hub)
    red = t_signed(hub, genuine, tlp=RED)
    (answer,) = await push(hub.o, hub.m, [red])
    assert answer["status"] == "refused"
    assert answer["reason"] == f"{RED} is never relayed"
    assert origin_rows(hub.m, hub.t) == []


async def test_an_origin_outside_the_network_is_refused(hub: Hub, fed: Federation) -> None:
    x = await fed.add("X")
    fed.pair(x, hub.m)  # M trusts X directly, but X is no member of DEFUS
    fed.pair(x, hub.o)
    genuine = await share_to_hub(hub)
    outsider = build_envelope(
        x.key,
        origin=x.node_id,
        kind="experience",
        record_id="outsider-1",
        version=1,
        tlp=CLEAR,
        seq=1,
        prev=None,
        created=datetime.now(UTC),
        content=genuine["content"],
        network=hub.network,
    )
    (answer,) = await push(hub.o, hub.m, [outsider])
    assert answer["status"] == "refused"
    assert answer["reason"].startswith(f"origin {x.node_id} is not a member of network {hub.network}")
    assert origin_rows(hub.m, x) == []


async def test_a_network_preview_shows_byte_for_byte_what_the_network_share_sends(hub: Hub) -> None:
    h = hub
    record = add_record(h.t, "experience", RECORD, by=ADMIN)
    shown = preview(h.t, record, network="DEFUS", by=ADMIN)
    assert json.loads(shown["bytes"])["network"] == h.network
    direct = preview(h.t, record, h.o.node_id, by=ADMIN)
    assert "network" not in json.loads(direct["bytes"])  # a direct share sends a different envelope
    share_record(h.t, record, [], False, network="DEFUS", by=ADMIN)
    await h.fed.deliver(h.t)
    [push_to_hub] = h.fed.bytes_from(h.t)
    assert push_to_hub.body == b'{"envelopes":[' + shown["bytes"].encode() + b"]}"
    with pytest.raises(NodeError, match="either --to NODE_ID or --network NAME"):
        preview(h.t, record, h.o.node_id, network="DEFUS", by=ADMIN)
