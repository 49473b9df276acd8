"""Security review #11, findings 4 and 9: what the inviting node checks before it stores anything for a pairing.

Finding 4: the inviting node trusted the URL in the pairing request's descriptor as sent, so it would
send signed requests (records meant for the invitee among them) wherever the invitee said. Now it
fetches the descriptor at that URL first and pairs only if the node there is the one asking: same
node id, same URL, same current keys. Otherwise 403, and nothing is stored: no peer, no nonce, no
audit entry, and the invitation stays open for the genuine node. A pull-only invitee cannot be
reached, so it is not fetched; nothing is ever sent to a pull-only peer's URL.

Finding 9: a nonce was recorded before the invitation was checked, so anybody could make the node
write rows. The invitation is checked first now; a request with an unusable one stores nothing.

Real nodes with real servers (tests/node/federation.py); crafted requests come from a FakePeer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from node.audit import list_entries
from node.errors import PeerError
from node.home import Node
from node.trust.invites import accept_invitation, create_invitation, list_invitations, revoke_invitation
from node.trust.peers import get_peer, list_peers
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from protocol.descriptor import build_descriptor
from protocol.invite import new_secret, pair_request
from protocol.keys import NodeKey
from protocol.timestamps import format_timestamp
from tests.conftest import FakePeer
from tests.node.federation import Federation
from tests.node.trust.test_invites import accepter, expect, fed, inviter, nonces, pair_body, post_pair
from tests.ports import hold_port, unreachable_url

__all__ = ["accepter", "fed", "inviter"]  # the fixtures of test_invites, shared
WEEK = timedelta(days=7)
WELL_KNOWN = "/.well-known/praevnet"


def everything(node: Node) -> tuple[Any, ...]:
    """Every table a pairing request could write to: peers, invitations, nonces, and the audit log."""
    return tuple(
        list(node.db.execute(f"SELECT * FROM {table}")) for table in ("peers", "invitations", "nonces", "audit")
    )


class DescriptorServer:
    """A loopback server answering GET /.well-known/praevnet with what `make(url)` returns for its own URL."""

    def __init__(self) -> None:
        self.port = hold_port()
        self.url = self.port.url
        self.make: Callable[[str], dict[str, Any]] = lambda url: {}
        self.fetched = 0
        app = web.Application()
        app.router.add_get(WELL_KNOWN, self._descriptor)
        self.runner = web.AppRunner(app, access_log=None)

    async def _descriptor(self, request: web.Request) -> web.Response:
        self.fetched += 1
        return web.Response(body=canonical_bytes(self.make(self.url)), content_type="application/json")

    async def start(self) -> None:
        await self.runner.setup()
        await web.SockSite(self.runner, self.port.handover()).start()


@pytest.fixture
async def site() -> AsyncIterator[DescriptorServer]:
    server = DescriptorServer()
    await server.start()
    yield server
    await server.runner.cleanup()


def descriptor_of(peer: FakePeer, *, url: str | None = None, keys: list[NodeKey] | None = None) -> dict[str, Any]:
    """`peer`'s self-signed descriptor, optionally with another URL or other current keys (signed by the first)."""
    retired = {"ed25519:1": {"key": peer.key.public_b64, "expired": format_timestamp(datetime.now(UTC))}}
    return build_descriptor(
        keys or [peer.key],
        node_id=peer.node_id,
        name=peer.name,
        url=url or peer.url,
        valid_until=datetime.now(UTC) + WEEK,
        old_keys=retired if keys else None,
    )


async def refused_and_nothing_stored(inviter: Node, peer: FakePeer, code: str, *words: str) -> None:
    """POST `peer`'s pairing request for `code`: 403 naming the problem, and not one row written."""
    before = everything(inviter)
    status, answer, _ = await post_pair(inviter, peer, pair_body(peer, code))
    expect(status, answer, 403, *words)
    assert answer["error"] == "forbidden"
    assert everything(inviter) == before
    assert nonces(inviter) == 0
    assert list_peers(inviter) == []
    assert "peer.pair" not in [entry["action"] for entry in list_entries(inviter)]
    assert [item["state"] for item in list_invitations(inviter)] == ["open"]


# --- finding 4: the URL the invitee claims is checked before anything is stored ---------------


async def test_finding_4_an_invitee_claiming_the_url_of_another_node_is_refused(
    fed: Federation, inviter: Node, accepter: Node
) -> None:
    """The attack: pair with a URL where a third node listens, so that the inviting node sends there."""
    third = await fed.add("Stadt C")
    code = create_invitation(inviter, WEEK, by=ADMIN)
    attacker = FakePeer("Stadt X", third.config.url)
    await refused_and_nothing_stored(inviter, attacker, code, third.config.url, third.node_id, attacker.node_id)
    assert (inviter.node_id, WELL_KNOWN) not in fed.requests  # nobody fetched the inviting node
    assert (third.node_id, WELL_KNOWN) in fed.requests  # the inviting node asked the third node who it is
    # the invitation is still there for the node it was meant for
    await accept_invitation(accepter, code, by=ADMIN)
    assert [peer["node_id"] for peer in list_peers(inviter)] == [accepter.node_id]


async def test_finding_4_an_invitee_claiming_a_url_where_nothing_listens_is_refused(inviter: Node) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    nobody = unreachable_url()
    await refused_and_nothing_stored(inviter, FakePeer("Stadt X", nobody), code, nobody, "cannot reach", "pull")


async def test_finding_4_a_node_whose_own_url_is_not_served_cannot_accept(fed: Federation, inviter: Node) -> None:
    """A real accepting node whose configured URL does not reach it: refused, and told what to do.

    Its long URL makes the refusal longer than the part of an error answer the accepting node keeps:
    the message is shown as far as it got, not as raw JSON.
    """
    path = "/dienste/ordnungsamt/kriminalpraevention/kommunaler-praeventionsrat/austausch"
    lost = await fed.add("Stadt L", {"node": {"url": unreachable_url() + path}})
    code = create_invitation(inviter, WEEK, by=ADMIN)
    before = everything(inviter)
    with pytest.raises(PeerError, match="HTTP 403: cannot reach") as caught:
        await accept_invitation(lost, code, by=ADMIN)
    assert f"{lost.config.url}/.well-known/praevnet" in str(caught.value)
    assert "--pull-only" in str(caught.value)
    assert " ...; " in str(caught.value)
    assert '"error"' not in str(caught.value)
    assert everything(inviter) == before
    assert list_peers(lost) == []


async def test_finding_4_a_url_serving_a_non_descriptor_is_refused(inviter: Node, site: DescriptorServer) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    site.make = lambda url: {"hello": "world"}
    await refused_and_nothing_stored(inviter, FakePeer("Stadt X", site.url), code, site.url, "unacceptable descriptor")
    assert site.fetched == 1


async def test_finding_4_the_node_at_the_url_must_claim_that_url(inviter: Node, site: DescriptorServer) -> None:
    """The same node, but what it serves says it lives elsewhere."""
    code = create_invitation(inviter, WEEK, by=ADMIN)
    peer = FakePeer("Stadt X", site.url)
    elsewhere = unreachable_url()
    site.make = lambda url: descriptor_of(peer, url=elsewhere)
    await refused_and_nothing_stored(inviter, peer, code, site.url, elsewhere)


async def test_finding_4_the_node_at_the_url_must_have_the_same_keys(inviter: Node, site: DescriptorServer) -> None:
    """The same node id at the URL, but with other current keys than the descriptor in the request."""
    code = create_invitation(inviter, WEEK, by=ADMIN)
    peer = FakePeer("Stadt X", site.url)
    site.make = lambda url: descriptor_of(peer, keys=[NodeKey.generate(version=2)])
    await refused_and_nothing_stored(inviter, peer, code, site.url, "keys")


async def test_finding_4_a_genuine_pairing_fetches_the_invitee_and_pairs(
    fed: Federation, inviter: Node, accepter: Node
) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    await accept_invitation(accepter, code, by=ADMIN)
    assert (accepter.node_id, WELL_KNOWN) in fed.requests  # the inviting node checked the accepting one
    stored = get_peer(inviter, accepter.node_id)
    assert (stored["url"], stored["fingerprint"]) == (accepter.config.url, accepter.fingerprint)
    assert [item["state"] for item in list_invitations(inviter)] == ["used"]


async def test_finding_4_a_crafted_request_from_a_node_serving_itself_pairs(
    inviter: Node, site: DescriptorServer
) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    peer = FakePeer("Stadt X", site.url)
    site.make = lambda url: descriptor_of(peer)
    status, answer, _ = await post_pair(inviter, peer, pair_body(peer, code))
    assert status == 200, answer
    assert site.fetched == 1
    assert get_peer(inviter, peer.node_id)["url"] == site.url


async def test_finding_4_a_pull_only_invitee_is_not_fetched(inviter: Node) -> None:
    """A pull-only node cannot be reached; it is stored pull-only, and nothing is ever sent to its URL."""
    code = create_invitation(inviter, WEEK, by=ADMIN)
    peer = FakePeer("Stadt P", unreachable_url())
    status, answer, _ = await post_pair(inviter, peer, pair_body(peer, code, pull_only=True))
    assert status == 200, answer
    stored = get_peer(inviter, peer.node_id)
    assert (stored["url"], stored["pull_only"]) == (peer.url, True)


async def test_finding_4_a_repeat_is_answered_without_a_new_fetch(
    fed: Federation, inviter: Node, accepter: Node
) -> None:
    """The answer was lost: the repeat changes nothing, so there is nothing to check again."""
    code = create_invitation(inviter, WEEK, by=ADMIN)
    await accept_invitation(accepter, code, by=ADMIN)
    fetches = fed.requests.count((accepter.node_id, WELL_KNOWN))
    await accept_invitation(accepter, code, by=ADMIN)
    assert fed.requests.count((accepter.node_id, WELL_KNOWN)) == fetches


# --- finding 9: the invitation is checked before anything is written --------------------------


@pytest.mark.parametrize("state", ["unknown", "revoked", "expired", "used"])
async def test_finding_9_a_request_with_an_unusable_invitation_writes_nothing(
    inviter: Node, accepter: Node, state: str
) -> None:
    code = create_invitation(inviter, WEEK, by=ADMIN)
    if state == "revoked":
        revoke_invitation(inviter, 1, by=ADMIN)
    elif state == "expired":
        past = format_timestamp(datetime.now(UTC) - timedelta(seconds=1))
        inviter.db.execute("UPDATE invitations SET expires = ?", (past,))
    elif state == "used":
        await accept_invitation(accepter, code, by=ADMIN)
    stranger = FakePeer("Stadt X", unreachable_url())
    body = pair_body(stranger, code)
    if state == "unknown":
        body = canonical_bytes(pair_request(new_secret(), stranger.descriptor(), pull_only=False))
    before = everything(inviter)
    status, answer, _ = await post_pair(inviter, stranger, body)
    expect(status, answer, 401, "invitation unknown, used, revoked or expired")
    assert everything(inviter) == before
