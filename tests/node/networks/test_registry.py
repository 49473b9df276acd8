"""Networks: members trust each other without pairing, and every refusal leaves nothing stored.

Real nodes with servers on loopback (tests/node/federation.py): operator O, members M1 and M2, an
outsider X; some tests add a second network.
"""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from node.errors import NodeError, NotFound, PolicyError
from node.exchange import delivery
from node.exchange import worker as worker_module
from node.exchange.received import list_inbox
from node.exchange.worker import Worker
from node.home import Node
from node.networks import sync as network_sync
from node.networks.operator import admit_member, create_network, revoke_member
from node.networks.registry import (
    list_members,
    list_networks,
    load_network_key,
    network_audience,
    network_key_path,
)
from node.networks.sync import join_network, refresh_network
from node.sharing.records import add_record, send_alert
from node.sharing.shares import share_record
from node.store import dumps
from node.transport.client import HttpFailure, new_session, signed_request
from node.trust.keyring import rotate_key
from node.trust.peers import get_peer, list_peers, trust_descriptor
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from protocol.encoding import b64url
from protocol.keys import NodeKey, fingerprint
from protocol.network import issue_certificate, make_bundle, parse_bundle
from tests.conftest import RECORD, SetClock, alert_content
from tests.node.federation import Federation

YEAR = timedelta(days=365)


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path)
    yield federation
    await federation.close()


@dataclass
class World:
    """Operator O of network DEFUS with members M1 and M2 (who trust each other), and an outsider X."""

    fed: Federation
    o: Node
    m1: Node
    m2: Node
    x: Node
    network: str
    codes: dict[str, str]


async def admit(operator: Node, member: Node, lifetime: timedelta = YEAR, network: str | None = None) -> str:
    admitted = await admit_member(
        operator, member.config.url, member.fingerprint, network=network, lifetime=lifetime, by=ADMIN
    )
    return str(admitted["code"])


async def refresh(node: Node, network: str) -> dict[str, Any]:
    async with new_session(node) as session:
        return await refresh_network(node, session, network)


@pytest.fixture
async def world(fed: Federation) -> World:
    o, m1, m2, x = [await fed.add(name) for name in ("O", "M1", "M2", "X")]
    network = create_network(o, "DEFUS", by=ADMIN)["id"]
    codes = {"m1": await admit(o, m1), "m2": await admit(o, m2)}
    await join_network(m1, codes["m1"], by=ADMIN)
    await join_network(m2, codes["m2"], by=ADMIN)
    await refresh(m1, network)  # M2 joined after M1
    return World(fed, o, m1, m2, x, network, codes)


def peer_networks(node: Node) -> dict[str, str | None]:
    return {peer["node_id"]: peer["network"] for peer in list_peers(node)}


def state(node: Node) -> dict[str, Any]:
    """What a refusal must not change: networks, members, peers, inbox and the audit log."""
    return {
        table: node.db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
        for table in ("networks", "network_members", "inbox", "audit")
    } | {"peers": sorted(peer_networks(node).items())}


async def network_share_refused(world: World, sender: Node, receiver: Node) -> str:
    """`sender` shares a new record with DEFUS and pushes it: `receiver` answers 401 and stores nothing.

    Returns the error the sender saw.
    """
    record = add_record(sender, "experience", RECORD, by=ADMIN)
    share_record(sender, record, [], False, network="DEFUS", by=ADMIN)
    before = state(receiver)
    await world.fed.deliver(sender)
    error = str(get_peer(sender, receiver.node_id)["last_error"] or "")
    assert "401" in error
    assert state(receiver) == before
    return error


def inbox_origins(node: Node) -> list[str]:
    return [row[0] for row in node.db.execute("SELECT origin FROM inbox")]


def forged(certificate: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A certificate with `changes`, signed by a key that is not the network's (network id kept)."""
    body = {k: v for k, v in certificate.items() if k != "signature"} | changes
    return body | {"signature": b64url(NodeKey.generate().sign(canonical_bytes(body)))}


def certificate_for(
    operator: Node, network: str, member: Node, *, serial: int = 90, expires: datetime | None = None, **fields: Any
) -> dict[str, Any]:
    """A certificate issued with the network key directly (for cases `network admit` refuses to make)."""
    moment = datetime.now(UTC)
    settings: dict[str, Any] = {
        "node_id": member.node_id,
        "fingerprint": member.fingerprint,
        "roles": ["member"],
        "not_before": moment - timedelta(hours=2),
        "expires": expires or moment + YEAR,
        "serial": serial,
    } | fields
    return issue_certificate(load_network_key(operator, network), **settings)


def bundle_with(world: World, certificate: dict[str, Any], **changes: Any) -> str:
    bundle = parse_bundle(world.codes["m1"])
    settings: dict[str, Any] = {
        "network_public": bundle.key,
        "name": bundle.name,
        "operator_url": bundle.operator_url,
        "operator_fingerprint": bundle.operator_fingerprint,
        "certificate": certificate,
    } | changes
    return make_bundle(**settings)


def serve_in_register(operator: Node, network: str, member: Node, certificate: dict[str, Any]) -> None:
    """Put an entry into the operator's register as is, so that it serves it in the member list."""
    operator.db.execute(
        """INSERT INTO network_members (network, serial, node_id, url, fingerprint, roles, not_before, expires,
                                        certificate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            network,
            certificate["serial"],
            member.node_id,
            member.config.url,
            certificate["fingerprint"],
            dumps(certificate["roles"]),
            certificate["not_before"],
            certificate["expires"],
            dumps(certificate),
        ),
    )


# --- the happy path ---------------------------------------------------------------------------------


async def test_members_trust_each_other_without_pairing(world: World) -> None:
    o, m1, m2, x = world.o, world.m1, world.m2, world.x
    assert peer_networks(m1) == {o.node_id: world.network, m2.node_id: world.network}
    assert peer_networks(m2) == {o.node_id: world.network, m1.node_id: world.network}
    assert peer_networks(o) == {m1.node_id: world.network, m2.node_id: world.network}
    assert peer_networks(x) == {}
    assert get_peer(m1, m2.node_id)["fingerprint"] == m2.fingerprint
    listing = list_members(m2, "DEFUS")
    assert {m["node_id"] for m in listing["members"]} == {o.node_id, m1.node_id, m2.node_id}
    assert all(m["state"] == "current" and m["trusted"] for m in listing["members"])
    (network,) = list_networks(m1)
    assert (network["role"], network["members"], network["refresh_error"]) == ("member", 3, None)
    assert list_networks(o)[0]["role"] == "operator"
    actions = [row[0] for row in m1.db.execute("SELECT action FROM audit")]
    assert "network.join" in actions
    assert "network.trust" in actions
    assert "network.admit" in [row[0] for row in o.db.execute("SELECT action FROM audit")]


async def test_a_network_share_reaches_the_members_only(world: World) -> None:
    m1, m2 = world.m1, world.m2
    record = add_record(m1, "experience", RECORD, by=ADMIN)
    outcome = share_record(m1, record, [], False, network="DEFUS", by=ADMIN)
    assert outcome["scope"] == "network"
    assert sorted(outcome["recipients"]) == sorted([world.o.node_id, m2.node_id])
    await world.fed.deliver(m1)
    (received,) = list_inbox(m2)
    assert (received["id"], received["origin"], received["verified"]) == (record, m1.node_id, True)
    assert "internal_notes" not in received["content"]
    assert inbox_origins(world.o) == [m1.node_id]
    assert inbox_origins(world.x) == []
    assert not [w for w in world.fed.wire if w.receiver == world.x.node_id or w.sender == world.x.node_id]
    detail = m1.db.execute("SELECT detail FROM audit WHERE action = 'record.share'").fetchone()[0]
    assert "scope network DEFUS" in detail


async def test_an_alert_to_a_network(world: World) -> None:
    outcome = send_alert(world.m2, alert_content(), [], False, network=world.network, by=ADMIN)
    assert sorted(outcome["recipients"]) == sorted([world.o.node_id, world.m1.node_id])
    await world.fed.deliver(world.m2)
    assert [entry["verified"] for entry in list_inbox(world.m1)] == [True]


async def test_network_scope_refuses_red_and_mixed_and_empty_audiences(world: World, fed: Federation) -> None:
    record = add_record(world.m1, "experience", RECORD, tlp="TLP:RED", by=ADMIN)
    before = state(world.m1)
    with pytest.raises(PolicyError, match="TLP:RED goes only to named recipients"):
        share_record(world.m1, record, [], False, network="DEFUS", by=ADMIN)
    with pytest.raises(NodeError, match="cannot be combined"):
        share_record(world.m1, record, [world.m2.node_id], False, network="DEFUS", by=ADMIN)
    with pytest.raises(NotFound, match="no network called 'Nope'"):
        share_record(world.m1, record, [], False, network="Nope", by=ADMIN)
    assert state(world.m1) == before
    lonely = await fed.add("Lonely")
    create_network(lonely, "Allein", by=ADMIN)
    alone = add_record(lonely, "experience", RECORD, by=ADMIN)
    with pytest.raises(NodeError, match="no other members yet"):
        share_record(lonely, alone, [], False, network="Allein", by=ADMIN)


async def test_all_peers_means_paired_peers_not_network_members(world: World) -> None:
    record = add_record(world.m1, "experience", RECORD, by=ADMIN)
    with pytest.raises(NodeError, match="no trusted peers yet"):
        share_record(world.m1, record, [], True, by=ADMIN)
    world.fed.pair(world.m1, world.x)
    assert share_record(world.m1, record, [], True, by=ADMIN)["recipients"] == [world.x.node_id]


async def test_network_key_is_kept_apart_with_mode_0600(world: World) -> None:
    path = network_key_path(world.o.home, world.network)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    key = load_network_key(world.o, world.network)
    assert key.public not in {k.public for k in world.o.keys.values()}
    assert path.read_bytes() != (world.o.home / "node.key").read_bytes()
    path.chmod(0o644)
    with pytest.raises(NodeError, match="readable by others"):
        load_network_key(world.o, world.network)


async def test_direct_pairing_wins_over_network_trust(fed: Federation) -> None:
    o, m1, m2 = [await fed.add(name) for name in ("O", "M1", "M2")]
    trust_descriptor(m1, m2.config.url, m2.fingerprint, m2.descriptor(), pull_only=True)
    trust_descriptor(m2, m1.config.url, m1.fingerprint, m1.descriptor())
    network = create_network(o, "DEFUS", by=ADMIN)["id"]
    for member in (m1, m2):
        await join_network(member, await admit(o, member), by=ADMIN)
    await refresh(m1, network)
    assert get_peer(m1, m2.node_id)["network"] is None
    assert get_peer(m1, m2.node_id)["pull_only"] is True
    assert network_audience(m1, "DEFUS") == (network, sorted([o.node_id, m2.node_id]))
    revoke_member(o, m2.node_id, by=ADMIN)
    report = await refresh(m1, network)
    assert report["removed"] == []
    assert get_peer(m1, m2.node_id)["network"] is None  # still paired directly
    assert network_audience(m1, "DEFUS") == (network, [o.node_id])  # but no longer a network member
    trust_descriptor(m1, o.config.url, o.fingerprint, o.descriptor())  # pairing later makes it a paired peer
    assert get_peer(m1, o.node_id)["network"] is None


# --- expired certificates ---------------------------------------------------------------------------


async def test_join_refuses_an_expired_certificate(world: World) -> None:
    newcomer = await world.fed.add("Neu")
    expired = certificate_for(world.o, world.network, newcomer, expires=datetime.now(UTC) - timedelta(minutes=1))
    before = state(newcomer)
    with pytest.raises(NodeError, match="has expired"):
        await join_network(newcomer, bundle_with(world, expired), by=ADMIN)
    assert state(newcomer) == before
    assert peer_networks(newcomer) == {}


async def test_a_lapsed_certificate_is_no_longer_trusted(fed: Federation, clock: SetClock) -> None:
    o, m1, m2 = [await fed.add(name) for name in ("O", "M1", "M2")]
    network = create_network(o, "DEFUS", by=ADMIN)["id"]
    await join_network(m1, await admit(o, m1, lifetime=timedelta(minutes=1)), by=ADMIN)
    await join_network(m2, await admit(o, m2), by=ADMIN)
    assert m1.node_id in peer_networks(m2)
    clock.advance(timedelta(minutes=2))
    report = await refresh(m2, network)
    assert report["removed"] == [m1.node_id]
    assert m1.node_id not in peer_networks(m2)
    assert (await refresh(o, network))["removed"] == [m1.node_id]
    assert m1.node_id not in peer_networks(o)
    record = add_record(m2, "experience", RECORD, by=ADMIN)
    assert share_record(m2, record, [], False, network="DEFUS", by=ADMIN)["recipients"] == [o.node_id]


# --- revoked members --------------------------------------------------------------------------------


async def test_a_revoked_member_is_refused(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "QUICK_RETRIES", ())
    o, m1, m2 = world.o, world.m1, world.m2
    revoked = revoke_member(o, m1.node_id, by=ADMIN)
    assert (revoked["version"], revoked["untrusted"]) == (2, True)
    assert m1.node_id not in peer_networks(o)  # the operator stops trusting it at once
    states = {m["serial"]: m["state"] for m in list_members(o)["members"]}
    assert states[2] == "revoked"
    report = await refresh(m2, world.network)
    assert report["removed"] == [m1.node_id]
    assert m1.node_id not in peer_networks(m2)
    assert list_networks(m2)[0]["revocations_version"] == 2
    assert "network.untrust" in [row[0] for row in m2.db.execute("SELECT action FROM audit")]
    # M1 has not heard of it and still pushes to M2: refused with 401, nothing stored
    await network_share_refused(world, m1, m2)
    assert inbox_origins(m2) == []
    # and the operator no longer answers it
    failed = await refresh(m1, world.network)
    assert "401" in failed["error"]
    with pytest.raises(NodeError, match="was revoked"):
        await admit(o, m1)


async def test_revoke_refusals(world: World) -> None:
    before = state(world.o)
    with pytest.raises(NotFound, match="not a member of DEFUS"):
        revoke_member(world.o, world.x.node_id, by=ADMIN)
    with pytest.raises(NodeError, match="cannot revoke itself"):
        revoke_member(world.o, world.o.node_id, by=ADMIN)
    with pytest.raises(NodeError, match="does not operate network DEFUS"):
        revoke_member(world.m1, world.m2.node_id, network="DEFUS", by=ADMIN)
    with pytest.raises(NodeError, match="malformed node id"):
        revoke_member(world.o, "nonsense", by=ADMIN)
    assert state(world.o) == before
    revoke_member(world.o, world.m1.node_id, by=ADMIN)
    with pytest.raises(NodeError, match="already revoked"):
        revoke_member(world.o, world.m1.node_id, by=ADMIN)


# --- certificates for another key -------------------------------------------------------------------


async def test_join_refuses_a_certificate_for_another_key(world: World) -> None:
    newcomer = await world.fed.add("Neu")
    other = NodeKey.generate()
    certificate = certificate_for(world.o, world.network, newcomer, fingerprint=fingerprint(other.public))
    before = state(newcomer)
    with pytest.raises(NodeError, match="for another key"):
        await join_network(newcomer, bundle_with(world, certificate), by=ADMIN)
    with pytest.raises(NodeError, match=f"admits node {world.m1.node_id}, not this node"):
        await join_network(newcomer, world.codes["m1"], by=ADMIN)  # somebody else's code
    assert state(newcomer) == before


async def test_admit_refuses_a_wrong_fingerprint(world: World) -> None:
    before = state(world.o)
    with pytest.raises(NodeError, match="fingerprint mismatch"):
        await admit_member(world.o, world.x.config.url, world.m1.fingerprint, lifetime=YEAR, by=ADMIN)
    assert state(world.o) == before


async def test_a_listed_certificate_for_another_key_is_not_trusted(world: World) -> None:
    stranger_key = fingerprint(NodeKey.generate().public)
    certificate = certificate_for(world.o, world.network, world.x, fingerprint=stranger_key)
    serve_in_register(world.o, world.network, world.x, certificate)
    before = state(world.m2)
    report = await refresh(world.m2, world.network)
    assert [r["node_id"] for r in report["refused"]] == [world.x.node_id]
    assert "another key" in report["refused"][0]["reason"]
    assert world.x.node_id not in peer_networks(world.m2)
    after = state(world.m2)
    assert after["network_members"] == before["network_members"]
    assert after["peers"] == before["peers"]
    assert world.x.node_id in (list_networks(world.m2)[0]["refresh_error"] or "")


async def test_a_member_whose_certified_key_is_revoked_is_no_longer_a_network_member(world: World) -> None:
    rotate_key(world.m1, by=ADMIN)
    world.m1.db.execute("UPDATE own_keys SET revoked_since = '2026-01-01T00:00:00Z' WHERE version = 1")
    trust_descriptor(world.m2, world.m1.config.url, world.m1.fingerprint, world.m1.descriptor(), network="x")
    report = await refresh(world.m2, world.network)
    assert report["refused"] == [{"node_id": world.m1.node_id, "reason": "the certificate is for another key"}]
    assert world.m1.node_id not in peer_networks(world.m2)


# --- forged network signatures ----------------------------------------------------------------------


async def test_join_refuses_a_forged_network_signature(world: World) -> None:
    newcomer = await world.fed.add("Neu")
    genuine = certificate_for(world.o, world.network, newcomer)
    before = state(newcomer)
    with pytest.raises(NodeError, match="signature does not verify"):
        await join_network(newcomer, bundle_with(world, forged(genuine)), by=ADMIN)
    with pytest.raises(NodeError, match="signature does not verify"):  # a changed field under the real signature
        await join_network(newcomer, bundle_with(world, genuine | {"roles": ["hub", "member"]}), by=ADMIN)
    impostor = NodeKey.generate()  # a code made up with another network key: its certificate is for that network
    made_up = make_bundle(
        network_public=impostor.public,
        name="DEFUS",
        operator_url=world.o.config.url,
        operator_fingerprint=world.o.fingerprint,
        certificate=issue_certificate(
            impostor,
            node_id=newcomer.node_id,
            fingerprint=newcomer.fingerprint,
            roles=["member"],
            not_before=datetime.now(UTC) - timedelta(hours=1),
            expires=datetime.now(UTC) + YEAR,
            serial=1,
        ),
    )
    with pytest.raises(NodeError, match="did not give this node the network's lists"):
        await join_network(newcomer, made_up, by=ADMIN)
    assert state(newcomer) == before


async def test_a_listed_certificate_with_a_forged_signature_is_not_trusted(world: World) -> None:
    certificate = forged(certificate_for(world.o, world.network, world.x))
    serve_in_register(world.o, world.network, world.x, certificate)
    before = state(world.m1)
    report = await refresh(world.m1, world.network)
    assert report["refused"] == [
        {"node_id": world.x.node_id, "reason": report["refused"][0]["reason"]},
    ]
    assert "signature does not verify" in report["refused"][0]["reason"]
    assert state(world.m1)["peers"] == before["peers"]
    assert state(world.m1)["network_members"] == before["network_members"]


async def test_join_refuses_a_wrong_operator_fingerprint(world: World) -> None:
    newcomer = await world.fed.add("Neu")
    code = bundle_with(
        world, certificate_for(world.o, world.network, newcomer), operator_fingerprint=world.x.fingerprint
    )
    before = state(newcomer)
    with pytest.raises(NodeError, match="fingerprint mismatch"):
        await join_network(newcomer, code, by=ADMIN)
    assert state(newcomer) == before


async def test_join_refuses_an_operator_without_a_certificate(world: World) -> None:
    """A code pointing at a node that merely has the code's fingerprint, but holds no certificate."""
    newcomer = await world.fed.add("Neu")
    code = await admit(world.o, newcomer)
    world.o.db.execute("DELETE FROM network_members WHERE node_id = ?", (world.o.node_id,))
    before = state(newcomer)
    with pytest.raises(NodeError, match="holds no valid certificate"):
        await join_network(newcomer, code, by=ADMIN)
    assert state(newcomer) == before


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("pvnet1.bm9wZQ", "not a valid network join code"),
        ("nonsense", "neither a network join code"),
    ],
)
async def test_join_refuses_garbage(world: World, code: str, problem: str) -> None:
    before = state(world.x)
    with pytest.raises(NodeError, match=problem):
        await join_network(world.x, code, by=ADMIN)
    assert state(world.x) == before


async def test_join_reads_a_file_and_refuses_the_operator_itself(world: World, tmp_path: Path) -> None:
    newcomer = await world.fed.add("Neu")
    path = tmp_path / "code.txt"
    path.write_text(await admit(world.o, newcomer) + "\n", encoding="utf-8")
    joined = await join_network(newcomer, str(path), by=ADMIN)
    assert joined["network"]["members"] == 4
    assert sorted(joined["refresh"]["trusted"]) == sorted([world.m1.node_id, world.m2.node_id])
    own = bundle_with(world, certificate_for(world.o, world.network, world.o))
    with pytest.raises(NodeError, match="operates DEFUS"):
        await join_network(world.o, own, by=ADMIN)


# --- rollback of the revocation list ----------------------------------------------------------------


async def test_a_rolled_back_revocation_list_is_refused(world: World) -> None:
    o, m2 = world.o, world.m2
    version_one = o.db.execute("SELECT revocations FROM networks").fetchone()[0]
    revoke_member(o, world.m1.node_id, by=ADMIN)
    await refresh(m2, world.network)
    held = m2.db.execute("SELECT revocations, revocations_version FROM networks").fetchone()
    assert held[1] == 2
    o.db.execute("UPDATE networks SET revocations = ?, revocations_version = 1", (version_one,))  # serve v1
    newcomer = await world.fed.add("Neu")
    await admit(o, newcomer)  # listed, but must not be trusted on the word of a rolled-back list
    before = state(m2)
    report = await refresh(m2, world.network)
    assert "rolled back from version 2 to 1" in report["error"]
    assert "keeping version 2" in report["error"]
    assert report["trusted"] == []
    assert m2.db.execute("SELECT revocations, revocations_version FROM networks").fetchone() == held
    assert state(m2)["peers"] == before["peers"]
    assert world.m1.node_id not in peer_networks(m2)
    assert "rolled back" in list_networks(m2)[0]["refresh_error"]


# --- a member of one network claiming another -------------------------------------------------------


async def test_a_member_of_one_network_cannot_read_another(world: World, fed: Federation) -> None:
    o, m1 = world.o, world.m1
    other = create_network(o, "LPR Bayern", by=ADMIN)["id"]
    before = state(o)
    async with new_session(m1) as session:
        operator = get_peer(m1, o.node_id)
        for path in ("members", "revocations"):
            with pytest.raises(HttpFailure, match="not a current member") as refused:
                await signed_request(m1, session, operator, "GET", f"/fed/v1/networks/{other}/{path}")
            assert refused.value.status == 403
        # a node that does not operate the network answers 404; an unknown network too
        with pytest.raises(HttpFailure) as missing:
            await signed_request(
                m1, session, get_peer(m1, world.m2.node_id), "GET", f"/fed/v1/networks/{world.network}/members"
            )
        assert missing.value.status == 404
        with pytest.raises(HttpFailure) as unknown:
            await signed_request(m1, session, operator, "GET", "/fed/v1/networks/nope/members")
        assert unknown.value.status == 404
        # members do get it
        answer = await signed_request(m1, session, operator, "GET", f"/fed/v1/networks/{world.network}/members")
        assert len(answer["members"]) == 3
    # an outsider is not even a trusted peer of the operator
    async with new_session(world.x) as session:
        stranger = {"node_id": o.node_id, "url": o.config.url}
        with pytest.raises(HttpFailure) as unauthorized:
            await signed_request(world.x, session, stranger, "GET", f"/fed/v1/networks/{world.network}/members")
        assert unauthorized.value.status == 401
    assert state(o) == before


async def test_a_certificate_of_one_network_does_not_count_in_another(world: World) -> None:
    o, m1, m2 = world.o, world.m1, world.m2
    other = create_network(o, "LPR Bayern", by=ADMIN)["id"]
    await join_network(m2, await admit(o, m2, network="LPR Bayern"), by=ADMIN)
    x_certificate = json.loads(
        o.db.execute(
            "SELECT certificate FROM network_members WHERE network = ? AND node_id = ?", (world.network, m1.node_id)
        ).fetchone()[0]
    )
    serve_in_register(o, other, m1, x_certificate | {"serial": 99})
    report = await refresh(m2, other)
    assert [r["node_id"] for r in report["refused"]] == [m1.node_id]
    assert get_peer(m2, m1.node_id)["network"] == world.network  # still trusted through DEFUS only
    assert m1.node_id not in network_audience(m2, "LPR Bayern")[1]
    assert m1.node_id in network_audience(m2, "DEFUS")[1]
    # and a join code for the other network carrying the DEFUS certificate is refused
    lpr = parse_bundle(await admit(o, world.x, network="LPR Bayern"))
    code = make_bundle(
        network_public=lpr.key,
        name=lpr.name,
        operator_url=lpr.operator_url,
        operator_fingerprint=lpr.operator_fingerprint,
        certificate=x_certificate,
    )
    before = state(m1)
    with pytest.raises(NodeError, match="not acceptable"):
        await join_network(m1, code, by=ADMIN)
    assert state(m1) == before


async def test_a_second_network_member_stays_trusted_when_it_leaves_the_first(world: World) -> None:
    o, m1, m2 = world.o, world.m1, world.m2
    other = create_network(o, "LPR Bayern", by=ADMIN)["id"]
    for member in (m1, m2):
        await join_network(member, await admit(o, member, network="LPR Bayern"), by=ADMIN)
    await refresh(m1, other)
    revoke_member(o, m2.node_id, network="DEFUS", by=ADMIN)
    assert get_peer(o, m2.node_id)["network"] == other
    report = await refresh(m1, world.network)
    assert report["removed"] == [m2.node_id]
    assert get_peer(m1, m2.node_id)["network"] == other
    assert m2.node_id not in network_audience(m1, "DEFUS")[1]
    assert m2.node_id in network_audience(m1, "LPR Bayern")[1]


# --- the operator's upkeep and unreachable operators ------------------------------------------------


async def test_the_operator_renews_its_lists_and_follows_its_node_key(world: World, clock: SetClock) -> None:
    o = world.o
    assert (await refresh(o, world.network))["renewed"] == []
    rotate_key(o, by=ADMIN)
    clock.advance(timedelta(days=25))
    report = await refresh(o, world.network)
    assert sorted(report["renewed"]) == ["certificate", "revocations"]
    assert list_networks(o)[0]["revocations_version"] == 2
    own = o.db.execute(
        "SELECT serial, fingerprint FROM network_members WHERE node_id = ? ORDER BY serial", (o.node_id,)
    ).fetchall()
    assert own[-1] == (4, o.fingerprint)
    assert own[0][1] != o.fingerprint
    assert json.loads(o.db.execute("SELECT certificate FROM networks").fetchone()[0])["serial"] == 4
    assert list_networks(o)[0]["operator_fingerprint"] == o.fingerprint


async def test_an_unreachable_operator_keeps_what_is_held(world: World) -> None:
    world.m1.db.execute("UPDATE peers SET url = 'http://127.0.0.1:9' WHERE node_id = ?", (world.o.node_id,))
    report = await refresh(world.m1, world.network)
    assert "cannot reach" in report["error"]
    assert report["removed"] == []
    assert world.m2.node_id in peer_networks(world.m1)
    async with new_session(world.m1) as session:
        reports = await network_sync.refresh_all(world.m1, session)
    assert [r["network"] for r in reports] == [world.network]
    with pytest.raises(NotFound):
        async with new_session(world.m1) as session:
            await network_sync.refresh_all(world.m1, session, "Nope")


async def test_a_serving_node_refreshes_its_networks_at_start(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    revoke_member(world.o, world.m1.node_id, by=ADMIN)
    refreshed = asyncio.Event()

    async def refresh_all(node: Node, *args: Any) -> list[dict[str, Any]]:
        try:
            return await network_sync.refresh_all(node, *args)
        finally:
            refreshed.set()

    monkeypatch.setattr(worker_module, "refresh_all", refresh_all)
    worker = Worker(world.m2)
    await worker.start()
    try:
        await asyncio.wait_for(refreshed.wait(), 10)  # the networks loop has done its round at start
    finally:
        await worker.stop()
    assert world.m1.node_id not in peer_networks(world.m2)
    assert list_networks(world.m2)[0]["revocations_version"] == 2


async def test_a_rotated_member_stays_and_is_renewed_without_a_new_code(world: World) -> None:
    o, m1, m2 = world.o, world.m1, world.m2
    rotate_key(m1, by=ADMIN)
    for follower in (o, m2):  # as the key announcement of a running node would
        trust_descriptor(follower, m1.config.url, m1.fingerprint, m1.descriptor(), network=world.network)
    assert (await refresh(m2, world.network))["removed"] == []  # its certificate names the key it rotated from
    assert (await refresh(m1, world.network)).get("error") is None
    await admit(o, m1)  # renewed for the new key
    report = await refresh(m1, world.network)
    assert report.get("error") is None
    assert json.loads(m1.db.execute("SELECT certificate FROM networks").fetchone()[0])["fingerprint"] == m1.fingerprint
    assert (await refresh(m2, world.network))["removed"] == []
    held = m2.db.execute("SELECT certificate FROM peers WHERE node_id = ?", (m1.node_id,)).fetchone()[0]
    assert json.loads(held)["fingerprint"] == m1.fingerprint


async def test_an_expired_revocation_list_stops_network_shares(world: World, clock: SetClock) -> None:
    record = add_record(world.m1, "experience", RECORD, by=ADMIN)
    clock.advance(timedelta(days=31))
    before = state(world.m1)
    with pytest.raises(NodeError, match="revocation list of DEFUS has expired"):
        share_record(world.m1, record, [], False, network="DEFUS", by=ADMIN)
    assert state(world.m1) == before


async def test_a_revoked_member_is_refused_even_while_a_stale_peer_row_remains(world: World) -> None:
    o, m1, m2 = world.o, world.m1, world.m2
    revoke_member(o, m1.node_id, by=ADMIN)
    async with new_session(m2) as session:  # m2 refreshes: it now holds the new revocation list
        await refresh_network(m2, session, world.network)
    before = m2.db.execute("SELECT count(*) FROM inbox").fetchone()[0]
    trust_descriptor(m2, m1.config.url, m1.fingerprint, m1.descriptor(), network=world.network)  # a stale row
    async with new_session(m1) as session:
        with pytest.raises(HttpFailure, match="not accepted as a member of network"):
            await signed_request(m1, session, get_peer(m1, m2.node_id), "GET", "/fed/v1/outbox")
    assert m2.db.execute("SELECT count(*) FROM inbox").fetchone()[0] == before
