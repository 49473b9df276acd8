"""`praevnet users passwd NAME`: an administrator sets anyone's password, a user their own; asked twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from node import audit
from node.errors import NodeError
from node.home import Node
from node.users import login_password
from tests.cli.conftest import snapshot
from tests.cli.test_users_cli import PASSWORD, add, failed, issue, run

NEW = "ein neues langes passwort"


def password_of(home: Path, name: str, password: str) -> bool:
    """Whether `password` is `name`'s password now."""
    node = Node.open(home)
    try:
        login_password(node, name, password)
    except NodeError:
        return False
    finally:
        node.close()
    return True


def last_entry(home: Path) -> dict[str, object]:
    node = Node.open(home)
    try:
        return audit.list_entries(node, limit=1)[0]
    finally:
        node.close()


@pytest.fixture
def users(home: Path) -> Path:
    """The home with olga (officer) and ada (admin), both with PASSWORD."""
    assert add(home, "olga", "officer").exit_code == 0
    assert add(home, "ada", "admin").exit_code == 0
    return home


def test_the_administrator_sets_a_password_typed_twice(users: Path) -> None:
    result = run("users", "passwd", "olga", "--home", str(users), stdin=f"{NEW}\n{NEW}\n")
    assert result.exit_code == 0, result.output
    assert "set a new password for olga" in result.stdout
    assert NEW not in result.output
    assert password_of(users, "olga", NEW)
    assert not password_of(users, "olga", PASSWORD)
    entry = last_entry(users)
    assert (entry["user"], entry["action"], entry["detail"]) == ("admin", "user.password", "olga")


def test_a_named_administrator_sets_another_users_password(users: Path) -> None:
    token = issue(users, "ada")
    args = ("users", "passwd", "olga", "--user", "ada", "--password-stdin", "--home", str(users))
    result = run(*args, token=token, stdin=f"{NEW}\n")
    assert result.exit_code == 0, result.output
    assert password_of(users, "olga", NEW)
    assert last_entry(users)["user"] == "ada"


def test_a_user_sets_their_own_password(users: Path) -> None:
    token = issue(users, "olga")
    result = run(
        "users", "passwd", "olga", "--user", "olga", "--home", str(users), token=token, stdin=f"{NEW}\n{NEW}\n"
    )
    assert result.exit_code == 0, result.output
    assert password_of(users, "olga", NEW)
    entry = last_entry(users)
    assert (entry["user"], entry["action"], entry["detail"]) == ("olga", "user.password", "olga")


def test_two_different_entries_change_nothing(users: Path) -> None:
    before = snapshot(users)
    result = run("users", "passwd", "olga", "--home", str(users), stdin=f"{NEW}\n{NEW}x\n")
    assert result.exit_code != 0
    assert snapshot(users) == before
    assert password_of(users, "olga", PASSWORD)


def test_refusals_are_one_line_and_change_nothing(users: Path) -> None:
    olga = issue(users, "olga")
    before = snapshot(users)
    home = str(users)
    others = run("users", "passwd", "ada", "--user", "olga", "--home", home, token=olga, stdin=f"{NEW}\n{NEW}\n")
    failed(others, "may not manage users")
    unknown = run("users", "passwd", "niemand", "--home", home, stdin=f"{NEW}\n{NEW}\n")
    failed(unknown, "no user 'niemand'")
    for refused in (others, unknown):
        assert "New password" not in refused.output  # refused before anyone types a password
    failed(run("users", "passwd", "olga", "--password-stdin", "--home", home, stdin="kurz\n"), "at least 12")
    failed(run("users", "passwd", "olga", "--password-stdin", "--home", home, stdin=""), "no password")
    wrong_token = run("users", "passwd", "olga", "--user", "olga", "--home", home, token="pvt_falsch", stdin=f"{NEW}\n")
    failed(wrong_token, "wrong token")
    assert snapshot(users) == before
    assert password_of(users, "olga", PASSWORD)
