"""Issue 11, item 7: a request that is not authenticated causes at most one outbound fetch per peer.

A request naming an unknown key id of a trusted peer makes the gate fetch that peer's descriptor (it
may have rotated). With a bogus signature anyone can send such requests; the fetches they cause are
limited to one per peer per node.exchange.gate.REFRESH_INTERVAL, counted on the wire at the peer.
"""

from __future__ import annotations

import aiohttp
import pytest

from node.exchange.received import list_inbox
from node.home import Node
from node.sharing.records import add_record
from node.sharing.shares import share_record
from node.trust.keyring import rotate_key
from node.trust.peers import get_peer
from node.users import ADMIN
from protocol.httpsig import HttpRequest, sign_request
from protocol.keys import NodeKey
from tests.node.federation import Federation


@pytest.fixture
async def fed(federation: Federation) -> Federation:
    a = await federation.add("augsburg")
    b = await federation.add("bonn")
    federation.pair(a, b)
    return federation


async def forged_get(target: Node, claimed: str) -> int:
    """GET the outbox of `target` signed by a stranger's key under `<claimed>#ed25519:7`; the status."""
    url = target.config.url + "/fed/v1/outbox?since=0"
    request = HttpRequest(method="GET", url=url, headers={})
    sign_request(request, b"", NodeKey.generate(7), claimed)
    async with aiohttp.ClientSession() as session, session.get(url, headers=request.headers) as answer:
        return answer.status


def descriptor_fetches(fed: Federation, at: Node) -> int:
    return fed.requests.count((at.node_id, "/.well-known/praevnet"))


async def test_unsigned_requests_naming_an_unknown_key_cause_one_fetch_at_most(fed: Federation) -> None:
    a, b = fed.nodes.values()
    statuses = [await forged_get(b, a.node_id) for _ in range(5)]
    assert statuses == [401] * 5
    assert descriptor_fetches(fed, a) == 1


async def test_a_genuine_rotation_is_still_followed_on_first_contact(fed: Federation) -> None:
    a, b = fed.nodes.values()
    rotate_key(a, by=ADMIN)  # not announced: b learns of it from a's next request
    record_id = add_record(a, "experience", {"title": "Begehung", "summary": "Mit Anwohnern."}, by=ADMIN)
    share_record(a, record_id, [b.node_id], all_peers=False, by=ADMIN)
    await fed.deliver(a)
    assert set(get_peer(b, a.node_id)["keys"]) == {"ed25519:2"}
    assert [e["id"] for e in list_inbox(b)] == [record_id]
