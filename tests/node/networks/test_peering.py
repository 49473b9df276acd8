"""Peered networks: TLP:CLEAR records of network X reach members of network Y through both operators,
unchanged and verified against X's certificate; nothing else crosses, and every forgery is refused.

Real nodes with servers on loopback (tests/node/federation.py): XO operates X (Brandenburg) with
member XA; YO operates Y (Sachsen) with member YB. YB never pairs with XA.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from node.errors import NodeError
from node.home import Node
from node.networks.crossing import outgoing
from node.networks.operator import create_network, revoke_member
from node.networks.peering import list_peerings, network_card, peer_network, store_statement, unpeer_and_push
from node.networks.registry import load_network_key, resolve_network
from node.networks.sync import refresh_network
from node.sharing.records import add_record
from node.sharing.shares import share_record
from node.transport.client import new_session
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from protocol.envelope import build_envelope, signing_form, verify_envelope
from protocol.errors import ProtocolError
from protocol.keys import NodeKey, fingerprint
from protocol.network import issue_certificate
from protocol.peering import issue_peering
from protocol.tlp import AMBER, CLEAR, GREEN, RED
from tests.conftest import RECORD
from tests.node.federation import Federation
from tests.node.networks.test_hubs import admit_and_join, push, signed_after

YEAR = timedelta(days=365)


@dataclass
class Peered:
    fed: Federation
    xo: Node
    xa: Node
    yo: Node
    yb: Node
    x: str
    y: str
    base: Path


async def agree(fed: Federation, base: Path, xo: Node, yo: Node) -> None:
    """Both operators exchange cards and peer, each checking the other network's key fingerprint."""
    for mine, theirs, name in ((yo, xo, "Sachsen"), (xo, yo, "Brandenburg")):
        card = network_card(theirs)
        path = base / f"{theirs.node_id}.card"
        path.write_bytes(canonical_bytes(card))
        key = load_network_key(theirs, card["network"])
        await peer_network(mine, name, str(path), fingerprint(key.public), lifetime=YEAR, by=ADMIN)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[Peered]:
    fed = Federation(tmp_path)
    xo, xa, yo, yb = [await fed.add(name) for name in ("XO", "XA", "YO", "YB")]
    x = create_network(xo, "Brandenburg", by=ADMIN)["id"]
    y = create_network(yo, "Sachsen", by=ADMIN)["id"]
    await admit_and_join(xo, xa)
    await admit_and_join(yo, yb)
    await agree(fed, tmp_path, xo, yo)
    async with new_session(yb) as session:  # YB learns the statement its operator signed
        report = await refresh_network(yb, session, y)
    assert report["refused"] == []
    yield Peered(fed, xo, xa, yo, yb, x, y, tmp_path)
    await fed.close()


def inbox_of(node: Node, origin: Node) -> list[dict[str, Any]]:
    found = node.db.execute("SELECT envelope FROM inbox WHERE origin = ?", (origin.node_id,)).fetchall()
    return [json.loads(text) for (text,) in found]


async def share_in_x(w: Peered, tlp: str) -> dict[str, Any]:
    """XA shares a record with network X; XO receives it. Returns the envelope as XA signed it."""
    record = add_record(w.xa, "experience", RECORD, tlp=tlp, by=ADMIN)
    share_record(w.xa, record, [], False, network="Brandenburg", by=ADMIN)
    await w.fed.deliver(w.xa)
    (text,) = w.xa.db.execute("SELECT envelope FROM envelopes ORDER BY seq DESC LIMIT 1").fetchone()
    return dict(json.loads(text))


def to(w: Peered, receiver: Node) -> list[dict[str, Any]]:
    return [e for wire in w.fed.wire if wire.receiver == receiver.node_id for e in wire.envelopes()]


def crossing_from_xo(w: Peered, envelope: dict[str, Any]) -> dict[str, Any]:
    """The envelope with the attachment XO sends along to YO."""
    crossed = outgoing(w.xo, w.yo.node_id, envelope)
    assert isinstance(crossed, dict)
    return crossed


def xa_signed(w: Peered, genuine: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A fresh envelope of XA for network X, after the genuine one."""
    return signed_after(w.xa.key, w.xa.node_id, genuine, **({"network": w.x} | changes))


async def refused_at(w: Peered, sender: Node, receiver: Node, envelope: dict[str, Any]) -> str:
    (answer,) = await push(sender, receiver, [envelope])
    assert answer["status"] == "refused"
    assert inbox_of(receiver, w.xa) == []
    return str(answer["reason"])


# --- the happy path ---------------------------------------------------------------------------------


async def test_a_clear_record_reaches_a_member_of_the_peered_network_unchanged(world: Peered) -> None:
    w = world
    genuine = await share_in_x(w, CLEAR)
    await w.fed.deliver(w.xo)
    await w.fed.deliver(w.yo)
    (held,) = inbox_of(w.yb, w.xa)
    assert canonical_bytes(signing_form(held)) == canonical_bytes(signing_form(genuine))  # XA's signature holds
    assert held["content"] == genuine["content"]
    crossing = held["unsigned"]["crossing"]
    assert crossing["certificate"]["node_id"] == w.xa.node_id
    assert crossing["certificate"]["network"] == w.x
    verified = verify_envelope(held, lambda origin, kid: w.xa.key.public if kid == w.xa.key.key_id else None)
    assert (verified.origin, verified.network, verified.tlp) == (w.xa.node_id, w.x, CLEAR)
    assert w.yb.db.execute("SELECT 1 FROM peers WHERE node_id = ?", (w.xa.node_id,)).fetchone() is None
    (sender,) = w.yb.db.execute("SELECT sender FROM inbox WHERE origin = ?", (w.xa.node_id,)).fetchone()
    assert sender == w.yo.node_id
    assert [e["id"] for e in to(w, w.yo)] == [genuine["id"]]  # XO -> YO -> YB, nothing else
    assert [e["id"] for e in to(w, w.yb)] == [genuine["id"]]


async def test_green_amber_and_red_never_leave_x(world: Peered) -> None:
    w = world
    for label in (GREEN, AMBER):
        await share_in_x(w, label)
    await w.fed.deliver(w.xo)
    assert to(w, w.yo) == []
    assert not w.xo.db.execute("SELECT 1 FROM relays WHERE peer_id = ?", (w.yo.node_id,)).fetchall()
    # Even if a GREEN one were queued for YO, the sharing gate keeps it in X.
    (seq,) = w.xo.db.execute("SELECT seq FROM inbox WHERE tlp = ? ", (GREEN,)).fetchone()
    w.xo.db.execute(
        "INSERT INTO relays (peer_id, origin, seq, enqueued) VALUES (?, ?, ?, 'now')",
        (w.yo.node_id, w.xa.node_id, seq),
    )
    await w.fed.deliver(w.xo)
    assert to(w, w.yo) == []
    assert w.xo.db.execute("SELECT state FROM relays WHERE peer_id = ?", (w.yo.node_id,)).fetchone() == ("refused",)


@pytest.mark.parametrize("label", [GREEN, AMBER, RED])
async def test_a_receiver_refuses_every_label_but_clear(world: Peered, label: str) -> None:
    genuine = await share_in_x(world, CLEAR)
    forged = crossing_from_xo(world, genuine)
    relabelled = xa_signed(world, genuine, tlp=label) | {"unsigned": forged["unsigned"]}
    reason = await refused_at(world, world.xo, world.yo, relabelled)
    assert "never crosses" in reason or "never relayed" in reason


# --- what nobody can do -------------------------------------------------------------------------------


async def test_an_altered_or_relabelled_envelope_is_refused(world: Peered) -> None:
    w = world
    genuine = crossing_from_xo(w, await share_in_x(w, CLEAR))
    altered = json.loads(json.dumps(genuine))
    altered["content"]["title"] += " (geändert)"
    assert "hashes.sha256" in await refused_at(w, w.xo, w.yo, altered)
    assert "signature" in await refused_at(w, w.xo, w.yo, dict(genuine) | {"tlp": GREEN})
    forged = xa_signed(w, genuine, tlp=CLEAR)
    forged["signatures"] = build_envelope(
        w.xo.key, **{"origin": w.xa.node_id, "kind": "experience", "record_id": forged["id"], "version": 1,
                     "tlp": CLEAR, "seq": forged["seq"], "prev": forged["prev"], "created": datetime.now(UTC),
                     "content": forged["content"], "network": w.x}
    )["signatures"]  # fmt: skip
    forged["unsigned"] = genuine["unsigned"]
    assert "signature" in await refused_at(w, w.xo, w.yo, forged)


async def test_forged_altered_or_foreign_certificates_are_refused(world: Peered) -> None:
    w = world
    genuine = crossing_from_xo(w, await share_in_x(w, CLEAR))
    fresh = xa_signed(w, genuine)

    def with_certificate(certificate: dict[str, Any]) -> dict[str, Any]:
        attachment = json.loads(json.dumps(genuine["unsigned"]))
        attachment["crossing"]["certificate"] = certificate
        return fresh | {"unsigned": attachment}

    certificate = genuine["unsigned"]["crossing"]["certificate"]
    bad_signature = dict(certificate) | {"signature": certificate["signature"][:-4] + "AAAA"}
    assert "signature" in await refused_at(w, w.xo, w.yo, with_certificate(bad_signature))
    hub = dict(certificate) | {"roles": ["hub", "member"]}
    assert "signature" in await refused_at(w, w.xo, w.yo, with_certificate(hub))
    other = NodeKey.generate()
    foreign = issue_certificate(
        other, node_id=w.xa.node_id, fingerprint=w.xa.fingerprint, roles=["member"],
        not_before=datetime.now(UTC) - timedelta(minutes=1), expires=datetime.now(UTC) + YEAR, serial=2,
    )  # fmt: skip
    assert "signature" in await refused_at(w, w.xo, w.yo, with_certificate(foreign))
    y_cert = issue_certificate(
        load_network_key(w.yo, w.y), node_id=w.xa.node_id, fingerprint=w.xa.fingerprint, roles=["member"],
        not_before=datetime.now(UTC) - timedelta(minutes=1), expires=datetime.now(UTC) + YEAR, serial=9,
    )  # fmt: skip
    assert "signature" in await refused_at(w, w.xo, w.yo, with_certificate(y_cert))
    no_attachment = {k: v for k, v in fresh.items() if k != "unsigned"}
    assert "no signature by a known key" in await refused_at(w, w.xo, w.yo, no_attachment)


async def test_an_origin_revoked_in_x_is_refused(world: Peered) -> None:
    w = world
    genuine = crossing_from_xo(w, await share_in_x(w, CLEAR))
    revoke_member(w.xo, w.xa.node_id, by=ADMIN)
    assert isinstance(outgoing(w.xo, w.yo.node_id, genuine), str)  # XO itself no longer sends it
    newer = json.loads(resolve_network(w.xo, w.x)["revocations"])
    attachment = json.loads(json.dumps(genuine["unsigned"]))
    attachment["crossing"]["revocations"] = newer
    assert "revoked" in await refused_at(w, w.xo, w.yo, xa_signed(w, genuine) | {"unsigned": attachment})
    # YO now holds the newer list: the old one attached again is no way back (no rollback).
    assert "revoked" in await refused_at(w, w.xo, w.yo, xa_signed(w, genuine) | {"unsigned": genuine["unsigned"]})


async def test_a_withdrawn_or_expired_peering_lets_nothing_cross(world: Peered) -> None:
    w = world
    genuine = crossing_from_xo(w, await share_in_x(w, CLEAR))
    key = load_network_key(w.yo, w.y)
    expired = issue_peering(
        key, peer_key=load_network_key(w.xo, w.x).public, not_before=datetime.now(UTC) - timedelta(days=2),
        expires=datetime.now(UTC) - timedelta(days=1), serial=50,
    )  # fmt: skip
    store_statement(w.yb, resolve_network(w.yb, w.y), expired)
    assert "expired" in await refused_at(w, w.yo, w.yb, genuine)
    await unpeer_and_push(w.yo, "Sachsen", w.x, by=ADMIN)
    assert "withdrawn" in await refused_at(w, w.xo, w.yo, genuine)
    assert [p["state"] for p in list_peerings(w.yo)] == ["withdrawn"]


async def test_a_statement_not_signed_by_the_network_key_is_refused(world: Peered) -> None:
    w = world
    row = resolve_network(w.yb, w.y)
    before = w.yb.db.execute("SELECT * FROM peerings").fetchall()
    by_node_key = issue_peering(
        w.yo.key, peer_key=load_network_key(w.xo, w.x).public, not_before=datetime.now(UTC),
        expires=datetime.now(UTC) + YEAR, serial=99,
    )  # fmt: skip
    with pytest.raises(ProtocolError, match="signature does not verify"):
        store_statement(w.yb, row, by_node_key)
    older = json.loads(before[0][6]) | {"serial": 0}
    with pytest.raises(ProtocolError):
        store_statement(w.yb, row, older)
    assert w.yb.db.execute("SELECT * FROM peerings").fetchall() == before


async def test_a_member_accepts_x_records_only_from_its_own_operator(world: Peered) -> None:
    w = world
    genuine = crossing_from_xo(w, await share_in_x(w, CLEAR))
    w.fed.pair(w.xo, w.yb)
    assert "accepted only from the operator" in await refused_at(w, w.xo, w.yb, genuine)


async def test_nothing_crosses_without_a_peering(tmp_path: Path) -> None:
    fed = Federation(tmp_path)
    try:
        xo, xa, yo = [await fed.add(name) for name in ("XO", "XA", "YO")]
        create_network(xo, "Brandenburg", by=ADMIN)
        create_network(yo, "Sachsen", by=ADMIN)
        await admit_and_join(xo, xa)
        fed.pair(xo, yo)
        record = add_record(xa, "experience", RECORD, tlp=CLEAR, by=ADMIN)
        share_record(xa, record, [], False, network="Brandenburg", by=ADMIN)
        await fed.deliver(xa)
        await fed.deliver(xo)
        assert not [wire for wire in fed.wire if wire.receiver == yo.node_id]
        (text,) = xa.db.execute("SELECT envelope FROM envelopes ORDER BY seq DESC LIMIT 1").fetchone()
        (answer,) = await push(xo, yo, [json.loads(text)])
        assert answer["status"] == "refused"
        assert answer["reason"] == f"no signature by a known key of origin {xa.node_id}"  # XO sends no attachment
        pushed = fed.wire[-1].envelopes()
        assert "unsigned" not in pushed[0]
        forged_attachment = {"crossing": {"certificate": {}, "key_id": xa.key.key_id, "key": xa.key.public_b64,
                                          "revocations": {}}}  # fmt: skip
        fed.pair(xa, yo)  # even an origin YO knows is refused: YO's networks do not peer with X
        (answer,) = await push(xo, yo, [json.loads(text) | {"unsigned": forged_attachment}])
        assert answer["status"] == "refused"
        assert "none of its networks peers with it" in answer["reason"]
    finally:
        await fed.close()


async def test_peering_checks_the_card_and_its_fingerprint(world: Peered) -> None:
    w = world
    card = network_card(w.xo)
    path = w.base / "x.card"
    path.write_bytes(canonical_bytes(card))
    before = w.yo.db.execute("SELECT * FROM peerings").fetchall()
    with pytest.raises(NodeError, match="fingerprint mismatch"):
        await peer_network(w.yo, "Sachsen", str(path), w.xo.fingerprint, lifetime=YEAR, by=ADMIN)
    path.write_bytes(canonical_bytes(card | {"name": "Brandenburg (falsch)"}))
    with pytest.raises(NodeError, match="not a valid network card"):
        await peer_network(w.yo, "Sachsen", str(path), w.xo.fingerprint, lifetime=YEAR, by=ADMIN)
    assert w.yo.db.execute("SELECT * FROM peerings").fetchall() == before
