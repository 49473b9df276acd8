"""Signatures of a pushed batch checked in worker processes (node.exchange.signature_workers) while the node
stores the batch: the same answers and rows as checking in the node's process, nothing of an envelope
with a bad signature committed although the batch was first stored as if all verified, and neither a
dead worker nor a failed store loses or mixes up an answer."""

from __future__ import annotations

import copy
import logging
import multiprocessing
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from node.exchange import signature_workers
from node.exchange.inbox import ingest
from node.home import Node, init_home
from protocol.encoding import b64url, b64url_decode
from protocol.envelope import run_checks
from protocol.keys import NodeKey
from tests.conftest import FakePeer
from tests.node.conftest import NodeFactory, count


def workers(node: Node, number: int) -> Node:
    node.config = replace(node.config, delivery=replace(node.config.delivery, verify_workers=number))
    return node


def forged(envelope: dict[str, Any]) -> dict[str, Any]:
    """The envelope with its signature's last byte changed: well-formed, but it does not verify."""
    bad = copy.deepcopy(envelope)
    [(kid, sig)] = bad["signatures"].items()
    raw = bytearray(b64url_decode(sig))
    raw[-1] ^= 1
    bad["signatures"][kid] = b64url(bytes(raw))
    return bad


def short(envelope: dict[str, Any]) -> dict[str, Any]:
    """The envelope with a signature of 63 bytes."""
    bad = copy.deepcopy(envelope)
    [(kid, sig)] = bad["signatures"].items()
    bad["signatures"][kid] = b64url(b64url_decode(sig)[:63])
    return bad


def retitled(envelope: dict[str, Any]) -> dict[str, Any]:
    """The envelope with its content changed after signing: the content hash no longer matches."""
    bad = copy.deepcopy(envelope)
    bad["content"]["title"] = "Geändert"
    return bad


def stranger(envelope: dict[str, Any]) -> dict[str, Any]:
    """The envelope signed under a key id the receiver does not know, with the right signature beside it."""
    more = copy.deepcopy(envelope)
    more["signatures"]["ed25519:99"] = next(iter(envelope["signatures"].values()))
    return more


def forged_and_retitled(envelope: dict[str, Any]) -> dict[str, Any]:
    """Both a bad signature and a content that does not match: the signature is judged first."""
    return forged(retitled(envelope))


Spoil = Callable[[dict[str, Any]], dict[str, Any]]
REASONS: dict[Spoil, str] = {
    forged: "signature does not verify",
    short: "an Ed25519 signature has 64 bytes",
    retitled: "content does not match hashes.sha256",
    forged_and_retitled: "signature does not verify",
}


def mixed_batch(peer: FakePeer) -> tuple[list[dict[str, Any]], list[str | None]]:
    """Twenty envelopes of one chain, some spoilt; beside each, the reason it must be refused (None: accepted)."""
    envelopes: list[dict[str, Any]] = []
    expected: list[str | None] = []
    spoil = dict(zip((2, 5, 11, 17), REASONS.items(), strict=True))
    for index in range(20):
        envelope = peer.envelope()
        if index in spoil:
            how, why = spoil[index]
            envelope = how(envelope)
            expected.append(why)
        elif index == 8:
            envelope = stranger(envelope)
            expected.append(None)
        else:
            expected.append(None)
        envelopes.append(envelope)
    return envelopes, expected


def outcome(node: Node, answer: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    rows = node.db.execute("SELECT seq, id, ref, envelope FROM inbox ORDER BY seq").fetchall()
    return answer["results"], rows


@pytest.mark.parametrize("count_", [0, 1, 2])
def test_a_mixed_batch_gets_the_same_answer_and_rows_whatever_checks_the_signatures(
    make_node: NodeFactory, count_: int
) -> None:
    peer = FakePeer("Stadt B", "http://127.0.0.1:9")
    envelopes, expected = mixed_batch(peer)
    inline = workers(make_node("Stadt A"), 0)
    peer.trusted_by(inline)
    checked = workers(make_node("Stadt C"), count_)
    peer.trusted_by(checked)
    reference = outcome(inline, ingest(inline, peer.node_id, envelopes, "t1"))
    answer = ingest(checked, peer.node_id, envelopes, "t1")
    assert outcome(checked, answer) == reference
    for entry, why in zip(answer["results"], expected, strict=True):
        assert entry["status"] == ("refused" if why else "accepted"), entry
        assert why is None or why in entry["reason"]
    stored_ids = {row[1] for row in checked.db.execute("SELECT seq, id FROM inbox")}
    assert stored_ids == {e["id"] for e, why in zip(envelopes, expected, strict=True) if why is None}
    assert count(checked, "inbound_txns") == 1


def test_a_batch_is_split_between_worker_processes(make_node: NodeFactory) -> None:
    node = workers(make_node("Stadt A"), 2)
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    answer = ingest(node, peer.node_id, [peer.envelope() for _ in range(30)], "t1")
    assert {entry["status"] for entry in answer["results"]} == {"accepted"}
    names = [process.name for process in multiprocessing.active_children()]
    assert names.count("praevnet-verify") >= 2, names


def test_a_forged_signature_stored_as_if_valid_is_rolled_back_with_its_batch(make_node: NodeFactory) -> None:
    """The batch is first stored as if every signature verified; one that does not undoes that whole
    transaction, and the batch is stored again with the verdicts: the forged envelope never lands."""
    node = workers(make_node("Stadt A"), 1)
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    envelopes = [peer.envelope() for _ in range(12)]
    envelopes[-1] = forged(envelopes[-1])
    answer = ingest(node, peer.node_id, envelopes, "t1")
    assert [entry["status"] for entry in answer["results"]] == ["accepted"] * 11 + ["refused"]
    assert count(node, "inbox") == 11
    held = node.db.execute("SELECT count(*) FROM inbox WHERE id = ?", (envelopes[-1]["id"],)).fetchone()[0]
    assert held == 0
    entries = node.db.execute("SELECT count(*) FROM audit WHERE action = 'received.batch'").fetchone()[0]
    assert entries == 1  # the rolled-back attempt left no audit entry


def test_a_dead_worker_loses_no_check_and_is_replaced(make_node: NodeFactory, caplog: pytest.LogCaptureFixture) -> None:
    node = workers(make_node("Stadt A"), 1)
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    ingest(node, peer.node_id, [peer.envelope() for _ in range(10)], "t1")
    dead = [p for p in multiprocessing.active_children() if p.name == "praevnet-verify"]
    assert dead
    for process in dead:
        process.kill()
        process.join()
    envelopes = [peer.envelope() for _ in range(10)]
    envelopes[3] = forged(envelopes[3])
    with caplog.at_level(logging.WARNING, logger="praevnet.verify"):
        answer = ingest(node, peer.node_id, envelopes, "t2")
    assert [entry["status"] for entry in answer["results"]].count("refused") == 1
    assert answer["results"][3]["reason"] == "signature does not verify"
    assert "worker died" in caplog.text
    later = [peer.envelope() for _ in range(10)]
    assert {e["status"] for e in ingest(node, peer.node_id, later, "t3")["results"]} == {"accepted"}
    alive = {p.pid for p in multiprocessing.active_children() if p.name == "praevnet-verify"}
    assert alive - {p.pid for p in dead}  # a new worker took over


def test_a_worker_killed_while_it_holds_checks_leaves_them_to_the_node() -> None:
    key = NodeKey.generate()
    checks = [(key.public, key.sign(b"m%d" % n), b"m%d" % n) for n in range(12)]
    checks[7] = (key.public, key.sign(b"other"), b"m7")
    with signature_workers.begin(1) as first:
        first.add(checks)
        assert first.failures() == {7: "signature does not verify"}
    with signature_workers.begin(1) as pending:
        pending.add(checks[:6])
        for process in multiprocessing.active_children():
            if process.name == "praevnet-verify":
                process.kill()
                process.join()
        pending.add(checks[6:])
        assert pending.failures() == run_checks(checks) == {7: "signature does not verify"}


def test_a_store_that_fails_leaves_no_answer_behind_for_the_next_batch(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = workers(make_node("Stadt A"), 1)
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    broken = [forged(peer.envelope()) for _ in range(10)]

    def fail(*args: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr("node.exchange.inbox.store_batch", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest(node, peer.node_id, broken, "t1")
    monkeypatch.undo()
    peer.seq, peer.prev = 0, None
    good = [peer.envelope() for _ in range(10)]
    answer = ingest(node, peer.node_id, good, "t2")  # would read the failed batch's answers if they were left
    assert {entry["status"] for entry in answer["results"]} == {"accepted"}
    assert count(node, "inbox") == 10


@pytest.fixture(scope="module")
def homes() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spoilt=st.sets(st.integers(0, 34)), count_=st.sampled_from([1, 2]))
@example(spoilt={3, 25, 34}, count_=2)  # one in each worker's part and one in the part the node keeps
def test_any_set_of_forged_signatures_gets_the_verdicts_of_the_node_s_own_checks(
    homes: Path, spoilt: set[int], count_: int
) -> None:
    peer = FakePeer("Stadt B", "http://127.0.0.1:9")
    envelopes = [forged(peer.envelope()) if index in spoilt else peer.envelope() for index in range(35)]
    results = []
    for number in (0, count_):
        home = Path(tempfile.mkdtemp(dir=homes))
        init_home(home / "n", name="Stadt A", url="http://127.0.0.1:9")
        node = workers(Node.open(home / "n"), number)
        try:
            peer.trusted_by(node)
            results.append(outcome(node, ingest(node, peer.node_id, envelopes, "t1")))
        finally:
            node.close()
    assert results[0] == results[1]
    assert [entry["status"] == "refused" for entry in results[1][0]] == [i in spoilt for i in range(35)]
