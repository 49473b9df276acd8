"""Property: whatever officers do, nothing leaves that should not, judged by the bytes on the wire.

Random records with random local marks, labels, audiences, label changes and peer removals are
shared from Augsburg with three peers over real loopback HTTP; every peer also pulls. The tap in
tests/node/federation.py records every byte that crossed between nodes, and the test asserts that
no local value, no record not addressed to a peer, no RED record outside a named share, and no
RED/AMBER record relayed by a receiver ever appears.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.errors import NodeError, PeerError
from node.exchange.inbox import ingest
from node.sharing.records import add_record, edit_record
from node.sharing.shares import share_record
from node.trust.peers import remove_peer
from node.users import ADMIN
from protocol.tlp import CLEAR, LABELS, RED
from tests.node.federation import Federation
from tests.planted import planted_record

PEERS = ("bonn", "chemnitz", "dresden")
MARKABLE = ("problem", "goals", "measures", "implementation.costs", "lessons.pitfalls", "topics")


@dataclass
class Plan:
    """One record's fate, drawn by hypothesis."""

    label: str
    marks: set[str]
    audience: str | list[str]  # "all" or named peers (possibly none)
    new_label: str | None
    addressed: set[str] = field(default_factory=set)
    named: bool = False


plans = st.builds(
    Plan,
    label=st.sampled_from(LABELS),
    marks=st.sets(st.sampled_from(MARKABLE)),
    audience=st.one_of(st.just("all"), st.lists(st.sampled_from(PEERS), unique=True, max_size=3)),
    new_label=st.one_of(st.none(), st.sampled_from(LABELS)),
)


def content(index: int) -> dict[str, Any]:
    """A record whose every value carries a token naming record and field, so leaks can be traced."""
    return planted_record(f"TOKEN{index}")


def local_tokens(index: int, plan: Plan) -> list[str]:
    fields = {"internal_notes", *(mark.rpartition(".")[2] for mark in plan.marks)}
    return [f"TOKEN{index}-{name}" for name in fields]


async def run(base: Path, records: list[Plan], removed: str | None, remove_first: bool) -> None:
    fed = Federation(base)
    try:
        origin = await fed.add("augsburg")
        peers = {name: await fed.add(name) for name in PEERS}
        for peer in peers.values():
            fed.pair(origin, peer)
        fed.pair(peers["bonn"], peers["chemnitz"])
        ids: dict[str, int] = {}
        for index, plan in enumerate(records):
            record_id = add_record(
                origin, "experience", content(index), tlp=plan.label, local=sorted(plan.marks), by=ADMIN
            )
            ids[record_id] = index
            everyone = plan.audience == "all"
            to = [] if everyone else [peers[name].node_id for name in plan.audience]
            try:
                share_record(origin, record_id, to, all_peers=everyone, by=ADMIN, confirm_pii=True)
                plan.addressed = set(PEERS) if everyone else set(plan.audience)
                plan.named = not everyone
            except NodeError:
                assert (everyone and plan.label == RED) or (not everyone and not to)
            if plan.new_label is not None:
                edit_record(origin, record_id, tlp=plan.new_label, by=ADMIN, confirm_pii=True)
        if removed is not None and remove_first:
            remove_peer(origin, peers[removed].node_id)
        await fed.deliver(origin)
        if removed is not None and not remove_first:
            remove_peer(origin, peers[removed].node_id)
        for name, peer in peers.items():
            if name != removed:
                await fed.pull(peer, origin)
            elif not remove_first:
                with pytest.raises(PeerError, match="401"):
                    await fed.pull(peer, origin)
        names = {peer.node_id: name for name, peer in peers.items()}
        traffic = b"".join(w.body for w in fed.wire)
        for index, plan in enumerate(records):
            for token in local_tokens(index, plan):
                assert token.encode() not in traffic, f"local value {token} left the node"
        for wire in fed.wire:
            for envelope in wire.envelopes():
                if wire.sender != origin.node_id:
                    assert envelope["origin"] != origin.node_id or envelope["tlp"] == CLEAR
                    continue
                plan = records[ids[envelope["id"]]]
                receiver = names[wire.receiver]
                assert receiver in plan.addressed, f"record {envelope['id']} reached {receiver}, not addressed"
                assert not (removed == receiver and remove_first), "a removed peer received something"
                if envelope["tlp"] == RED:
                    assert plan.named, "a TLP:RED record left under an all-peers share"
        bonn, chemnitz = peers["bonn"], peers["chemnitz"]
        for (text,) in bonn.db.execute("SELECT envelope FROM inbox WHERE origin = ?", (origin.node_id,)).fetchall():
            envelope = json.loads(text)
            answer = ingest(chemnitz, bonn.node_id, [envelope])["results"][0]
            if envelope["tlp"] != CLEAR:
                assert answer["status"] == "refused"
                assert "may not be forwarded" in answer["reason"]
        for plan_index, plan in enumerate(records):
            for name in plan.addressed - {removed}:
                got = {
                    e["id"]
                    for w in fed.wire
                    if w.sender == origin.node_id and names.get(w.receiver) == name
                    for e in w.envelopes()
                }
                assert any(ids[i] == plan_index for i in got), f"{name} never received record {plan_index}"
    finally:
        await fed.close()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(plans, min_size=1, max_size=3),
    removed=st.one_of(st.none(), st.sampled_from(PEERS)),
    remove_first=st.booleans(),
)
def test_nothing_leaves_that_should_not(records: list[Plan], removed: str | None, remove_first: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp), records, removed, remove_first))
