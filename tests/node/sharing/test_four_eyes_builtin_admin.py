"""Four-eyes through the built-in administrator: only named, authenticated people request and release shares.

Security review #11, finding 5: without --user the CLI acts as the node's built-in administrator, which
could print any user's token and then release its own share as that user. With `release.four_eyes`,
the built-in actors (ADMIN and NODE) may neither request nor release a share, and a version made or a
share requested by one of them is never released.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from node.errors import NodeError, PolicyError
from node.exchange.received import list_inbox
from node.home import Node
from node.sharing.records import add_record, edit_record, send_alert
from node.sharing.release import pending_shares, release_share
from node.sharing.shares import share_record, unshare
from node.users import ADMIN, NODE, Actor, add_user
from tests.conftest import alert_content
from tests.node.federation import Federation

RECORD: dict[str, Any] = {"title": "Sicherheitsaudit Innenstadt", "summary": "Begehungen und Befragung."}
OLGA, BERND, BERTA = Actor("olga", "officer"), Actor("bernd", "approver"), Actor("berta", "approver")
NAMED_USER = "act as a named user with --user NAME"


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path)
    a = await federation.add("augsburg", {"release": {"four_eyes": True}})
    federation.pair(a, await federation.add("bonn"))
    for actor in (OLGA, BERND, BERTA):
        add_user(a, actor.name, actor.role, "correct horse battery", by=ADMIN)
    yield federation
    await federation.close()


def state(a: Node) -> dict[str, Any]:
    """What a refusal must leave as it was: records, versions, shares, grants, queued sends, envelopes, audit."""
    tables = ("records", "versions", "shares", "grants", "deliveries", "envelopes", "audit")
    return {table: a.db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall() for table in tables}


def release(a: Node, pending: dict[str, Any], by: Actor) -> dict[str, Any]:
    """Release a share exactly as `pending_shares` listed it."""
    return release_share(a, pending["id"], version=pending["version"], sha256=pending["sha256"], by=by)


async def crossed(fed: Federation, a: Node, b: Node) -> list[tuple[str, int]]:
    """(id, version) of every envelope that crossed the wire from `a` so far, pushed or pulled by `b`."""
    await fed.deliver(a)
    await fed.pull(b, a)
    return sorted({(e["id"], e["version"]) for w in fed.bytes_from(a) for e in w.envelopes()})


async def nothing_left(fed: Federation, a: Node, b: Node) -> None:
    """Nothing crossed the wire from `a`, pushed or pulled, and `b` holds nothing."""
    assert await crossed(fed, a, b) == []
    assert list_inbox(b) == []


async def release_refused(
    fed: Federation, pending: dict[str, Any], by: Actor, error: type[Exception], match: str
) -> None:
    """`by` may not release `pending`: the refusal matches, changes nothing on A, and nothing reaches B."""
    a, b = fed.nodes.values()
    before = state(a)
    with pytest.raises(error, match=match):
        release(a, pending, by=by)
    assert state(a) == before
    await nothing_left(fed, a, b)


@pytest.mark.parametrize("builtin", [ADMIN, NODE], ids=["admin", "node"])
async def test_four_eyes_through_the_builtin_administrator_cannot_request(fed: Federation, builtin: Actor) -> None:
    a, b = fed.nodes.values()
    record_id = add_record(a, "experience", RECORD, by=OLGA)
    before = state(a)
    with pytest.raises(NodeError, match=f"the node's built-in {builtin.name} may not request shares.*{NAMED_USER}"):
        share_record(a, record_id, [b.node_id], all_peers=False, by=builtin)
    with pytest.raises(NodeError, match=f"built-in {builtin.name} may not request shares"):
        send_alert(a, alert_content(days=1), [b.node_id], all_peers=False, by=builtin)
    assert state(a) == before
    assert pending_shares(a) == []
    await nothing_left(fed, a, b)


@pytest.mark.parametrize("builtin", [ADMIN, NODE], ids=["admin", "node"])
async def test_four_eyes_through_the_builtin_administrator_cannot_release(fed: Federation, builtin: Actor) -> None:
    a, b = fed.nodes.values()
    record_id = add_record(a, "experience", RECORD, by=OLGA)
    share_record(a, record_id, [b.node_id], all_peers=False, by=OLGA)
    [pending] = pending_shares(a)
    await release_refused(
        fed, pending, builtin, NodeError, f"built-in {builtin.name} may not release shares.*{NAMED_USER}"
    )
    release(a, pending, by=BERND)  # a named approver still can
    assert await crossed(fed, a, b) == [(record_id, 1)]


async def test_four_eyes_through_the_builtin_administrator_an_edit_is_no_request(fed: Federation) -> None:
    """An edit of a shared record asks for its release again: the built-in administrator may not make one."""
    a, b = fed.nodes.values()
    record_id = add_record(a, "experience", RECORD, by=OLGA)
    share_record(a, record_id, [b.node_id], all_peers=False, by=OLGA)
    release(a, pending_shares(a)[0], by=BERND)
    assert await crossed(fed, a, b) == [(record_id, 1)]
    before = state(a)
    with pytest.raises(NodeError, match="built-in admin may not request shares"):  # the released share
        edit_record(a, record_id, {**RECORD, "summary": "Vom Administrator"}, by=ADMIN)
    assert state(a) == before
    edit_record(a, record_id, {**RECORD, "summary": "Von Olga"}, by=OLGA)  # now waiting for release of v2
    before = state(a)
    with pytest.raises(NodeError, match="built-in admin may not request shares"):  # the pending request, renewed
        edit_record(a, record_id, {**RECORD, "summary": "Vom Administrator"}, by=ADMIN)
    assert state(a) == before
    assert await crossed(fed, a, b) == [(record_id, 1)]


async def test_four_eyes_through_the_builtin_administrator_its_version_is_never_released(fed: Federation) -> None:
    a, b = fed.nodes.values()
    record_id = add_record(a, "experience", RECORD, by=ADMIN)  # the built-in admin may write; it is no person
    share_record(a, record_id, [b.node_id], all_peers=False, by=OLGA)
    [pending] = pending_shares(a)
    await release_refused(
        fed, pending, BERND, PolicyError, f"version 1 of {record_id} was made by the node's built-in admin"
    )
    edit_record(a, record_id, {**RECORD, "summary": "Von Olga geprüft"}, by=OLGA)  # voids the request
    share_record(a, record_id, [b.node_id], all_peers=False, by=OLGA)
    release(a, pending_shares(a)[0], by=BERND)
    assert await crossed(fed, a, b) == [(record_id, 2)]


async def test_four_eyes_through_the_builtin_administrator_its_old_request_is_never_released(
    fed: Federation,
) -> None:
    """A request the built-in administrator made before this rule (a node upgraded with one pending) stays unsent."""
    a, b = fed.nodes.values()
    record_id = add_record(a, "experience", RECORD, by=OLGA)
    share_record(a, record_id, [b.node_id], all_peers=False, by=OLGA)
    with a.db.conn:
        a.db.execute("UPDATE shares SET author = 'admin'")  # as the code before the fix stored it
    [pending] = pending_shares(a)
    await release_refused(
        fed, pending, BERND, PolicyError, f"share {pending['id']} was requested by the node's built-in admin"
    )
    unshare(a, record_id, b.node_id, by=OLGA)  # the way out: withdraw it, and a named user asks again
    share_record(a, record_id, [b.node_id], all_peers=False, by=OLGA)
    release(a, pending_shares(a)[0], by=BERND)
    assert await crossed(fed, a, b) == [(record_id, 1)]
