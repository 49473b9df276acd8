"""`praevnet users ...` and `--user`: adding users, tokens for scripts, and who the CLI acts as."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from cli.common import acting_user
from cli.main import main
from node.errors import NodeError
from node.home import Node
from node.users import ADMIN, Actor, issue_token, login_password
from tests.cli.conftest import ok, ok_json, snapshot

PASSWORD = "correct horse battery"


def run(*args: str, token: str | None = None, stdin: str | None = None) -> Result:
    """Run `praevnet ARGS` with PRAEVNET_TOKEN set to `token` (or unset) and `stdin` as standard input."""
    env = {"PRAEVNET_HOME": None, "PRAEVNET_DEBUG": None, "PRAEVNET_TOKEN": token}
    return CliRunner().invoke(main, list(args), input=stdin, env=env)


def failed(result: Result, *needles: str) -> str:
    """Assert a failure with a one-line message containing every needle; return the message."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def add(home: Path, name: str, role: str, *extra: str, token: str | None = None) -> Result:
    """`praevnet users add NAME --role ROLE --password-stdin ...` with PASSWORD on stdin."""
    return run(
        "users", "add", name, "--role", role, "--password-stdin", "--home", str(home), *extra,
        token=token, stdin=PASSWORD + "\n",
    )  # fmt: skip


def issue(home: Path, name: str) -> str:
    """A new token for NAME, got by NAME with their password (as `users token --user NAME` at a terminal)."""
    node = Node.open(home)
    try:
        return issue_token(node, name, by=login_password(node, name, PASSWORD))
    finally:
        node.close()


def test_add_and_list(home: Path) -> None:
    assert ok_json("users", "list", "--home", str(home)) == []
    assert "no local users" in ok("users", "list", "--home", str(home)).output
    result = add(home, "olga", "officer")
    assert result.exit_code == 0, result.output
    assert "added user olga (officer)" in result.stdout
    assert add(home, "anton", "approver").exit_code == 0

    listed = ok_json("users", "list", "--home", str(home))
    assert [(user["name"], user["role"]) for user in listed] == [("anton", "approver"), ("olga", "officer")]
    for user in listed:
        assert set(user) == {"name", "role", "created", "disabled", "has_token", "language"}
    raw = ok("users", "list", "--home", str(home), "--json").stdout
    assert "scrypt" not in raw
    assert PASSWORD not in raw
    human = ok("users", "list", "--home", str(home)).output
    assert "olga" in human
    assert "officer" in human


def test_add_with_prompt_asks_twice(home: Path) -> None:
    result = run("users", "add", "olga", "--role", "officer", "--home", str(home), stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert "added user olga" in result.stdout
    result = run(
        "users", "add", "anna", "--role", "officer", "--home", str(home), stdin=f"{PASSWORD}\nsomethingelse!\n"
    )
    assert result.exit_code != 0
    assert [user["name"] for user in ok_json("users", "list", "--home", str(home))] == ["olga"]


def test_add_refusals_are_one_line_and_change_nothing(home: Path) -> None:
    assert add(home, "olga", "officer").exit_code == 0
    before = snapshot(home)
    failed(add(home, "olga", "approver"), "already exists")
    failed(add(home, "admin", "admin"), "reserved")
    failed(add(home, "Olga", "officer"), "not a valid user name")
    short = run("users", "add", "neu", "--role", "officer", "--password-stdin", "--home", str(home), stdin="kurz\n")
    failed(short, "at least 12 characters")
    empty = run("users", "add", "neu", "--role", "officer", "--password-stdin", "--home", str(home), stdin="")
    failed(empty, "no password")
    bad_role = add(home, "neu", "superuser")
    assert bad_role.exit_code != 0
    assert "superuser" in bad_role.output
    assert snapshot(home) == before


def test_token_works_with_user_and_an_officer_cannot_add_users(home: Path) -> None:
    assert add(home, "olga", "officer").exit_code == 0
    token = issue(home, "olga")
    assert token.startswith("pvt_")
    assert ok_json("users", "list", "--home", str(home))[0]["has_token"] is True

    # olga renews her own token with it; the old one stops working
    renewed = run("users", "token", "--user", "olga", "--home", str(home), token=token)
    assert renewed.exit_code == 0, renewed.output
    new_token = renewed.stdout.strip()
    assert "\n" not in new_token
    assert "only once" in renewed.stderr
    assert new_token.startswith("pvt_")
    assert new_token != token
    failed(run("users", "token", "olga", "--user", "olga", "--home", str(home), token=token), "wrong token")

    # an officer authenticates fine but may not manage users
    before = snapshot(home)
    failed(add(home, "neu", "officer", "--user", "olga", token=new_token), "'olga' (officer)", "may not manage users")
    failed(
        run("users", "disable", "olga", "--user", "olga", "--home", str(home), token=new_token), "may not manage users"
    )
    assert snapshot(home) == before


def test_a_local_admin_acts_with_their_token(home: Path) -> None:
    assert add(home, "ada", "admin").exit_code == 0
    token = issue(home, "ada")
    result = add(home, "olga", "officer", "--user", "ada", token=token)
    assert result.exit_code == 0, result.output
    result = run("users", "disable", "olga", "--user", "ada", "--home", str(home), token=token)
    assert result.exit_code == 0, result.output
    assert "disabled user olga" in result.stdout
    assert ok_json("users", "list", "--home", str(home))[1]["disabled"] is True


def test_wrong_token_fails_with_one_line(home: Path) -> None:
    assert add(home, "olga", "officer").exit_code == 0
    assert add(home, "anton", "approver").exit_code == 0
    anton = issue(home, "anton")
    before = snapshot(home)
    for name, token in [("olga", "pvt_wrong"), ("olga", anton), ("nobody", anton)]:
        message = failed(run("users", "token", name, "--user", name, "--home", str(home), token=token))
        assert message == "Error: unknown user or wrong token"
    assert snapshot(home) == before


def test_user_without_token_or_terminal_names_praevnet_token(home: Path) -> None:
    assert add(home, "olga", "officer").exit_code == 0
    before = snapshot(home)
    message = failed(run("users", "token", "olga", "--user", "olga", "--home", str(home)), "PRAEVNET_TOKEN")
    assert "olga" in message
    assert snapshot(home) == before


def test_a_typed_name_alone_never_authenticates(home: Path) -> None:
    assert add(home, "ada", "admin").exit_code == 0
    before = snapshot(home)
    for name in ("ada", "admin", "node", "nobody"):
        # no token, no terminal: refused, even if a password is offered on a non-terminal stdin
        failed(
            run("users", "token", "ada", "--user", name, "--home", str(home), stdin=PASSWORD + "\n"), "PRAEVNET_TOKEN"
        )
        failed(run("users", "disable", "ada", "--user", name, "--home", str(home)), "PRAEVNET_TOKEN")
        failed(
            run(
                "users", "add", "neu", "--role", "admin", "--password-stdin", "--user", name, "--home", str(home),
                stdin=PASSWORD + "\n",
            ),
            "PRAEVNET_TOKEN",
        )  # fmt: skip
        # an empty token is no token
        failed(run("users", "disable", "ada", "--user", name, "--home", str(home), token=""), "PRAEVNET_TOKEN")
    assert snapshot(home) == before


def test_disabled_user_token_fails(home: Path) -> None:
    assert add(home, "olga", "officer").exit_code == 0
    token = issue(home, "olga")
    ok("users", "disable", "olga", "--home", str(home))
    failed(run("users", "token", "olga", "--user", "olga", "--home", str(home), token=token), "wrong token")
    failed(run("users", "disable", "olga", "--home", str(home)), "already disabled")
    failed(run("users", "reset-token", "nobody", "--home", str(home)), "no user 'nobody'")


def test_list_json_never_shows_hashes(home: Path) -> None:
    assert add(home, "olga", "officer").exit_code == 0
    token = issue(home, "olga")
    raw = ok("users", "list", "--json", "--home", str(home)).stdout
    data = json.loads(raw)
    assert data[0]["has_token"] is True
    for secret in ("scrypt", token, "token_hash", "password"):
        assert secret not in raw


class FakeTerminal(io.StringIO):
    """A standard input that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


def test_acting_user_asks_for_the_password_at_a_terminal(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert add(home, "olga", "officer").exit_code == 0
    asked: list[str] = []
    typed = [PASSWORD, "wrong password!"]

    def prompt(text: str, **kwargs: Any) -> str:
        assert kwargs.get("hide_input") is True
        asked.append(text)
        return typed.pop(0)

    monkeypatch.delenv("PRAEVNET_TOKEN", raising=False)
    monkeypatch.setattr(sys, "stdin", FakeTerminal())
    monkeypatch.setattr(click, "prompt", prompt)
    node = Node.open(home)
    try:
        assert acting_user(node, None) == ADMIN
        assert asked == []
        assert acting_user(node, "olga") == Actor("olga", "officer")
        assert asked == ["Password for olga"]
        with pytest.raises(NodeError, match=r"^unknown user or wrong password$"):
            acting_user(node, "olga")
    finally:
        node.close()


def test_acting_user_prefers_the_token(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert add(home, "olga", "officer").exit_code == 0
    token = issue(home, "olga")
    monkeypatch.setenv("PRAEVNET_TOKEN", token + "\n")
    monkeypatch.setattr(sys, "stdin", FakeTerminal())
    monkeypatch.setattr(click, "prompt", lambda *a, **k: pytest.fail("asked for a password despite a token"))
    node = Node.open(home)
    try:
        assert acting_user(node, "olga") == Actor("olga", "officer")
    finally:
        node.close()


def test_four_eyes_through_the_builtin_administrator_cannot_print_a_users_token(home: Path) -> None:
    assert add(home, "bernd", "approver").exit_code == 0
    assert add(home, "ada", "admin").exit_code == 0
    bernd, ada = issue(home, "bernd"), issue(home, "ada")
    before = snapshot(home)
    for result, needles in [
        (run("users", "token", "bernd", "--home", str(home)), ("shown only to its own user", "--user NAME")),
        (run("users", "token", "--home", str(home)), ("shown only to its own user",)),
        (run("users", "token", "bernd", "--user", "ada", "--home", str(home), token=ada), ("'ada' may not",)),
    ]:
        failed(result, *needles)
        assert result.stdout == ""
    assert snapshot(home) == before
    renewed = run("users", "token", "bernd", "--user", "bernd", "--home", str(home), token=bernd)  # bernd himself
    assert renewed.exit_code == 0, renewed.output
    assert renewed.stdout.startswith("pvt_")


def test_four_eyes_through_the_builtin_administrator_a_reset_is_audited_and_shows_no_token(home: Path) -> None:
    assert add(home, "bernd", "approver").exit_code == 0
    old = issue(home, "bernd")
    result = ok("users", "reset-token", "bernd", "--home", str(home))
    assert "pvt_" not in result.output
    assert "praevnet users token --user bernd" in result.stdout
    assert ok_json("users", "list", "--home", str(home))[0]["has_token"] is False
    [entry] = [e for e in ok_json("audit", "list", "--home", str(home)) if e["action"] == "user.token.reset"]
    assert (entry["user"], entry["detail"]) == ("admin", "bernd")
    failed(run("users", "token", "--user", "bernd", "--home", str(home), token=old), "wrong token")
    help_text = " ".join(ok("users", "reset-token", "--help").output.split())
    assert "no new one is shown" in help_text
    assert "audit log" in help_text
    assert "not even an administrator" in " ".join(ok("users", "token", "--help").output.split())
