"""The chain head (node.sharing.chain, node.sharing.reseal, node.exchange.chain_head, SPEC 8.11).

A node that comes back from an older copy of its home reuses seqs its peers already hold. Its next share
is refused as a fork by every peer: that is shown loudly (ERROR log line, peers status, fork_refusals,
audit), nothing more of its own leaves, and once it has asked its peers for the head of its chain it
signs the refused envelopes again after it, and every peer takes them. After a restore (node.ops.restore
marks it) nothing new leaves at all, neither pushed nor pulled, before the head is learned. The endpoint
refuses what is not a signed, bodiless request of a trusted peer, and an answer not signed by the asker.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from node import audit
from node.errors import PeerError
from node.exchange.chain_head import ask, learn_chain_head
from node.exchange.delivery import due_peers, send_batch
from node.exchange.pull import pull_from
from node.exchange.server import create_app
from node.exchange.status import peer_status
from node.home import Node
from node.ops.backup import create_backup, snapshot_database
from node.ops.restore import restore_backup
from node.sharing.chain import chain_state, fork_refusals
from node.sharing.records import add_record
from node.sharing.shares import share_record
from node.store import write, write_private
from node.transport.client import new_session
from node.trust.peers import get_peer
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from protocol.envelope import build_envelope, verify_envelope
from tests.conftest import RECORD, FakePeer, body_of
from tests.node.conftest import NodeFactory, Served, ServeOn, pair, refusal
from tests.ports import Port, hold_port

PASS = "correct horse battery staple"


@dataclass
class City:
    """A node served in-process on a port held for it."""

    node: Node
    port: Port
    server: TestServer


async def city(name: str, make_node: NodeFactory, serve_on: ServeOn) -> City:
    port = hold_port()
    node = make_node(name, url=port.url)
    return City(node, port, await serve_on(create_app(node, background=False), port))


async def comes_back(old: City, home: Path, serve_on: ServeOn) -> City:
    """`old` stops for good; the node in `home` (its identity, another copy) is served under the same URL."""
    await old.server.close()
    old.node.close()
    old.port.reclaim()
    node = Node.open(home)
    return City(node, old.port, await serve_on(create_app(node, background=False), old.port))


def share(node: Node, title: str, *peers: Node) -> str:
    record_id = add_record(node, "experience", {**RECORD, "title": title}, by=ADMIN)
    share_record(node, record_id, [peer.node_id for peer in peers], all_peers=False, by=ADMIN)
    return record_id


async def push(node: Node, *peers: Node) -> int:
    """One push attempt to each peer; how many envelopes they took."""
    async with new_session(node) as session:
        return sum([await send_batch(node, session, peer.node_id) for peer in peers])


def held(peer: Node, origin: Node) -> dict[str, tuple[int, str | None]]:
    """What `peer`'s database holds of `origin`: record id -> (seq, prev)."""
    found = peer.db.execute("SELECT id, seq, envelope FROM inbox WHERE origin = ? ORDER BY seq", (origin.node_id,))
    return {record_id: (seq, json.loads(text)["prev"]) for record_id, seq, text in found.fetchall()}


def ref_at(node: Node, seq: int) -> str:
    return str(node.db.execute("SELECT ref FROM envelopes WHERE seq = ?", (seq,)).fetchone()[0])


def forks_at(peer: Node, origin: Node) -> int:
    return int(peer.db.execute("SELECT forks FROM peers WHERE node_id = ?", (origin.node_id,)).fetchone()[0])


async def test_a_fork_refusal_is_loud_and_the_node_continues_after_its_peers_head(
    make_node: NodeFactory, serve_on: ServeOn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a, b, c = [await city(name, make_node, serve_on) for name in ("Stadt A", "Stadt B", "Stadt C")]
    pair(a.node, b.node)
    pair(a.node, c.node)
    older, _, _ = snapshot_database(a.node.home / "praevnet.db")  # a copy of the home, kept by hand
    x = share(a.node, "Bericht X", b.node, c.node)
    assert await push(a.node, b.node, c.node) == 2
    ref_x = ref_at(a.node, 1)

    home = tmp_path / "stadt-a-wieder"
    home.mkdir(mode=0o700)
    for name in ("praevnet.toml", "node.key"):
        write_private(home / name, (a.node.home / name).read_bytes())
    write_private(home / "praevnet.db", older)  # put back by hand: no restore mark, nothing held
    a = await comes_back(a, home, serve_on)
    assert chain_state(a.node)["pending"] is None
    y = share(a.node, "Bericht Y", b.node, c.node)  # signed again under seq 1, which both peers hold as X

    with caplog.at_level(logging.ERROR, logger="praevnet.chain"):
        assert await push(a.node, b.node, c.node) == 0  # B refuses Y as a fork; then nothing goes to C either
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "praevnet.chain"]
    assert "Stadt B" in error.getMessage()
    assert "as a fork, first seq 1" in error.getMessage()
    status = {entry["name"]: entry for entry in peer_status(a.node)}
    assert (status["Stadt B"]["refused"], status["Stadt C"]["refused"], status["Stadt C"]["queued"]) == (1, 0, 1)
    assert "seq 1: fork: origin already sent a different envelope with seq 1" in status["Stadt B"]["chain_fork"]
    assert status["Stadt C"]["chain_fork"] is None
    assert [entry["name"] for entry in fork_refusals(a.node)] == ["Stadt B"]
    assert "Stadt B refused seq 1 of this node's chain as a fork" in chain_state(a.node)["pending"]
    assert [e["action"] for e in audit.list_entries(a.node)].count("chain.fork") == 1

    share(a.node, "Bericht Z", b.node)  # signed now (seq 2): held like Y until the head is known
    assert due_peers(a.node) == []
    assert await push(a.node, b.node, c.node) == 0

    async with new_session(a.node) as session:
        report = await learn_chain_head(a.node, session)
    assert (report["learned"], report["head"], report["errors"]) == (True, 1, {})
    assert report["resealed"] == [[1, 3]]  # Y again after X; Z (seq 2) collides with nothing
    assert await push(a.node, b.node, c.node) == 3  # Y to both, Z to B

    for peer in (b.node, c.node):
        got = held(peer, a.node)
        assert got[x] == (1, None)
        assert got[y] == (3, ref_at(a.node, 2))
    assert held(b.node, a.node)[held_id(b.node, a.node, 2)] == (2, ref_at(a.node, 1))  # Z was signed after the old Y
    assert ref_at(a.node, 1) != ref_x
    assert (forks_at(b.node, a.node), forks_at(c.node, a.node)) == (1, 0)
    assert all(entry["chain_fork"] is None for entry in peer_status(a.node))
    assert fork_refusals(a.node) == []
    assert chain_state(a.node)["pending"] is None
    assert audit.verify(a.node) == []


def held_id(peer: Node, origin: Node, seq: int) -> str:
    found = peer.db.execute("SELECT id FROM inbox WHERE origin = ? AND seq = ?", (origin.node_id, seq)).fetchone()
    return str(found[0])


async def test_after_a_restore_nothing_new_leaves_before_the_head_is_learned(
    make_node: NodeFactory, serve_on: ServeOn, tmp_path: Path
) -> None:
    a, b = [await city(name, make_node, serve_on) for name in ("Stadt A", "Stadt B")]
    pair(a.node, b.node)
    create_backup(a.node.home, tmp_path / "a.age", PASS)
    x = share(a.node, "Bericht X", b.node)
    assert await push(a.node, b.node) == 1
    restore_backup(tmp_path / "a.age", tmp_path / "stadt-a-wieder", PASS)
    a = await comes_back(a, tmp_path / "stadt-a-wieder", serve_on)

    y = share(a.node, "Bericht Y", b.node)  # seq 1 again
    assert due_peers(a.node) == []
    assert await push(a.node, b.node) == 0
    async with new_session(b.node) as session:  # B pulls: the page ends before the held envelope
        pulled = await pull_from(b.node, session, get_peer(b.node, a.node.node_id))
    assert (pulled.get("accepted", 0), pulled.get("refused", 0), pulled["more"]) == (0, 0, False)
    assert set(held(b.node, a.node)) == {x}
    assert forks_at(b.node, a.node) == 0

    async with new_session(a.node) as session:
        report = await learn_chain_head(a.node, session)
    assert (report["head"], report["resealed"]) == (1, [[1, 2]])
    assert await push(a.node, b.node) == 1
    assert held(b.node, a.node)[y] == (2, ref_at_peer(b.node, a.node, 1))
    assert forks_at(b.node, a.node) == 0
    assert audit.verify(a.node) == []


def ref_at_peer(peer: Node, origin: Node, seq: int) -> str:
    text = peer.db.execute("SELECT envelope FROM inbox WHERE origin = ? AND seq = ?", (origin.node_id, seq))
    envelope = json.loads(text.fetchone()[0])
    return str(verify_envelope(envelope, lambda _o, _k: bytes(origin.keys[1].public)).ref)


async def test_the_hold_stays_while_no_peer_answers(make_node: NodeFactory, serve_on: ServeOn, tmp_path: Path) -> None:
    a, b = [await city(name, make_node, serve_on) for name in ("Stadt A", "Stadt B")]
    pair(a.node, b.node)
    create_backup(a.node.home, tmp_path / "a.age", PASS)
    restore_backup(tmp_path / "a.age", tmp_path / "stadt-a-wieder", PASS)
    a = await comes_back(a, tmp_path / "stadt-a-wieder", serve_on)
    await b.server.close()
    b.port.reclaim()  # B is down: connections are refused
    async with new_session(a.node) as session:
        report = await learn_chain_head(a.node, session)
    assert report["learned"] is False
    assert "Stadt B" in report["errors"]
    assert chain_state(a.node)["pending"] is not None


async def test_a_head_not_signed_by_the_asker_is_refused(make_node: NodeFactory, serve_on: ServeOn) -> None:
    a, b = [await city(name, make_node, serve_on) for name in ("Stadt A", "Stadt B")]
    pair(a.node, b.node)
    forged = build_envelope(  # B claims A went up to seq 99: with A as origin, signed by B
        b.node.key,
        origin=a.node.node_id,
        kind="experience",
        record_id="forged0001",
        version=1,
        tlp="TLP:AMBER",
        seq=99,
        prev="A" * 43,
        created=datetime.now(UTC),
        content={"title": "Erfunden", "summary": "Nie signiert"},
    )
    with write(b.node.db) as conn:
        conn.execute(
            """INSERT INTO inbox (origin, seq, id, version, kind, tlp, ref, envelope, sender, received)
               VALUES (?, 99, 'forged0001', 1, 'experience', 'TLP:AMBER', 'x', ?, ?, 'now')""",
            (a.node.node_id, canonical_bytes(forged).decode(), b.node.node_id),
        )
    async with new_session(a.node) as session:
        with pytest.raises(PeerError, match="refusing the chain head from"):
            await ask(a.node, session, get_peer(a.node, b.node.node_id))
        report = await learn_chain_head(a.node, session)
    assert report["learned"] is False
    assert chain_state(a.node)["head_seq"] == 0


# --- the endpoint -----------------------------------------------------------------------------------


async def test_the_endpoint_answers_the_newest_envelope_of_the_asker_as_a_tombstone(
    served: Served, peer_b: FakePeer
) -> None:
    response, _ = await served.signed(peer_b, "GET", "/fed/v1/chain-head")
    assert response.status == 200
    assert await response.json() == {"envelope": None}
    first, second = peer_b.envelope(), peer_b.envelope()
    put, _ = await served.put_inbox(peer_b, "t1", body_of({"envelopes": [first, second]}))
    assert put.status == 200
    response, _ = await served.signed(peer_b, "GET", "/fed/v1/chain-head")
    answer: dict[str, Any] = await response.json()
    assert set(answer) == {"envelope"}
    assert "content" not in answer["envelope"]
    verified = verify_envelope(answer["envelope"], lambda _o, _k: peer_b.key.public)
    assert (verified.seq, verified.has_content) == (2, False)


async def test_the_endpoint_refuses_what_is_not_a_bodiless_request_of_a_trusted_peer(
    served: Served, peer_b: FakePeer
) -> None:
    before = list(served.node.db.conn.iterdump())
    unsigned = await served.client.get("/fed/v1/chain-head")
    await refusal(unsigned, 401, "unauthorized")
    stranger = FakePeer("Stadt X", "http://127.0.0.1:9")
    response, _ = await served.signed(stranger, "GET", "/fed/v1/chain-head")
    await refusal(response, 401, "unauthorized")
    response, _ = await served.signed(peer_b, "GET", "/fed/v1/chain-head?since=1")
    await refusal(response, 400, "bad_request", "unknown query parameter 'since'")
    response, _ = await served.signed(peer_b, "GET", "/fed/v1/chain-head", b'{"seq": 5}')
    await refusal(response, 400, "bad_request", "takes no body")
    response, _ = await served.signed(peer_b, "POST", "/fed/v1/chain-head")
    await refusal(response, 405, "method_not_allowed")
    after = [line for line in served.node.db.conn.iterdump() if "nonces" not in line]
    assert after == [line for line in before if "nonces" not in line]
