"""Peering statements pushed to the members at once; the peered operator's fetch of the other network's
revocation list; the peerings endpoint over HTTP.

The world of test_peering: XO operates X (Brandenburg) with member XA; YO operates Y (Sachsen) with
member YB. Every hostile request is refused with a 4xx naming the reason, and nothing is stored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from node.home import Node
from node.networks.operator import revoke_member
from node.networks.peering import list_peerings, network_card, peer_network, unpeer_and_push
from node.networks.registry import load_network_key, resolve_network
from node.networks.sync import refresh_network
from node.transport.client import HttpFailure, new_session, signed_request
from node.trust.peers import get_peer
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from protocol.encoding import b64url
from protocol.keys import fingerprint
from protocol.peering import issue_peering
from protocol.tlp import CLEAR
from tests.node.networks.test_hubs import push
from tests.node.networks.test_peering import YEAR, Peered, crossing_from_xo, refused_at, share_in_x, world
from tests.node.networks.test_push import push_raw
from tests.node.networks.test_push import refused as check_refused

__all__ = ["world"]


async def request(sender: Node, receiver: Node, method: str, path: str, body: Any = None) -> Any:
    """A signed request from `sender` to `receiver` (known to it or not); the answer or the HTTP failure."""
    known = sender.db.execute("SELECT 1 FROM peers WHERE node_id = ?", (receiver.node_id,)).fetchone()
    target = get_peer(sender, receiver.node_id) if known else {"node_id": receiver.node_id, "url": receiver.config.url}
    async with new_session(sender) as session:
        try:
            return await signed_request(sender, session, target, method, path, body)
        except HttpFailure as exc:
            return exc


def refused(answer: object, status: int, *words: str) -> str:
    """The failure's text, after checking that `answer` is an HTTP failure with `status` naming `words`."""
    check_refused(answer, status, *words)
    return str(answer)


def held(node: Node) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in node.db.execute("SELECT * FROM peerings ORDER BY network, peer_network")]


def state_at(node: Node) -> list[str]:
    return [item["state"] for item in list_peerings(node)]


def peerings_path(network: str) -> str:
    return f"/fed/v1/networks/{network}/peerings"


# --- item: withdrawals and renewals reach the members at once -------------------------------------------


async def test_after_unpeer_a_member_refuses_a_crossed_record_without_a_refresh(world: Peered) -> None:
    w = world
    crossed = crossing_from_xo(w, await share_in_x(w, CLEAR))
    relayed = json.loads(json.dumps(crossed))  # as YO would pass it on to YB
    withdrawn = await unpeer_and_push(w.yo, "Sachsen", w.x, by=ADMIN)
    assert withdrawn["push"]["pushed"] == [w.yb.node_id]
    assert withdrawn["push"]["failed"] == []
    assert state_at(w.yb) == ["withdrawn"]  # no refresh happened
    assert "withdrawn" in await refused_at(w, w.yo, w.yb, relayed)
    assert "network.push" in [row[0] for row in w.yo.db.execute("SELECT action FROM audit")]
    # X's operator withdraws too: its member XA learns it at once.
    assert (await unpeer_and_push(w.xo, "Brandenburg", w.y, by=ADMIN))["push"]["pushed"] == [w.xa.node_id]
    assert state_at(w.xa) == ["withdrawn"]


async def test_a_renewed_statement_is_pushed_and_crossing_resumes(world: Peered) -> None:
    w = world
    await unpeer_and_push(w.yo, "Sachsen", w.x, by=ADMIN)
    serial = held(w.yb)[0][7]
    card = w.base / "x-again.card"
    card.write_bytes(canonical_bytes(network_card(w.xo)))
    renewed = await peer_network(
        w.yo, "Sachsen", str(card), fingerprint(load_network_key(w.xo, w.x).public), lifetime=YEAR, by=ADMIN
    )
    assert renewed["push"]["pushed"] == [w.yb.node_id]
    assert held(w.yb)[0][7] > serial
    assert state_at(w.yb) == ["current"]
    crossed = crossing_from_xo(w, await share_in_x(w, CLEAR))
    (answer,) = await push(w.yo, w.yb, [crossed])
    assert answer["status"] == "accepted"


async def test_an_unreachable_member_learns_of_the_withdrawal_at_its_refresh(world: Peered) -> None:
    w = world
    real = w.yb.config.url
    w.yo.db.execute("UPDATE peers SET url = 'http://127.0.0.1:9' WHERE node_id = ?", (w.yb.node_id,))
    report = (await unpeer_and_push(w.yo, "Sachsen", w.x, by=ADMIN))["push"]
    assert report["pushed"] == []
    assert [item["node_id"] for item in report["failed"]] == [w.yb.node_id]
    assert state_at(w.yb) == ["current"]
    w.yo.db.execute("UPDATE peers SET url = ? WHERE node_id = ?", (real, w.yb.node_id))
    async with new_session(w.yb) as session:
        await refresh_network(w.yb, session, w.y)
    assert state_at(w.yb) == ["withdrawn"]


async def test_hostile_pushes_of_statements_are_refused_and_nothing_is_stored(world: Peered) -> None:
    w = world
    before = held(w.yb)
    y_key, x_public = load_network_key(w.yo, w.y), load_network_key(w.xo, w.x).public
    path = peerings_path(w.y)
    newer = issue_peering(y_key, peer_key=x_public, labels=(), not_before=_now(), expires=_later(), serial=40)
    # Not Y's operator: XO, once YB trusts it (it is X's operator), and a stranger nobody trusts.
    w.fed.pair(w.xo, w.yb)
    refused(await request(w.xo, w.yb, "POST", path, newer), 403, "only the operator")
    stranger = await w.fed.add("STRANGER")
    refused(await request(stranger, w.yb, "POST", path, newer), 401)
    # From the operator, but not acceptable:
    by_node_key = issue_peering(w.yo.key, peer_key=x_public, not_before=_now(), expires=_later(), serial=41)
    refused(await request(w.yo, w.yb, "POST", path, by_node_key), 400, "is for network")
    signed_by_node = dict(newer) | {"signature": by_node_key["signature"]}
    refused(await request(w.yo, w.yb, "POST", path, signed_by_node), 400, "signature")
    altered = dict(newer) | {"labels": [CLEAR]}  # a withdrawal turned back into a peering
    refused(await request(w.yo, w.yb, "POST", path, altered), 400, "signature")
    x_statement = json.loads(w.xo.db.execute("SELECT statement FROM peerings").fetchone()[0])
    refused(await request(w.yo, w.yb, "POST", path, x_statement), 400, "is for network")
    refused(await request(w.yo, w.yb, "POST", peerings_path(w.x), newer), 404)
    refused(await request(w.yo, w.yb, "POST", path + "?x=1", newer), 400, "query")
    assert await push_raw(w.yo, w.yb, path, b"{not json") == 400
    assert await push_raw(w.yo, w.yb, path, b"[]") == 400
    assert held(w.yb) == before
    # A genuine newer statement is taken; the older one replayed afterwards is a rollback.
    older = json.loads(before[0][6])
    assert (await request(w.yo, w.yb, "POST", path, newer))["serial"] == 40
    refused(await request(w.yo, w.yb, "POST", path, older), 400, "rolled back")
    assert state_at(w.yb) == ["withdrawn"]
    assert (await request(w.yo, w.yb, "POST", path, newer))["serial"] == 40  # the same again changes nothing


def _now() -> datetime:
    return datetime.now(UTC)


def _later() -> datetime:
    return _now() + YEAR


# --- item: the peered operator fetches X's revocation list at refresh --------------------------------------


async def refresh_yo(w: Peered) -> dict[str, Any]:
    async with new_session(w.yo) as session:
        return await refresh_network(w.yo, session, w.y)


def yo_holds(w: Peered) -> int:
    return int(w.yo.db.execute("SELECT revocations_version FROM peerings").fetchone()[0])


async def test_the_peered_operator_fetches_the_revocation_list_at_refresh(world: Peered) -> None:
    w = world
    assert (await refresh_yo(w))["refused"] == []
    first = yo_holds(w)
    assert first >= 1
    old_list = resolve_network(w.xo, w.x)["revocations"]
    revoke_member(w.xo, w.xa.node_id, by=ADMIN)
    assert (await refresh_yo(w))["refused"] == []
    assert yo_holds(w) == first + 1
    held_list = w.yo.db.execute("SELECT revocations FROM peerings").fetchone()[0]
    assert w.xa.node_id in held_list
    # XO serving an older list (rollback) or a forged one changes nothing at YO, and is reported.
    w.xo.db.execute("UPDATE networks SET revocations = ? WHERE id = ?", (old_list, w.x))
    (refusal,) = (await refresh_yo(w))["refused"]
    assert refusal["node_id"] == f"peering {w.x}"
    assert "rolled back" in refusal["reason"]
    forged = json.loads(held_list) | {"version": first + 5}
    w.xo.db.execute("UPDATE networks SET revocations = ? WHERE id = ?", (json.dumps(forged), w.x))
    (refusal,) = (await refresh_yo(w))["refused"]
    assert "signature" in refusal["reason"]
    other = json.loads(resolve_network(w.yo, w.y)["revocations"])  # Y's own list, signed by Y's key
    w.xo.db.execute("UPDATE networks SET revocations = ? WHERE id = ?", (json.dumps(other), w.x))
    assert len((await refresh_yo(w))["refused"]) == 1
    assert yo_holds(w) == first + 1
    assert w.yo.db.execute("SELECT revocations FROM peerings").fetchone()[0] == held_list


# --- item: the peerings and revocations endpoints over HTTP ----------------------------------------------


async def test_the_peerings_endpoint_answers_current_members_only(world: Peered) -> None:
    w = world
    path = f"/fed/v1/networks/{w.y}/peerings"
    statement = w.yo.db.execute("SELECT statement FROM peerings").fetchone()[0]
    secret_bits = [json.loads(statement)["signature"], json.loads(statement)["peer_key"]]
    answer = await request(w.yb, w.yo, "GET", path)
    assert isinstance(answer, dict)
    assert [s["serial"] for s in answer["peerings"]] == [json.loads(statement)["serial"]]
    # XO: a trusted (paired) peer of YO and operator of the peered network, but no member of Y.
    failure = refused(await request(w.xo, w.yo, "GET", path), 403, "not a current member")
    # XA: a member of X that YO does not know; a stranger likewise.
    failures = [failure, refused(await request(w.xa, w.yo, "GET", path), 401)]
    stranger = await w.fed.add("STRANGER")
    failures.append(refused(await request(stranger, w.yo, "GET", path), 401))
    # A member of Y that was revoked is refused too.
    revoke_member(w.yo, w.yb.node_id, by=ADMIN)
    failures.append(refused(await request(w.yb, w.yo, "GET", path), 401))
    for failed in failures:
        assert not any(bit in str(failed) for bit in secret_bits)
        assert b64url(load_network_key(w.xo, w.x).public) not in str(failed)


async def test_the_revocations_endpoint_answers_the_peered_operator_and_nobody_else_outside(world: Peered) -> None:
    w = world
    path = f"/fed/v1/networks/{w.x}/revocations"
    answer = await request(w.yo, w.xo, "GET", path)
    assert isinstance(answer, dict)
    assert answer["network"] == w.x
    refused(await request(w.yb, w.xo, "GET", path), 401)  # a member of Y: XO does not know it
    w.fed.pair(w.yb, w.xo)
    refused(await request(w.yb, w.xo, "GET", path), 403, "not a current member")  # paired, but no member
    await unpeer_and_push(w.xo, "Brandenburg", w.y, by=ADMIN)
    failed = refused(await request(w.yo, w.xo, "GET", path), 403, "not a current member")
    assert '"revoked"' not in str(failed)


async def test_the_peerings_endpoint_is_not_served_by_a_member(world: Peered) -> None:
    w = world
    refused(await request(w.yo, w.yb, "GET", f"/fed/v1/networks/{w.y}/peerings"), 404)
