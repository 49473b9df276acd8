"""TLP 2.0 labels: the five labels, parsing, the scopes a label allows, and who may forward it."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.errors import SchemaError
from protocol.tlp import (
    AMBER,
    AMBER_STRICT,
    CLEAR,
    DEFAULT,
    GREEN,
    LABELS,
    RED,
    Scope,
    check_label,
    may_forward,
    parse_label,
    scope_allowed,
    scope_refusal,
)

SCOPES: tuple[Scope, ...] = ("named", "all-peers", "network")

# --- the labels -------------------------------------------------------------------------------


def test_labels_are_the_five_of_tlp_2() -> None:
    assert LABELS == ("TLP:RED", "TLP:AMBER+STRICT", "TLP:AMBER", "TLP:GREEN", "TLP:CLEAR")
    assert (RED, AMBER_STRICT, AMBER, GREEN, CLEAR) == LABELS
    assert DEFAULT == AMBER


@pytest.mark.parametrize("label", LABELS)
def test_check_label_accepts_each_label(label: str) -> None:
    assert check_label(label) == label


@pytest.mark.parametrize(
    "text",
    [
        "TLP:WHITE",  # TLP 1.0; TLP 2.0 calls it CLEAR
        "WHITE",
        "tlp:red",
        "Tlp:Red",
        "RED",
        "red",
        "TLP:RED ",
        " TLP:RED",
        "TLP:RED\n",
        "TLP: RED",
        "TLP:AMBER STRICT",
        "TLP:AMBER-STRICT",
        "TLP:AMBER+",
        "TLP:",
        "",
        None,
        1,
        True,
        ["TLP:RED"],
        {"TLP:RED": 1},
    ],
)
def test_check_label_refuses_everything_else(text: Any) -> None:
    with pytest.raises(SchemaError, match="must be one of TLP:RED, TLP:AMBER\\+STRICT, TLP:AMBER") as info:
        check_label(text)
    assert info.value.field == "tlp"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("red", RED),
        ("RED", RED),
        ("Red", RED),
        ("TLP:RED", RED),
        ("tlp:red", RED),
        ("  red\n", RED),
        ("amber+strict", AMBER_STRICT),
        ("AMBER+STRICT", AMBER_STRICT),
        ("TLP:AMBER+STRICT", AMBER_STRICT),
        ("amber", AMBER),
        ("tlp:amber", AMBER),
        ("green", GREEN),
        ("TLP:GREEN", GREEN),
        ("clear", CLEAR),
        ("Tlp:Clear", CLEAR),
    ],
)
def test_parse_label_accepts_what_people_type(text: str, label: str) -> None:
    assert parse_label(text) == label


@pytest.mark.parametrize(
    "text",
    ["white", "TLP:WHITE", "amber strict", "amber-strict", "amberstrict", "", " ", "TLP:", "tlp:tlp:red", "r", "redd"],
)
def test_parse_label_refuses_unknown_labels(text: str) -> None:
    with pytest.raises(SchemaError, match="must be one of") as info:
        parse_label(text)
    assert info.value.field == "tlp"


@pytest.mark.parametrize("label", LABELS)
def test_parse_label_is_idempotent(label: str) -> None:
    assert parse_label(parse_label(label)) == label
    assert parse_label(label.removeprefix("TLP:").lower()) == label


# --- scopes: where the origin may share a label ------------------------------------------------

SCOPE_TABLE: dict[str, dict[Scope, bool]] = {
    RED: {"named": True, "all-peers": False, "network": False},
    AMBER_STRICT: {"named": True, "all-peers": True, "network": True},
    AMBER: {"named": True, "all-peers": True, "network": True},
    GREEN: {"named": True, "all-peers": True, "network": True},
    CLEAR: {"named": True, "all-peers": True, "network": True},
}


def test_scope_table_covers_every_label_and_scope() -> None:
    assert set(SCOPE_TABLE) == set(LABELS)
    assert all(set(row) == set(SCOPES) for row in SCOPE_TABLE.values())


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("scope", SCOPES)
def test_scope_allowed(label: str, scope: Scope) -> None:
    assert scope_allowed(label, scope) is SCOPE_TABLE[label][scope]


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("scope", SCOPES)
def test_scope_refusal_agrees_with_scope_allowed(label: str, scope: Scope) -> None:
    refusal = scope_refusal(label, scope)
    if SCOPE_TABLE[label][scope]:
        assert refusal is None
    else:
        assert refusal == f"{label} goes only to named recipients (--to NODE_ID), never to {scope}"


@pytest.mark.parametrize("scope", ["all-peers", "network"])
def test_red_refusal_names_the_scope(scope: Scope) -> None:
    refusal = scope_refusal(RED, scope)
    assert refusal is not None
    assert "TLP:RED" in refusal
    assert scope in refusal


# --- forwarding: what a receiver may pass on --------------------------------------------------

# (shared_in, forward_in): the network the envelope was shared in, and the network it would be
# forwarded into; None means no network (a direct share, or a peer outside any network).
NETWORKS: tuple[tuple[str | None, str | None], ...] = (
    (None, None),
    ("net-a", "net-a"),
    ("net-a", "net-b"),
    ("net-a", None),
    (None, "net-a"),
)
FORWARD_TABLE: dict[str, tuple[bool, ...]] = {
    RED: (False, False, False, False, False),
    AMBER_STRICT: (False, False, False, False, False),
    AMBER: (False, False, False, False, False),
    GREEN: (False, True, False, False, False),
    CLEAR: (True, True, True, True, True),
}


def test_forward_table_covers_every_label() -> None:
    assert set(FORWARD_TABLE) == set(LABELS)
    assert all(len(row) == len(NETWORKS) for row in FORWARD_TABLE.values())


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("networks", range(len(NETWORKS)))
def test_may_forward(label: str, networks: int) -> None:
    shared_in, forward_in = NETWORKS[networks]
    assert may_forward(label, shared_in=shared_in, forward_in=forward_in) is FORWARD_TABLE[label][networks]


def test_only_clear_may_be_forwarded_outside_a_network() -> None:
    # Until networks exist, a receiver of a relayed envelope accepts CLEAR only.
    assert [label for label in LABELS if may_forward(label, shared_in=None, forward_in=None)] == [CLEAR]


@pytest.mark.parametrize("label", ["TLP:WHITE", "clear", "green", "", "TLP:CLEAR "])
def test_unknown_label_is_never_forwarded(label: str) -> None:
    for shared_in, forward_in in NETWORKS:
        assert not may_forward(label, shared_in=shared_in, forward_in=forward_in)


def test_every_forwardable_label_may_also_go_to_all_peers() -> None:
    # A label that a receiver may pass on is never one that its origin had to keep to named recipients.
    for label in LABELS:
        if any(may_forward(label, shared_in=s, forward_in=f) for s, f in NETWORKS):
            assert all(scope_allowed(label, scope) for scope in SCOPES)
