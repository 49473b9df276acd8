"""A new version of a shared record leaves only as reviewed: edit without distributing, review the update per
audience, send exactly what was shown (node.sharing.review.review_update and send_reviewed_update).

What crossed the wire is taken from the federation's tap, never from what a function returns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from node.errors import NodeError
from node.sharing.records import add_record, edit_record
from node.sharing.release import pending_shares, release_share
from node.sharing.review import (
    StalePreview,
    outdated_shares,
    review,
    review_update,
    send_reviewed_update,
    share_reviewed,
)
from node.users import Actor
from tests.node.federation import Federation
from tests.node.sharing.test_review import LOCAL_NOTE, PHONE, RECORD, state

OLGA = Actor("olga", "officer")
ANTON = Actor("anton", "approver")
SECOND = {**RECORD, "summary": "Begehungen mit Anwohnern, Polizei und Jugendhilfe: zweite Fassung."}


async def federation(tmp_path: Path, four_eyes: bool = False) -> Federation:
    fed = Federation(tmp_path)
    augsburg = await fed.add("augsburg", {"release": {"four_eyes": four_eyes}})
    for name in ("bonn", "chemnitz"):
        fed.pair(augsburg, await fed.add(name))
    return fed


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation_ = await federation(tmp_path)
    yield federation_
    await federation_.close()


async def shared(fed: Federation, *names: str) -> str:
    """A record of Augsburg's, version 1 reviewed, shared with `names` and delivered; the wire tap emptied."""
    a = fed.nodes["augsburg"]
    to = [fed.nodes[name].node_id for name in names]
    record_id = add_record(a, "experience", RECORD, local=["implementation.costs"], by=OLGA)
    sealed = review(a, record_id, to, by=OLGA)["sealed"]
    share_reviewed(a, record_id, to, False, version=1, sha256=sealed["sha256"], by=OLGA)
    await fed.deliver(a)
    fed.wire.clear()
    return record_id


def digests(shown: list[dict[str, Any]]) -> dict[str, str]:
    return {(one["network"] or ""): one["sealed"]["sha256"] for one in shown}


async def test_an_edit_without_distributing_leaves_nothing_and_names_who_holds_the_older_version(
    fed: Federation,
) -> None:
    a = fed.nodes["augsburg"]
    record_id = await shared(fed, "bonn", "chemnitz")
    before = state(a)
    assert edit_record(a, record_id, SECOND, by=OLGA, distribute=False) == 2
    after = state(a)
    assert after["grants"] == before["grants"]
    assert after["deliveries"] == before["deliveries"]
    await fed.deliver(a)
    assert fed.bytes_from(a) == []
    held = outdated_shares(a, record_id)
    assert {share["peer_id"] for share in held} == {fed.nodes["bonn"].node_id, fed.nodes["chemnitz"].node_id}
    assert {share["version"] for share in held} == {1}


async def test_the_reviewed_update_is_what_crosses_the_wire(fed: Federation) -> None:
    a, bonn = fed.nodes["augsburg"], fed.nodes["bonn"]
    record_id = await shared(fed, "bonn")
    edit_record(a, record_id, SECOND, by=OLGA, distribute=False)
    [shown] = review_update(a, record_id, by=OLGA)
    assert shown["version"] == 2
    assert shown["recipients"] == [bonn.node_id]
    assert "zweite Fassung" in shown["content"]["summary"]
    sent = send_reviewed_update(a, record_id, version=2, digests=digests([shown]), by=OLGA)
    assert sent["recipients"] == [bonn.node_id]
    await fed.deliver(a)
    [wire] = fed.bytes_from(a)
    assert shown["sealed"]["bytes"].encode() in wire.body
    assert LOCAL_NOTE.encode() not in wire.body
    assert outdated_shares(a, record_id) == []
    with pytest.raises(NodeError, match="current version already"):
        review_update(a, record_id, by=OLGA)


@pytest.mark.parametrize(
    "wrong",
    [
        {"version": 1},  # the preview of an older version
        {"version": 3},
        {"digests": {}},  # no digest for the audience
        {"digests": {"": "sha256:" + "A" * 43}},  # another envelope
    ],
)
async def test_an_update_other_than_the_reviewed_one_is_refused_and_nothing_leaves(
    fed: Federation, wrong: dict[str, Any]
) -> None:
    a = fed.nodes["augsburg"]
    record_id = await shared(fed, "bonn")
    edit_record(a, record_id, SECOND, by=OLGA, distribute=False)
    shown = review_update(a, record_id, by=OLGA)
    before = state(a)
    with pytest.raises(StalePreview):
        send_reviewed_update(a, record_id, **{"version": 2, "digests": digests(shown), "by": OLGA, **wrong})
    assert state(a) == before
    await fed.deliver(a)
    assert fed.bytes_from(a) == []


async def test_an_update_never_reviewed_is_refused(fed: Federation) -> None:
    a = fed.nodes["augsburg"]
    record_id = await shared(fed, "bonn")
    shown_v1 = review(a, record_id, [fed.nodes["bonn"].node_id], by=OLGA)["sealed"]["sha256"]
    edit_record(a, record_id, SECOND, by=OLGA, distribute=False)
    with pytest.raises(StalePreview):  # version 2 was never sealed: nothing was on screen
        send_reviewed_update(a, record_id, version=2, digests={"": shown_v1}, by=OLGA)
    assert outdated_shares(a, record_id) != []


async def test_a_finding_in_the_new_version_blocks_the_update_until_confirmed(fed: Federation) -> None:
    a = fed.nodes["augsburg"]
    record_id = await shared(fed, "bonn")
    edit_record(a, record_id, {**RECORD, "summary": f"Rückfragen unter {PHONE}"}, by=OLGA, distribute=False)
    [blocked] = review_update(a, record_id, by=OLGA)
    assert blocked["findings"]
    assert blocked["sealed"] is None
    [confirmed] = review_update(a, record_id, by=OLGA, confirm_pii=True)
    assert confirmed["sealed"] is not None
    send_reviewed_update(a, record_id, version=2, digests=digests([confirmed]), by=OLGA)
    await fed.deliver(a)
    [wire] = fed.bytes_from(a)
    assert PHONE.encode() in wire.body  # confirmed by the officer: it may leave


async def test_with_four_eyes_the_reviewed_update_waits_for_release(tmp_path: Path) -> None:
    fed = await federation(tmp_path, four_eyes=True)
    try:
        a = fed.nodes["augsburg"]
        record_id = add_record(a, "experience", RECORD, by=OLGA)
        bonn = fed.nodes["bonn"].node_id
        a.db.execute(  # version 1 shared and released earlier
            """INSERT INTO shares (record_id, peer_id, scope, state, author, created, released_by, released, version)
               VALUES (?, ?, 'named', 'released', 'olga', ?, 'anton', ?, 1)""",
            (record_id, bonn, "2026-12-01T09:00:00Z", "2026-12-01T09:00:00Z"),
        )
        edit_record(a, record_id, SECOND, by=OLGA, distribute=False)
        chemnitz = fed.nodes["chemnitz"].node_id  # version 2 also shared with Chemnitz, and released
        sealed = review(a, record_id, [chemnitz], by=OLGA)["sealed"]
        share_reviewed(a, record_id, [chemnitz], False, version=2, sha256=sealed["sha256"], by=OLGA)
        [request] = pending_shares(a)
        release_share(a, request["id"], version=2, sha256=request["sha256"], by=ANTON)
        await fed.deliver(a)
        fed.wire.clear()
        shown = review_update(a, record_id, by=OLGA)
        assert [one["recipients"] for one in shown] == [[bonn]]
        assert send_reviewed_update(a, record_id, version=2, digests=digests(shown), by=OLGA)["state"] == "pending"
        [waiting] = pending_shares(a)
        assert (waiting["peer_id"], waiting["version"]) == (bonn, 2)  # Chemnitz's released share stays released
        await fed.deliver(a)
        assert fed.bytes_from(a) == []
    finally:
        await fed.close()


async def test_a_label_the_audience_no_longer_allows_is_shown_refused_and_withheld(fed: Federation) -> None:
    a = fed.nodes["augsburg"]
    record_id = add_record(a, "experience", RECORD, by=OLGA)
    sealed = review(a, record_id, (), True, by=OLGA)["sealed"]
    share_reviewed(a, record_id, (), True, version=1, sha256=sealed["sha256"], by=OLGA)
    await fed.deliver(a)
    fed.wire.clear()
    edit_record(a, record_id, tlp="TLP:RED", by=OLGA, distribute=False)
    [shown] = review_update(a, record_id, by=OLGA)
    assert "TLP:RED" in shown["refused"]
    assert "sealed" not in shown
