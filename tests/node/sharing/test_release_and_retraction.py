"""Four-eyes release, PII confirmation, updates, retraction and withdrawal, and alert expiry."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from node import audit
from node.errors import NodeError, PolicyError
from node.exchange.inbox import ingest
from node.exchange.received import history, list_inbox
from node.home import Node
from node.sharing.expiry import purge_expired
from node.sharing.records import add_record, edit_record, get_record, list_records, send_alert
from node.sharing.release import list_shares, pending_shares, release_share
from node.sharing.shares import retract, share_record, unshare
from node.transport.resolver import key_resolver
from node.users import ADMIN, Actor, add_user
from protocol.envelope import verify_envelope
from tests.conftest import SetClock, alert_content
from tests.node.federation import Federation

RECORD: dict[str, Any] = {"title": "Sicherheitsaudit Innenstadt", "summary": "Begehungen und Befragung."}
PII_RECORD: dict[str, Any] = {
    "title": "Nachtbürgermeister",
    "summary": "Rückfragen an Herrn Klaus Becker unter 0821 324-1187.",
}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path)
    a = await federation.add("augsburg", {"release": {"four_eyes": True}})
    b = await federation.add("bonn")
    c = await federation.add("chemnitz")
    federation.pair(a, b)
    federation.pair(a, c)
    yield federation
    await federation.close()


def users(a: Node) -> tuple[Actor, Actor, Actor]:
    for name, role in (("olga", "officer"), ("anton", "approver"), ("berta", "approver")):
        add_user(a, name, role, "correct horse battery", by=ADMIN)
    return Actor("olga", "officer"), Actor("anton", "approver"), Actor("berta", "approver")


def release(a: Node, pending: dict[str, Any], by: Actor) -> dict[str, Any]:
    """Release a share as `pending_shares` listed it: its version and the SHA-256 of what it sends."""
    return release_share(a, pending["id"], version=pending["version"], sha256=pending["sha256"], by=by)


def grants(a: Node) -> int:
    return int(a.db.execute("SELECT count(*) FROM grants").fetchone()[0])


async def test_four_eyes_keeps_a_share_pending_until_another_approver_releases_it(fed: Federation) -> None:
    a, b, _ = fed.nodes.values()
    olga, anton, berta = users(a)
    record_id = add_record(a, "experience", RECORD, by=olga)
    assert share_record(a, record_id, [b.node_id], all_peers=False, by=olga)["state"] == "pending"
    await fed.deliver(a)
    assert fed.wire == []
    assert grants(a) == 0
    [pending] = pending_shares(a)
    with pytest.raises(NodeError, match="may not release shares"):
        release(a, pending, by=olga)
    assert grants(a) == 0
    release(a, pending, by=anton)
    await fed.deliver(a)
    assert [e["id"] for w in fed.bytes_from(a) for e in w.envelopes()] == [record_id]
    actions = [(e["user"], e["action"]) for e in audit.list_entries(a, record_id=record_id)]
    assert ("olga", "share.request") in actions
    assert ("anton", "share.release") in actions
    assert berta.name not in {user for user, _ in actions}


async def test_the_author_cannot_release_their_own_share(fed: Federation) -> None:
    a, b, _ = fed.nodes.values()
    _, anton, berta = users(a)
    record_id = add_record(a, "experience", RECORD, by=anton)
    share_record(a, record_id, [b.node_id], all_peers=False, by=anton)
    [pending] = pending_shares(a)
    with pytest.raises(PolicyError, match="a different approver must release it"):
        release(a, pending, by=anton)
    assert grants(a) == 0
    assert pending_shares(a)
    release(a, pending, by=berta)
    assert grants(a) == 1


async def test_under_four_eyes_an_edit_waits_for_release_again(fed: Federation) -> None:
    a, b, _ = fed.nodes.values()
    olga, anton, _ = users(a)
    record_id = add_record(a, "experience", RECORD, by=olga)
    share_record(a, record_id, [b.node_id], all_peers=False, by=olga)
    release(a, pending_shares(a)[0], by=anton)
    edit_record(a, record_id, {**RECORD, "summary": "Neue Fassung"}, by=olga)
    await fed.deliver(a)
    assert [e["version"] for w in fed.bytes_from(a) for e in w.envelopes()] == [1]
    release(a, pending_shares(a)[0], by=anton)
    await fed.deliver(a)
    assert [e["version"] for w in fed.bytes_from(a) for e in w.envelopes()] == [1, 2]


async def test_pii_blocks_sharing_until_confirmed_and_the_confirmation_is_recorded(tmp_path: Path) -> None:
    federation = Federation(tmp_path)
    try:
        a = await federation.add("augsburg")
        b = await federation.add("bonn")
        federation.pair(a, b)
        record_id = add_record(a, "experience", PII_RECORD, by=ADMIN)
        before = a.db.execute("SELECT count(*) FROM envelopes").fetchone()[0]
        with pytest.raises(NodeError, match=r"summary, characters .*phone") as refused:
            share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN)
        assert "person" in str(refused.value)
        assert a.db.execute("SELECT count(*) FROM envelopes").fetchone()[0] == before
        assert a.db.execute("SELECT count(*) FROM shares").fetchone()[0] == 0
        share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN, confirm_pii=True)
        assert get_record(a, record_id)["versions"][0]["pii_confirmed_by"] == "admin"
        assert [e["action"] for e in audit.list_entries(a, record_id=record_id)][-2:] == ["pii.confirm", "record.share"]
    finally:
        await federation.close()


async def plain(tmp_path: Path) -> Federation:
    federation = Federation(tmp_path)
    a = await federation.add("augsburg")
    for name in ("bonn", "chemnitz"):
        federation.pair(a, await federation.add(name))
    return federation


async def test_receivers_keep_the_newest_version_and_show_the_history(tmp_path: Path) -> None:
    fed = await plain(tmp_path)
    try:
        a, b, _ = fed.nodes.values()
        record_id = add_record(a, "experience", RECORD, by=ADMIN)
        share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN)
        edit_record(a, record_id, {**RECORD, "title": "Zweite Fassung"}, by=ADMIN)
        assert [(s["state"], s["version"]) for s in list_shares(a)] == [("released", 2)]  # the version it last sent
        await fed.deliver(a)
        [entry] = list_inbox(b)
        assert (entry["version"], entry["content"]["title"], entry["verified"]) == (2, "Zweite Fassung", True)
        assert [h["version"] for h in history(b, record_id)] == [1, 2]
    finally:
        await fed.close()


async def test_retraction_erases_the_content_everywhere_and_leaves_verifiable_tombstones(tmp_path: Path) -> None:
    fed = await plain(tmp_path)
    try:
        a, b, c = fed.nodes.values()
        record_id = add_record(a, "experience", RECORD, by=ADMIN)
        share_record(a, record_id, [], all_peers=True, by=ADMIN)
        edit_record(a, record_id, {**RECORD, "title": "Zweite Fassung"}, by=ADMIN)
        await fed.deliver(a)
        assert len(retract(a, record_id, by=ADMIN)) == 2
        await fed.deliver(a)
        for receiver in (b, c):
            assert list_inbox(receiver) == []
            stored = receiver.db.execute("SELECT envelope, erased FROM inbox WHERE kind != 'retraction'").fetchall()
            assert len(stored) == 2
            assert all(erased for _, erased in stored)
            for text, _ in stored:
                tombstone = json.loads(text)
                assert "content" not in tombstone
                assert not verify_envelope(tombstone, key_resolver(receiver)).has_content
            assert all(b"Sicherheitsaudit" not in p.read_bytes() for p in Path(receiver.home).glob("praevnet.db*"))
        with pytest.raises(NodeError, match="was retracted"):
            share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN)
    finally:
        await fed.close()


async def test_a_retraction_that_arrives_first_keeps_the_record_from_ever_being_stored(tmp_path: Path) -> None:
    fed = await plain(tmp_path)
    try:
        a, b, _ = fed.nodes.values()
        record_id = add_record(a, "experience", RECORD, by=ADMIN)
        share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN)
        record_envelope = json.loads(
            a.db.execute("SELECT envelope FROM envelopes WHERE id = ?", (record_id,)).fetchone()[0]
        )
        retract(a, record_id, by=ADMIN)
        await fed.deliver(a)  # only the retraction is still queued
        [only] = [e for w in fed.bytes_from(a) for e in w.envelopes()]
        assert only["type"] == "retraction"
        answer = ingest(b, a.node_id, [record_envelope])  # the record, late, e.g. from an earlier pull
        assert answer["results"][0]["status"] == "refused"
        assert "retracted" in answer["results"][0]["reason"]
        assert b.db.execute("SELECT count(*) FROM inbox WHERE kind != 'retraction'").fetchone()[0] == 0
    finally:
        await fed.close()


async def test_unshare_retracts_at_that_peer_only(tmp_path: Path) -> None:
    fed = await plain(tmp_path)
    try:
        a, b, c = fed.nodes.values()
        record_id = add_record(a, "experience", RECORD, by=ADMIN)
        share_record(a, record_id, [], all_peers=True, by=ADMIN)
        await fed.deliver(a)
        assert unshare(a, record_id, b.node_id, by=ADMIN) == [b.node_id]
        edit_record(a, record_id, {**RECORD, "title": "Nur noch für Chemnitz"}, by=ADMIN)
        await fed.deliver(a)
        assert list_inbox(b) == []
        assert [e["content"]["title"] for e in list_inbox(c)] == ["Nur noch für Chemnitz"]
        to_b = [e["type"] for w in fed.bytes_from(a) if w.receiver == b.node_id for e in w.envelopes()]
        assert to_b == ["experience", "retraction"]
        with pytest.raises(NodeError, match="not shared with"):
            unshare(a, record_id, b.node_id, by=ADMIN)
    finally:
        await fed.close()


async def test_expired_alerts_leave_the_lists_and_are_purged_after_retention(tmp_path: Path, clock: SetClock) -> None:
    fed = await plain(tmp_path)
    try:
        a, b, _ = fed.nodes.values()
        alert_id = send_alert(a, alert_content(days=1), [b.node_id], all_peers=False, by=ADMIN)["id"]
        await fed.deliver(a)
        assert [e["id"] for e in list_inbox(b)] == [alert_id]
        later = clock.advance(timedelta(days=2))
        assert list_inbox(b) == []
        assert list_records(a, "alert") == []
        assert [e["id"] for e in list_inbox(b, include_lapsed=True)] == [alert_id]
        assert purge_expired(a, moment=later) == {"own": 0, "received": 0}  # retention (30 days) not over
        much_later = later + timedelta(days=30)
        assert purge_expired(a, moment=much_later) == {"own": 1, "received": 0}
        assert purge_expired(b, moment=much_later) == {"own": 0, "received": 1}
        assert b"Trickdiebstahl" not in b"".join(p.read_bytes() for p in Path(b.home).glob("praevnet.db*"))
        assert get_record(a, alert_id)["content"] == {}
        assert [e["action"] for e in audit.list_entries(b)][-1] == "alert.purge"
    finally:
        await fed.close()
