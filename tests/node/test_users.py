"""Local users: roles and capabilities, validation, password and token login, and how secrets are stored."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from node import audit
from node.errors import NodeError, NotFound
from node.home import Node
from node.users import (
    ADMIN,
    NODE,
    ROLES,
    Actor,
    add_user,
    disable_user,
    issue_token,
    list_users,
    login_password,
    login_token,
    reset_token,
)

PASSWORD = "correct horse battery"
NodeFactory = Callable[..., Node]


def users_rows(node: Node) -> list[tuple[Any, ...]]:
    """Every row of the users table, as stored."""
    return [tuple(row) for row in node.db.execute("SELECT * FROM users ORDER BY name").fetchall()]


@pytest.fixture
def node(make_node: NodeFactory) -> Node:
    """A node with one user of each role: olga (officer), anton (approver), ada (admin)."""
    node = make_node()
    add_user(node, "olga", "officer", PASSWORD, by=ADMIN)
    add_user(node, "anton", "approver", PASSWORD, by=ADMIN)
    add_user(node, "ada", "admin", PASSWORD, by=ADMIN)
    return node


# --- roles and capabilities -------------------------------------------------------------------

MATRIX = {
    "officer": {"author": True, "release": False, "manage_users": False},
    "approver": {"author": True, "release": True, "manage_users": False},
    "admin": {"author": True, "release": True, "manage_users": True},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("capability", ["author", "release", "manage_users"])
def test_capability_matrix(role: str, capability: str) -> None:
    actor = Actor("someone", role)
    assert actor.may(capability) is MATRIX[role][capability]
    if MATRIX[role][capability]:
        actor.require(capability)
    else:
        with pytest.raises(NodeError) as caught:
            actor.require(capability)
        message = str(caught.value)
        assert "'someone'" in message
        assert role in message
        assert "\n" not in message


def test_refusal_names_user_role_and_what_is_needed() -> None:
    with pytest.raises(
        NodeError, match=r"^user 'olga' \(officer\) may not release shares; that needs the approver role$"
    ):
        Actor("olga", "officer").require("release")
    with pytest.raises(NodeError, match=r"user 'anton' \(approver\) may not manage users; that needs the admin role"):
        Actor("anton", "approver").require("manage_users")


def test_unknown_capability_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="capability"):
        ADMIN.may("fly")


def test_builtin_actors() -> None:
    assert Actor("admin", "admin", builtin=True) == ADMIN
    assert Actor("node", "admin", builtin=True) == NODE
    for actor in (ADMIN, NODE):
        assert actor.may("author")
        assert not actor.may("release")  # releasing is a named person's decision (#11, finding 5)
        assert actor.may("manage_users")
        with pytest.raises(NodeError, match=rf"^the node's built-in {actor.name} may not release shares"):
            actor.require("release")


# --- add_user ---------------------------------------------------------------------------------


def test_add_and_list_users(node: Node) -> None:
    users = list_users(node)
    assert [user["name"] for user in users] == ["ada", "anton", "olga"]
    for user in users:
        assert set(user) == {"name", "role", "created", "disabled", "has_token", "language"}
        assert user["disabled"] is False
        assert user["has_token"] is False
    assert {user["name"]: user["role"] for user in users} == {"ada": "admin", "anton": "approver", "olga": "officer"}


def test_add_user_returns_the_new_user(make_node: NodeFactory) -> None:
    node = make_node()
    created = add_user(node, "b.meier-2", "approver", PASSWORD, by=ADMIN)
    assert created["name"] == "b.meier-2"
    assert created["role"] == "approver"
    assert created["created"].endswith("Z")


def test_a_local_admin_may_add_users(node: Node) -> None:
    ada = login_password(node, "ada", PASSWORD)
    add_user(node, "neu", "officer", PASSWORD, by=ada)
    assert "neu" in [user["name"] for user in list_users(node)]


@pytest.mark.parametrize(
    ("name", "role", "password", "by", "needle"),
    [
        ("Olga", "officer", PASSWORD, ADMIN, "not a valid user name"),
        ("1olga", "officer", PASSWORD, ADMIN, "not a valid user name"),
        ("o", "officer", PASSWORD, ADMIN, "not a valid user name"),
        ("o" * 33, "officer", PASSWORD, ADMIN, "not a valid user name"),
        ("ol ga", "officer", PASSWORD, ADMIN, "not a valid user name"),
        ("olga\n", "officer", PASSWORD, ADMIN, "not a valid user name"),
        ("", "officer", PASSWORD, ADMIN, "not a valid user name"),
        ("admin", "officer", PASSWORD, ADMIN, "reserved"),
        ("node", "admin", PASSWORD, ADMIN, "reserved"),
        ("olga", "approver", PASSWORD, ADMIN, "already exists"),
        ("neu", "officer", "elevenchars", ADMIN, "at least 12 characters"),
        ("neu", "officer", "", ADMIN, "at least 12 characters"),
        ("neu", "superuser", PASSWORD, ADMIN, "unknown role"),
        ("neu", "officer", PASSWORD, Actor("olga", "officer"), "may not manage users"),
        ("neu", "officer", PASSWORD, Actor("anton", "approver"), "may not manage users"),
    ],
)
def test_add_user_refusals_leave_the_users_table_unchanged(
    node: Node, name: str, role: str, password: str, by: Actor, needle: str
) -> None:
    before = users_rows(node)
    with pytest.raises(NodeError, match=needle):
        add_user(node, name, role, password, by=by)
    assert users_rows(node) == before


def test_twelve_characters_are_enough(make_node: NodeFactory) -> None:
    node = make_node()
    add_user(node, "kurz", "officer", "x" * 12, by=ADMIN)
    assert login_password(node, "kurz", "x" * 12).name == "kurz"


# --- how passwords are stored -----------------------------------------------------------------


@pytest.mark.password_cost
def test_passwords_are_salted_scrypt_hashes(node: Node) -> None:
    stored = dict(node.db.execute("SELECT name, password FROM users").fetchall())
    for value in stored.values():
        assert PASSWORD not in value
        parts = value.split("$")
        assert parts[:4] == ["scrypt", "16384", "8", "1"]
        assert len(parts) == 6
    assert stored["olga"] != stored["anton"]  # same password, different salt
    assert len(set(stored.values())) == 3


# --- password login ---------------------------------------------------------------------------


def test_password_login(node: Node) -> None:
    assert login_password(node, "olga", PASSWORD) == Actor("olga", "officer")
    assert login_password(node, "anton", PASSWORD) == Actor("anton", "approver")
    assert login_password(node, "ada", PASSWORD) == Actor("ada", "admin")
    assert login_password(node, "ada", PASSWORD).builtin is False


def test_wrong_password_and_unknown_user_get_the_same_message(node: Node) -> None:
    messages = []
    for name, password in [("olga", PASSWORD + "!"), ("olga", ""), ("nobody", PASSWORD), ("admin", PASSWORD)]:
        with pytest.raises(NodeError) as caught:
            login_password(node, name, password)
        messages.append(str(caught.value))
    assert set(messages) == {"unknown user or wrong password"}


def test_disabled_user_cannot_log_in(node: Node) -> None:
    disable_user(node, "olga", by=ADMIN)
    with pytest.raises(NodeError, match="disabled"):
        login_password(node, "olga", PASSWORD)
    with pytest.raises(NodeError, match=r"^unknown user or wrong password$"):
        login_password(node, "olga", "not the password")
    assert [user["disabled"] for user in list_users(node) if user["name"] == "olga"] == [True]


def test_disable_refusals(node: Node) -> None:
    before = users_rows(node)
    with pytest.raises(NodeError, match="may not manage users"):
        disable_user(node, "anton", by=Actor("olga", "officer"))
    with pytest.raises(NotFound, match="no user 'nobody'"):
        disable_user(node, "nobody", by=ADMIN)
    assert users_rows(node) == before
    disable_user(node, "anton", by=ADMIN)
    with pytest.raises(NodeError, match="already disabled"):
        disable_user(node, "anton", by=ADMIN)


# --- tokens -----------------------------------------------------------------------------------


def own_token(node: Node, name: str) -> str:
    """A new token for `name`, issued by that user after a password login."""
    return issue_token(node, name, by=login_password(node, name, PASSWORD))


def test_token_login(node: Node) -> None:
    token = own_token(node, "olga")
    assert token.startswith("pvt_")
    assert len(token) > 40
    assert login_token(node, "olga", token) == Actor("olga", "officer")
    assert [user["has_token"] for user in list_users(node) if user["name"] == "olga"] == [True]


def test_only_the_tokens_hash_is_stored(node: Node) -> None:
    token = own_token(node, "olga")
    dump = "\n".join(node.db.conn.iterdump())
    assert token not in dump
    assert token.removeprefix("pvt_") not in dump
    (stored,) = node.db.execute("SELECT token_hash FROM users WHERE name = 'olga'").fetchone()
    assert stored == hashlib.sha256(token.encode()).hexdigest()


def test_wrong_token_other_users_token_and_unknown_user_are_refused(node: Node) -> None:
    olga = own_token(node, "olga")
    anton = own_token(node, "anton")
    for name, token in [("olga", olga + "x"), ("olga", anton), ("anton", olga), ("nobody", olga), ("ada", olga)]:
        with pytest.raises(NodeError, match=r"^unknown user or wrong token$"):
            login_token(node, name, token)
    with pytest.raises(NodeError, match="wrong token"):
        login_token(node, "olga", "")


def test_reissuing_a_token_invalidates_the_old_one(node: Node) -> None:
    old = own_token(node, "olga")
    olga = login_token(node, "olga", old)
    new = issue_token(node, "olga", by=olga)  # a user may renew their own token
    assert new != old
    with pytest.raises(NodeError, match="wrong token"):
        login_token(node, "olga", old)
    assert login_token(node, "olga", new).name == "olga"


@pytest.mark.parametrize(
    ("name", "by"),
    [
        ("anton", Actor("olga", "officer")),
        ("ada", Actor("anton", "approver")),
        ("olga", Actor("ada", "admin")),  # an administrator neither
        ("olga", ADMIN),
        ("olga", NODE),
        ("admin", ADMIN),
        ("nobody", ADMIN),
    ],
)
def test_four_eyes_through_the_builtin_administrator_a_token_is_shown_only_to_its_user(
    node: Node, name: str, by: Actor
) -> None:
    before = users_rows(node)
    with pytest.raises(NodeError, match=rf"may not get a token for '{name}'; a token is shown only to its own user"):
        issue_token(node, name, by=by)
    assert users_rows(node) == before
    assert [entry for entry in audit.list_entries(node) if entry["action"].startswith("user.token")] == []


def test_who_may_issue_tokens(node: Node) -> None:
    issue_token(node, "olga", by=Actor("olga", "officer"))
    issue_token(node, "ada", by=login_password(node, "ada", PASSWORD))


def test_four_eyes_through_the_builtin_administrator_a_reset_is_audited_and_kills_the_token(node: Node) -> None:
    old = own_token(node, "anton")
    reset_token(node, "anton", by=ADMIN)
    with pytest.raises(NodeError, match=r"^unknown user or wrong token$"):
        login_token(node, "anton", old)
    assert [user["has_token"] for user in list_users(node) if user["name"] == "anton"] == [False]
    [entry] = [entry for entry in audit.list_entries(node) if entry["action"] == "user.token.reset"]
    assert (entry["user"], entry["detail"]) == ("admin", "anton")
    new = own_token(node, "anton")  # anton gets a new one with his password; nobody else saw it
    assert login_token(node, "anton", new).name == "anton"
    reset_token(node, "anton", by=login_password(node, "ada", PASSWORD))  # a local admin may reset too
    with pytest.raises(NodeError, match="wrong token"):
        login_token(node, "anton", new)


@pytest.mark.parametrize(
    ("name", "by", "needle"),
    [
        ("anton", Actor("olga", "officer"), "may not manage users"),
        ("olga", Actor("anton", "approver"), "may not manage users"),
        ("nobody", ADMIN, "no user 'nobody'"),
        ("admin", ADMIN, "no user 'admin'"),
    ],
)
def test_reset_token_refusals_change_nothing(node: Node, name: str, by: Actor, needle: str) -> None:
    own_token(node, "olga")
    own_token(node, "anton")
    before = users_rows(node)
    audited = audit.list_entries(node)
    with pytest.raises(NodeError, match=needle):
        reset_token(node, name, by=by)
    assert users_rows(node) == before
    assert audit.list_entries(node) == audited


def test_disabling_kills_the_token(node: Node) -> None:
    token = own_token(node, "olga")
    olga = login_token(node, "olga", token)
    disable_user(node, "olga", by=ADMIN)
    with pytest.raises(NodeError):
        login_token(node, "olga", token)
    with pytest.raises(NodeError, match="disabled"):
        issue_token(node, "olga", by=olga)
