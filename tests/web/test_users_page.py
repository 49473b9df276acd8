"""Benutzer: administrators create users, set passwords, revoke tokens and disable users; nobody else gets in."""

from __future__ import annotations

from typing import Any

import pytest

from node import audit
from node.errors import NodeError
from node.users import get_user, issue_token, list_users, login_password, login_token
from tests.web.conftest import PASSWORD, Ui, error_of

NEW_PASSWORD = "ein-ganz-neues-passwort"
COOKIE = "praevnet_session"


def state(ui: Ui) -> tuple[list[dict[str, Any]], int]:
    """What a refused form must leave alone: the users and the length of the audit log."""
    return list_users(ui.node), len(audit.list_entries(ui.node))


async def session_of(ui: Ui, name: str) -> str:
    """Log `name` in on a fresh cookie jar and return their session cookie; the jar is empty afterwards."""
    ui.client.session.cookie_jar.clear()
    await ui.login(name)
    cookie = {c.key: c.value for c in ui.client.session.cookie_jar}[COOKIE]
    ui.client.session.cookie_jar.clear()
    return cookie


async def still_in(ui: Ui, cookie: str) -> bool:
    """Whether the session behind `cookie` still gets a page."""
    response = await ui.client.get("/", allow_redirects=False, cookies={COOKIE: cookie})
    return response.status == 200


@pytest.mark.parametrize("name", ["olga", "anton"])
async def test_only_administrators_see_or_use_the_page(ui: Ui, name: str) -> None:
    await ui.login(name)
    before = state(ui)
    for path in ("/users", "/users/otto"):
        response = await ui.client.get(path)
        assert response.status == 403
        assert "Nur die Administration darf Benutzer verwalten." in await response.text()
    posts = {
        "/users": {"name": "neu", "role": "admin", "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD},
        "/users/otto/password": {"password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD},
        "/users/otto/token/reset": {},
        "/users/otto/disable": {},
    }
    for path, data in posts.items():
        assert (await ui.post(path, data)).status == 403
    assert state(ui) == before
    assert "Benutzer</a>" not in await (await ui.client.get("/")).text()  # not offered in the navigation


async def test_an_administrator_sees_every_user_with_role_and_token_state(ui: Ui) -> None:
    issue_token(ui.node, "otto", by=login_password(ui.node, "otto", PASSWORD))
    await ui.login("ada")
    response = await ui.client.get("/users")
    assert response.status == 200
    html = await response.text()
    for name in ("olga", "otto", "anton", "ada"):
        assert f'href="/users/{name}"' in html
    assert "Sachbearbeitung" in html
    assert "Administration" in html
    assert html.count("ausgestellt") == 1  # only otto has a token


async def test_an_administrator_creates_a_user_who_can_log_in(ui: Ui) -> None:
    await ui.login("ada")
    data = {"name": " Neu.Nutzer ", "role": "approver", "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}
    response = await ui.post("/users", data, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/users/neu.nutzer"
    page = await ui.client.get("/users/neu.nutzer")
    assert "Der Benutzer neu.nutzer wurde angelegt." in await page.text()
    assert get_user(ui.node, "neu.nutzer")["role"] == "approver"
    assert login_password(ui.node, "neu.nutzer", NEW_PASSWORD).role == "approver"
    last = audit.list_entries(ui.node, limit=1)[0]
    assert (last["user"], last["action"], last["detail"]) == ("ada", "user.add", "neu.nutzer (approver)")


GOOD = {"name": "neu", "role": "officer", "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", "Bitte geben Sie einen Benutzernamen ein."),
        ({"name": "1neu"}, "name", "2 bis 32 Zeichen: zuerst ein Kleinbuchstabe"),
        ({"name": "n"}, "name", "2 bis 32 Zeichen"),
        ({"name": "neu nutzer"}, "name", "2 bis 32 Zeichen"),
        ({"name": "x" * 10_000}, "name", "2 bis 32 Zeichen"),
        ({"name": "admin"}, "name", "für den Knoten selbst reserviert"),
        ({"name": "node"}, "name", "für den Knoten selbst reserviert"),
        ({"name": "otto"}, "name", "Einen Benutzer mit diesem Namen gibt es bereits."),
        ({"name": "OTTO"}, "name", "Einen Benutzer mit diesem Namen gibt es bereits."),
        ({"role": "chief"}, "role", "Bitte wählen Sie eine der Rollen."),
        ({"role": ""}, "role", "Bitte wählen Sie eine der Rollen."),
        ({"password": "", "password_repeat": ""}, "password", "Bitte geben Sie das neue Passwort ein."),
        ({"password": "zu-kurz", "password_repeat": "zu-kurz"}, "password", "mindestens 12 Zeichen"),
        ({"password": "p" * 1025, "password_repeat": "p" * 1025}, "password", "höchstens 1024 Zeichen"),
        ({"password_repeat": NEW_PASSWORD + "x"}, "password_repeat", "Die beiden Eingaben stimmen nicht überein."),
        ({"password_repeat": ""}, "password_repeat", "Die beiden Eingaben stimmen nicht überein."),
    ],
)
async def test_a_refused_new_user_is_named_next_to_its_field_and_nothing_is_stored(
    ui: Ui, change: dict[str, str], field: str, message: str
) -> None:
    await ui.login("ada")
    before = state(ui)
    response = await ui.post("/users", {**GOOD, **change})
    assert response.status == 400
    html = await response.text()
    assert message in error_of(html, field)
    assert 'id="error-summary"' in html
    assert NEW_PASSWORD not in html  # a typed password is never sent back
    assert state(ui) == before


async def test_every_problem_of_a_new_user_is_named_at_once(ui: Ui) -> None:
    await ui.login("ada")
    response = await ui.post("/users", {"name": "", "role": "x", "password": "kurz", "password_repeat": ""})
    html = await response.text()
    for field in ("name", "role", "password"):
        assert error_of(html, field)


async def test_a_form_without_csrf_token_creates_nobody(ui: Ui) -> None:
    await ui.login("ada")
    before = state(ui)
    assert (await ui.post("/users", GOOD, csrf=False)).status == 403
    assert state(ui) == before


async def test_unknown_users_and_wrong_methods(ui: Ui) -> None:
    await ui.login("ada")
    before = state(ui)
    assert (await ui.client.get("/users/niemand")).status == 404
    for path in ("/users/niemand/disable", "/users/niemand/token/reset"):
        response = await ui.post(path, {})
        assert response.status == 404
        assert "Diesen Benutzer gibt es nicht." in await response.text()
    password = {"password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}
    assert (await ui.post("/users/niemand/password", password)).status == 404
    assert (await ui.client.get("/users/otto/disable")).status == 405
    assert state(ui) == before


async def test_a_new_password_set_by_an_administrator_replaces_the_old_and_ends_the_users_sessions(ui: Ui) -> None:
    olga = await session_of(ui, "olga")
    await ui.login("ada")
    data = {"password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}
    response = await ui.post("/users/olga/password", data, allow_redirects=False)
    assert response.status == 303
    with pytest.raises(NodeError):
        login_password(ui.node, "olga", PASSWORD)
    assert login_password(ui.node, "olga", NEW_PASSWORD).name == "olga"
    assert not await still_in(ui, olga)
    last = audit.list_entries(ui.node, limit=1)[0]
    assert (last["user"], last["action"], last["detail"]) == ("ada", "user.password", "olga")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"password": NEW_PASSWORD, "password_repeat": "anders-als-das-erste"}, "password_repeat", "stimmen nicht"),
        ({"password": "kurz", "password_repeat": "kurz"}, "password", "mindestens 12 Zeichen"),
        ({}, "password", "Bitte geben Sie das neue Passwort ein."),
    ],
)
async def test_a_refused_password_reset_changes_nothing(ui: Ui, data: dict[str, str], field: str, message: str) -> None:
    olga = await session_of(ui, "olga")
    await ui.login("ada")
    before = state(ui)
    response = await ui.post("/users/olga/password", data)
    assert response.status == 400
    assert message in error_of(await response.text(), field)
    assert state(ui) == before
    assert login_password(ui.node, "olga", PASSWORD).name == "olga"
    assert await still_in(ui, olga)


async def test_an_administrator_revokes_a_token_but_never_sees_one(ui: Ui) -> None:
    token = issue_token(ui.node, "olga", by=login_password(ui.node, "olga", PASSWORD))
    await ui.login("ada")
    page = await (await ui.client.get("/users/olga")).text()
    assert "Token widerrufen" in page
    assert "pvt_" not in page
    response = await ui.post("/users/olga/token/reset", {})
    html = await response.text()
    assert "Das Token von olga gilt nicht mehr." in html
    assert "pvt_" not in html
    with pytest.raises(NodeError):
        login_token(ui.node, "olga", token)
    assert not get_user(ui.node, "olga")["has_token"]


async def test_disabling_a_user_ends_their_session_and_their_logins(ui: Ui) -> None:
    olga = await session_of(ui, "olga")
    assert await still_in(ui, olga)
    await ui.login("ada")
    response = await ui.post("/users/olga/disable", {}, allow_redirects=False)
    assert response.status == 303
    assert get_user(ui.node, "olga")["disabled"]
    assert not await still_in(ui, olga)
    page = await (await ui.client.get("/users/olga")).text()
    assert "Der Benutzer olga ist gesperrt." in page
    assert "Benutzer sperren</span>" not in page  # nothing left to disable
    ui.client.session.cookie_jar.clear()
    assert (await ui.login("olga")).status == 401
    last = audit.list_entries(ui.node, limit=1)[0]
    assert (last["user"], last["action"], last["detail"]) == ("ada", "user.disable", "olga")


async def test_disabling_a_disabled_user_again_is_refused_in_words(ui: Ui) -> None:
    await ui.login("ada")
    await ui.post("/users/olga/disable", {})
    before = state(ui)
    response = await ui.post("/users/olga/disable", {})
    assert response.status == 409
    assert "Dieser Benutzer ist bereits gesperrt." in error_of(await response.text(), "disable")
    assert state(ui) == before
