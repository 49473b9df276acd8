"""Revoking an open invitation, and accepting the same code again after the answer was lost.

Real nodes with real servers (tests/node/federation.py). A revoked invitation is refused to a real
accept over HTTP with nothing paired on either side. When the inviting node paired but its answer
never arrived, the same node with the same key can accept again and both sides end up paired;
any other node, or the same node with another key, is still refused.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from node.audit import list_entries
from node.errors import NodeError, NotFound, PeerError
from node.home import Node
from node.trust.invites import accept_invitation, answer_pair, create_invitation, list_invitations, revoke_invitation
from node.trust.keyring import rotate_key
from node.trust.peers import list_peers, remove_peer, trust_descriptor
from node.users import ADMIN, Actor
from protocol.timestamps import format_timestamp
from tests.conftest import FakePeer
from tests.node.federation import Federation
from tests.node.trust.test_invites import Unchanged, accepter, expect, fed, inviter, pair_body, post_pair

__all__ = ["accepter", "fed", "inviter"]  # the fixtures of test_invites, shared
WEEK = timedelta(days=7)
OFFICER = Actor("erika", "officer")


def actions(node: Node) -> list[str]:
    return [entry["action"] for entry in list_entries(node)]


def peer_ids(node: Node) -> list[str]:
    return [peer["node_id"] for peer in list_peers(node)]


# --- invite revoke -----------------------------------------------------------------------------


async def test_a_revoked_invitation_is_refused_over_http(inviter: Node, accepter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    revoked = revoke_invitation(inviter, 1, by=OFFICER)
    assert (revoked["state"], revoked["revoked_by"]) == ("revoked", "erika")
    assert revoked["revoked"] is not None
    [entry] = [e for e in list_entries(inviter) if e["action"] == "invite.revoke"]
    assert (entry["user"], entry["detail"]) == ("erika", "invitation 1")
    with Unchanged(inviter, accepter), pytest.raises(PeerError, match="unknown, used, revoked or expired"):
        await accept_invitation(accepter, code, by=ADMIN)
    crafted = FakePeer("Stadt X", "http://127.0.0.1:9")
    with Unchanged(inviter):
        status, answer, _ = await post_pair(inviter, crafted, pair_body(crafted, code))
    expect(status, answer, 401, "invitation unknown, used, revoked or expired")
    assert peer_ids(inviter) == peer_ids(accepter) == []
    assert "peer.pair" not in actions(inviter) + actions(accepter)
    assert list_invitations(inviter, only_open=True) == []
    assert [item["state"] for item in list_invitations(inviter)] == ["revoked"]


async def test_revoke_refusals_change_nothing(inviter: Node, accepter: Node) -> None:
    used = create_invitation(inviter, WEEK, by=ADMIN)
    await accept_invitation(accepter, used, by=ADMIN)
    create_invitation(inviter, WEEK, by=ADMIN)  # 2: expires below
    create_invitation(inviter, WEEK, by=ADMIN)  # 3: revoked below
    past = format_timestamp(datetime.now(UTC) - timedelta(seconds=1))
    inviter.db.execute("UPDATE invitations SET expires = ? WHERE id = 2", (past,))
    revoke_invitation(inviter, 3, by=ADMIN)
    open_one = create_invitation(inviter, WEEK, by=ADMIN)  # 4
    before = (list(inviter.db.execute("SELECT * FROM invitations")), actions(inviter))
    with pytest.raises(NodeError, match=f"already used by {accepter.node_id}.*peers remove"):
        revoke_invitation(inviter, 1, by=ADMIN)
    with pytest.raises(NodeError, match="invitation 2 is expired already"):
        revoke_invitation(inviter, 2, by=ADMIN)
    with pytest.raises(NodeError, match="invitation 3 is revoked already"):
        revoke_invitation(inviter, 3, by=ADMIN)
    with pytest.raises(NotFound, match="no invitation 99"):
        revoke_invitation(inviter, 99, by=ADMIN)
    assert (list(inviter.db.execute("SELECT * FROM invitations")), actions(inviter)) == before
    assert [item["id"] for item in list_invitations(inviter, only_open=True)] == [4]
    assert open_one.startswith("pvinv1.")


# --- the lost answer ---------------------------------------------------------------------------


def drop_the_answer_once(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The inviting node commits the pairing, then its connection breaks before the answer is sent."""
    dropped: list[int] = []

    async def dropping(served: Node, request: web.Request) -> dict[str, Any]:
        answer = await answer_pair(served, request)
        if not dropped:
            dropped.append(1)
            assert request.transport is not None
            request.transport.close()
        return answer

    monkeypatch.setattr("node.exchange.server.answer_pair", dropping)
    return dropped


async def test_a_lost_answer_is_repaired_by_accepting_again(
    fed: Federation, inviter: Node, accepter: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    dropped = drop_the_answer_once(monkeypatch)
    with pytest.raises(PeerError, match="run the same `praevnet invite accept` again"):
        await accept_invitation(accepter, code, by=ADMIN)
    assert dropped == [1]
    assert peer_ids(inviter) == [accepter.node_id]  # the inviting node paired ...
    assert peer_ids(accepter) == []  # ... the accepting node did not
    third = await fed.add("Stadt C")
    with Unchanged(inviter, third), pytest.raises(PeerError, match="unknown, used, revoked or expired"):
        await accept_invitation(third, code, by=ADMIN)  # another node is still refused
    peer = await accept_invitation(accepter, code, by=ADMIN)
    assert peer["node_id"] == inviter.node_id
    assert peer_ids(accepter) == [inviter.node_id]
    assert peer_ids(inviter) == [accepter.node_id]
    assert peer_ids(third) == []
    entries = [e for e in list_entries(inviter) if e["action"] == "peer.pair"]
    assert len(entries) == 2
    assert entries[1]["detail"].startswith(f"answered again: {accepter.node_id}")
    [used] = list_invitations(inviter)
    assert (used["state"], used["used_by"]) == ("used", accepter.node_id)
    await accept_invitation(accepter, code, by=ADMIN)  # and again: it changes nothing
    assert peer_ids(accepter) == [inviter.node_id]


async def test_a_failed_commit_on_the_accepting_side_is_repaired_by_accepting_again(
    inviter: Node, accepter: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    failed: list[int] = []

    def failing(served: Node, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if served is accepter and not failed:
            failed.append(1)
            raise sqlite3.OperationalError("disk I/O error")
        return trust_descriptor(served, *args, **kwargs)

    monkeypatch.setattr("node.trust.invites.trust_descriptor", failing)
    with pytest.raises(sqlite3.OperationalError):
        await accept_invitation(accepter, code, by=ADMIN)
    assert (peer_ids(inviter), peer_ids(accepter)) == ([accepter.node_id], [])
    await accept_invitation(accepter, code, pull_only=True, by=ADMIN)
    assert (peer_ids(inviter), peer_ids(accepter)) == ([accepter.node_id], [inviter.node_id])
    assert list_peers(inviter)[0]["pull_only"] is False  # a repeat changes nothing at the inviting node


async def test_a_repeat_with_another_key_is_refused(inviter: Node, accepter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    await accept_invitation(accepter, code, by=ADMIN)
    remove_peer(accepter, inviter.node_id)  # as if the answer had been lost
    rotate_key(accepter, by=ADMIN)
    with Unchanged(inviter, accepter), pytest.raises(PeerError, match="unknown, used, revoked or expired"):
        await accept_invitation(accepter, code, by=ADMIN)


async def test_no_repeat_once_the_inviting_node_removed_the_peer(inviter: Node, accepter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    await accept_invitation(accepter, code, by=ADMIN)
    remove_peer(inviter, accepter.node_id)  # the officer decided against this pairing
    with Unchanged(inviter), pytest.raises(PeerError, match="unknown, used, revoked or expired"):
        await accept_invitation(accepter, code, by=ADMIN)
    assert peer_ids(inviter) == []


async def test_no_repeat_after_the_invitation_expired(inviter: Node, accepter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    await accept_invitation(accepter, code, by=ADMIN)
    remove_peer(accepter, inviter.node_id)
    past = format_timestamp(datetime.now(UTC) - timedelta(seconds=1))
    inviter.db.execute("UPDATE invitations SET expires = ?", (past,))  # the code itself still claims a week
    with Unchanged(inviter, accepter), pytest.raises(PeerError, match="unknown, used, revoked or expired"):
        await accept_invitation(accepter, code, by=ADMIN)


async def test_a_stolen_code_replayed_by_a_crafted_request_is_refused(inviter: Node, accepter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    await accept_invitation(accepter, code, by=ADMIN)
    thief = FakePeer("Stadt Dieb", "http://127.0.0.1:9")
    with Unchanged(inviter):
        status, answer, _ = await post_pair(inviter, thief, pair_body(thief, code))
    expect(status, answer, 401, "invitation unknown, used, revoked or expired")
