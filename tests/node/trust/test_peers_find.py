"""`find_peer` and `peer_id_of`: officers name peers by name (or its beginning) instead of 34-character ids."""

from __future__ import annotations

import pytest

from node.errors import NodeError, NotFound
from node.home import Node
from node.trust.peers import find_peer, peer_id_of
from tests.conftest import FakePeer
from tests.node.conftest import NodeFactory

NAMES = ("Stadt Bonn", "Stadt Bochum", "Bonn-Land", "Landeshauptstadt Düsseldorf", "Ulm", "Ulm-Neu")


@pytest.fixture
def node(make_node: NodeFactory) -> Node:
    return make_node("Stadt Augsburg")


@pytest.fixture
def peers(node: Node) -> dict[str, FakePeer]:
    return {name: FakePeer(name, "http://127.0.0.1:9").trusted_by(node) for name in NAMES}


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Stadt Bonn", "Stadt Bonn"),
        ("stadt bonn", "Stadt Bonn"),
        ("  STADT BONN ", "Stadt Bonn"),
        ("stadt bon", "Stadt Bonn"),
        ("stadt boc", "Stadt Bochum"),
        ("bonn-", "Bonn-Land"),
        ("düss", "Landeshauptstadt Düsseldorf"),  # the beginning of a word in the name
        ("DÜSSELDORF", "Landeshauptstadt Düsseldorf"),
        ("landesh", "Landeshauptstadt Düsseldorf"),
        ("neu", "Ulm-Neu"),
        ("ulm-", "Ulm-Neu"),
        ("boch", "Stadt Bochum"),
    ],
)
def test_a_peer_is_found_by_its_name_or_a_unique_beginning(
    node: Node, peers: dict[str, FakePeer], text: str, name: str
) -> None:
    found = find_peer(node, text)
    assert (found["name"], found["node_id"]) == (name, peers[name].node_id)
    assert peer_id_of(node, text) == peers[name].node_id


def test_a_peer_is_found_by_its_node_id_or_a_unique_beginning_of_it(node: Node, peers: dict[str, FakePeer]) -> None:
    for peer in peers.values():
        assert find_peer(node, peer.node_id)["name"] == peer.name
        assert peer_id_of(node, peer.node_id) == peer.node_id
        unique = next(
            peer.node_id[:length]
            for length in range(3, 35)
            if sum(other.node_id.startswith(peer.node_id[:length]) for other in peers.values()) == 1
        )
        assert find_peer(node, unique)["node_id"] == peer.node_id


@pytest.mark.parametrize(
    ("text", "candidates"),
    [
        ("stadt", ("Stadt Bonn", "Stadt Bochum")),
        ("stadt b", ("Stadt Bonn", "Stadt Bochum")),
        ("bo", ("Stadt Bonn", "Stadt Bochum", "Bonn-Land")),
        ("bonn", ("Stadt Bonn", "Bonn-Land")),  # the whole word of one, the beginning of another's name
        ("land", ("Bonn-Land", "Landeshauptstadt Düsseldorf")),
        ("ulm", ("Ulm", "Ulm-Neu")),  # a whole name that begins another's: never guessed
        ("pn", NAMES),
    ],
)
def test_an_ambiguous_name_lists_the_candidates(
    node: Node, peers: dict[str, FakePeer], text: str, candidates: tuple[str, ...]
) -> None:
    with pytest.raises(NodeError, match=f"'{text}' matches {len(candidates)} peers: ") as caught:
        find_peer(node, text)
    assert not isinstance(caught.value, NotFound)
    listed = str(caught.value).split(": ", 1)[1].split("; ")[0]
    assert sorted(listed.split(", ")) == sorted(f"{name} ({peers[name].node_id})" for name in candidates)
    assert "give more of the name, or the node id" in str(caught.value)


def test_a_peer_named_like_another_does_not_get_what_is_meant_for_it(node: Node, peers: dict[str, FakePeer]) -> None:
    FakePeer("Bonn", "http://127.0.0.1:9").trusted_by(node)  # a peer's descriptor may give any name
    with pytest.raises(NodeError, match="'bonn' matches 3 peers"):
        find_peer(node, "bonn")  # not the one whose whole name it is
    assert find_peer(node, "Stadt Bonn")["node_id"] == peers["Stadt Bonn"].node_id
    twin = FakePeer("Stadt Bonn", "http://127.0.0.1:9").trusted_by(node)
    with pytest.raises(NodeError, match="'stadt bonn' matches 2 peers") as caught:
        find_peer(node, "stadt bonn")
    assert twin.node_id in str(caught.value)
    assert peers["Stadt Bonn"].node_id in str(caught.value)


@pytest.mark.parametrize("text", ["Köln", "bonnx", "Stadt Bonn Nord", "pnzzzz", "*", "%", "_", "'; --"])
def test_an_unknown_name_lists_the_trusted_peers(node: Node, peers: dict[str, FakePeer], text: str) -> None:
    with pytest.raises(NotFound, match=f"{text!r} is not a trusted peer; trusted peers: ") as caught:
        find_peer(node, text)
    for name, peer in peers.items():
        assert f"{name} ({peer.node_id})" in str(caught.value)


def test_the_list_of_candidates_is_bounded(node: Node) -> None:
    for number in range(25):
        FakePeer(f"Gemeinde {number:02}", "http://127.0.0.1:9").trusted_by(node)
    with pytest.raises(NodeError, match=r"matches 25 peers: .* and 15 more \(see `praevnet peers list`\)") as caught:
        find_peer(node, "gemeinde")
    assert str(caught.value).count("Gemeinde") == 10


def test_without_peers_it_says_how_to_pair(node: Node) -> None:
    with pytest.raises(NotFound, match="there are none yet"):
        find_peer(node, "Bonn")


@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_an_empty_name_is_refused(node: Node, peers: dict[str, FakePeer], text: str) -> None:
    with pytest.raises(NodeError, match="give a peer's name or node id"):
        find_peer(node, text)


def test_a_well_formed_node_id_passes_even_if_no_peer_has_it(node: Node, peers: dict[str, FakePeer]) -> None:
    stranger = FakePeer("Stadt Fremd", "http://127.0.0.1:9").node_id
    assert peer_id_of(node, stranger) == stranger  # the operation says what it needs (e.g. a network member)
    with pytest.raises(NotFound):
        find_peer(node, stranger)
