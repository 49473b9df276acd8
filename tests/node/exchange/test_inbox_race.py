"""A transaction stored meanwhile (two requests racing with one txn id) is answered as stored, once."""

from __future__ import annotations

from node.exchange.inbox import admit_and_store
from node.trust.peer_keys import KeyBook
from protocol.batch import verify_each
from tests.conftest import FakePeer
from tests.node.conftest import NodeFactory, count


def test_a_transaction_stored_meanwhile_is_answered_as_stored(make_node: NodeFactory) -> None:
    node = make_node("Stadt A")
    peer = FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
    envelopes = [peer.envelope()]
    checked = verify_each(envelopes, KeyBook.load(node.db.conn).resolve)
    first = admit_and_store(node, peer.node_id, envelopes, checked, "t1")
    again = admit_and_store(node, peer.node_id, envelopes, checked, "t1")  # a second request racing the first
    assert again == first
    assert first["results"][0]["status"] == "accepted"
    assert (count(node, "inbox"), count(node, "inbound_txns")) == (1, 1)
