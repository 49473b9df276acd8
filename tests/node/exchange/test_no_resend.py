"""Nothing crosses the wire twice: a pull passes over what the peer acknowledged by push (SPEC 8.3), counted on
the wire tap of real nodes; what a push did not deliver, and what a peer that went back may have lost, still comes."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from node import audit
from node.exchange.delivery import send_batch
from node.exchange.pull import pull_from
from node.home import Node
from node.ops.backup import create_backup
from node.ops.restore import restore_backup
from node.sharing.records import add_record, send_alert
from node.sharing.shares import share_record
from node.transport.client import new_session
from node.trust.peers import get_peer
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from tests.conftest import RECORD, alert_content
from tests.node.federation import Federation, Wire

PASS = "correct horse battery staple"


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    """Augsburg and Bonn, paired, with servers on loopback."""
    federation = Federation(tmp_path)
    federation.pair(await federation.add("augsburg"), await federation.add("bonn"))
    yield federation
    await federation.close()


def share(a: Node, b: Node, count: int, first: int = 0) -> list[str]:
    """Share `count` new experience records of `a` with `b`; their ids, in the order shared."""
    ids = []
    for index in range(first, first + count):
        record_id = add_record(a, "experience", {**RECORD, "title": f"Bericht {index}"}, by=ADMIN)
        share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN)
        ids.append(record_id)
    return ids


def pulled(fed: Federation, a: Node) -> list[Wire]:
    """The outbox pages `a` answered, as they crossed the wire."""
    return [wire for wire in fed.bytes_from(a) if wire.kind == "pull"]


def actions(a: Node, action: str) -> Counter[str]:
    """How many audit entries of `action` each record has on `a`."""
    return Counter(entry["record_id"] for entry in audit.per_record(audit.list_entries(a)) if entry["action"] == action)


def cursor_of(b: Node, a: Node) -> int:
    """Bonn's cursor in Augsburg's outbox."""
    return int(b.db.execute("SELECT pull_cursor FROM peers WHERE node_id = ?", (a.node_id,)).fetchone()[0])


def inbox_ids(b: Node) -> set[str]:
    """The record ids Bonn holds."""
    return {row[0] for row in b.db.execute("SELECT id FROM inbox")}


async def test_a_pull_after_a_complete_push_transfers_only_the_cursor(fed: Federation) -> None:
    a, b = fed.nodes["augsburg"], fed.nodes["bonn"]
    ids = share(a, b, 3)
    await fed.deliver(a)
    assert inbox_ids(b) == set(ids)
    pushed = [wire for wire in fed.bytes_from(a) if wire.kind == "push"]
    assert sum(len(wire.envelopes()) for wire in pushed) == 3

    report = await fed.pull(b, a)

    [page] = pulled(fed, a)
    assert page.envelopes() == []
    assert page.body == b'{"envelopes":[],"more":false,"next":3,"remaining":0}'
    assert (report["cursor"], report["more"], report.get("accepted", 0), report.get("duplicate", 0)) == (3, False, 0, 0)
    assert cursor_of(b, a) == 3
    assert actions(a, "sent") == dict.fromkeys(ids, 1)
    assert actions(a, "served") == {}
    assert a.db.execute("SELECT count(*) FROM audit WHERE action = 'served.batch'").fetchone()[0] == 0


async def test_a_partly_done_push_leaves_the_rest_to_the_pull_gaps_included(fed: Federation) -> None:
    """One push of 50 (the alert first, as a push orders them) leaves the 50th record, between pushed ones in
    cursor order, to the pull; the pull brings exactly that one and moves the cursor past the pushed alert."""
    a, b = fed.nodes["augsburg"], fed.nodes["bonn"]
    ids = share(a, b, 50)
    alert = send_alert(a, alert_content(), [b.node_id], all_peers=False, by=ADMIN)["id"]
    async with new_session(a) as session:
        assert await send_batch(a, session, b.node_id) == 50
    left = set(ids) - inbox_ids(b)
    assert len(left) == 1
    assert alert in inbox_ids(b)

    report = await fed.pull(b, a)

    [page] = pulled(fed, a)
    assert {envelope["id"] for envelope in page.envelopes()} == left
    assert (report["accepted"], report.get("duplicate", 0), report["more"]) == (1, 0, False)
    assert inbox_ids(b) == {*ids, alert}
    assert cursor_of(b, a) == 51
    assert actions(a, "sent") + actions(a, "served") == dict.fromkeys([*ids, alert], 1)
    served = [entry for entry in audit.per_record(audit.list_entries(a)) if entry["action"] == "served"]
    assert [entry["digest"] for entry in served] == [audit.digest_of(canonical_bytes(e)) for e in page.envelopes()]
    assert a.db.execute("SELECT count(*) FROM audit WHERE action = 'served.batch'").fetchone()[0] == 1
    assert audit.verify(a) == []


async def test_a_refused_push_is_served_again(fed: Federation) -> None:
    """An envelope the peer refused on push was not acknowledged as held: the pull offers it again."""
    a, b = fed.nodes["augsburg"], fed.nodes["bonn"]
    ids = share(a, b, 2)
    await fed.deliver(a)
    a.db.execute("UPDATE deliveries SET state = 'refused', reason = 'stored nothing' WHERE seq = 2")  # as if refused
    b.db.execute("DELETE FROM inbox WHERE id = ?", (ids[1],))

    report = await fed.pull(b, a)

    [page] = pulled(fed, a)
    assert [envelope["id"] for envelope in page.envelopes()] == [ids[1]]
    assert report["accepted"] == 1
    assert inbox_ids(b) == set(ids)


async def test_a_peer_that_pulls_from_an_earlier_cursor_gets_everything_again(fed: Federation) -> None:
    """Bonn restored from a backup (its cursor back at 0, as `praevnet restore` sets it) may have lost what it
    acknowledged by push: Augsburg serves it again, also on every later pull."""
    a, b = fed.nodes["augsburg"], fed.nodes["bonn"]
    ids = share(a, b, 3)
    await fed.deliver(a)
    await fed.pull(b, a)
    more = share(a, b, 2, first=3)
    await fed.deliver(a)
    await fed.pull(b, a)  # served_cursor is now 3, its cursor 5
    assert [len(page.envelopes()) for page in pulled(fed, a)] == [0, 0]
    b.db.execute("DELETE FROM inbox")
    b.db.execute("UPDATE peers SET pull_cursor = 0")

    report = await fed.pull(b, a)

    assert [envelope["id"] for envelope in pulled(fed, a)[-1].envelopes()] == [*ids, *more]
    assert (report["accepted"], report["cursor"]) == (5, 5)
    assert inbox_ids(b) == {*ids, *more}


async def test_a_peer_restored_from_a_backup_gets_what_it_acknowledged_after_the_backup(
    fed: Federation, tmp_path: Path
) -> None:
    a, b = fed.nodes["augsburg"], fed.nodes["bonn"]
    first = share(a, b, 2)
    await fed.deliver(a)
    await fed.pull(b, a)
    await fed.pull(b, a)  # Augsburg now knows Bonn asked from cursor 2
    create_backup(b.home, tmp_path / "bonn.age", PASS)
    later = share(a, b, 2, first=2)
    await fed.deliver(a)  # acknowledged by Bonn after its backup
    await fed.pull(b, a)
    restore_backup(tmp_path / "bonn.age", tmp_path / "bonn-wieder", PASS)
    restored = Node.open(tmp_path / "bonn-wieder")
    try:
        assert inbox_ids(restored) == set(first)
        async with new_session(restored) as session:
            report = await pull_from(restored, session, get_peer(restored, a.node_id))
        assert inbox_ids(restored) == {*first, *later}
        assert (report["accepted"], report["duplicate"]) == (2, 2)
    finally:
        restored.close()


async def test_remaining_leaves_out_what_was_pushed(fed: Federation, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of one: the three records the push left come one by one, `remaining` counting only those still to
    come, not the alert pushed after them in cursor order."""
    a, b = fed.nodes["augsburg"], fed.nodes["bonn"]
    ids = share(a, b, 52)
    send_alert(a, alert_content(), [b.node_id], all_peers=False, by=ADMIN)
    async with new_session(a) as session:
        assert await send_batch(a, session, b.node_id) == 50
    monkeypatch.setattr("node.exchange.pull.PAGE_SIZE", 1)
    remaining: list[int] = []
    async with new_session(b) as session:
        report = await pull_from(b, session, get_peer(b, a.node_id), lambda _n, _r, left: remaining.append(left))
    assert remaining == [2, 1, 0]
    assert (report["accepted"], report["cursor"]) == (3, 53)
    assert set(ids) <= inbox_ids(b)
