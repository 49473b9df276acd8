"""Mein Konto: each user changes their own password and gets their own token, proving it with the current password."""

from __future__ import annotations

import re

import pytest

from node import audit
from node.errors import NodeError
from node.users import get_user, login_password, login_token
from tests.web.conftest import PASSWORD, Ui, error_of
from tests.web.test_users_page import NEW_PASSWORD, session_of, state, still_in

TOKEN = re.compile(r'id="token" type="text" readonly value="(pvt_[^"]+)"')


async def test_every_role_has_an_account_page(ui: Ui) -> None:
    for name, role in (("olga", "Sachbearbeitung"), ("anton", "Freigabe"), ("ada", "Administration")):
        ui.client.session.cookie_jar.clear()
        await ui.login(name)
        response = await ui.client.get("/account")
        assert response.status == 200
        html = await response.text()
        assert "Mein Konto" in html
        assert role in html


async def test_a_user_changes_their_password_stays_logged_in_and_other_sessions_end(ui: Ui) -> None:
    elsewhere = await session_of(ui, "olga")
    await ui.login("olga")
    data = {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}
    response = await ui.post("/account/password", data)
    assert response.status == 200
    assert str(response.url).endswith("/account")
    assert "Ihr neues Passwort ist gesetzt." in await response.text()
    with pytest.raises(NodeError):
        login_password(ui.node, "olga", PASSWORD)
    assert login_password(ui.node, "olga", NEW_PASSWORD).name == "olga"
    assert (await ui.client.get("/", allow_redirects=False)).status == 200  # this session goes on
    assert not await still_in(ui, elsewhere)
    last = audit.list_entries(ui.node, limit=1)[0]
    assert (last["user"], last["action"], last["detail"]) == ("olga", "user.password", "olga")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"current_password": "falsch-falsch-falsch"}, "current_password", "Das ist nicht Ihr bisheriges Passwort."),
        ({"current_password": ""}, "current_password", "Bitte geben Sie Ihr bisheriges Passwort ein."),
        ({"password_repeat": "etwas-ganz-anderes"}, "password_repeat", "Die beiden Eingaben stimmen nicht überein."),
        ({"password": "kurz", "password_repeat": "kurz"}, "password", "mindestens 12 Zeichen"),
        ({"password": "p" * 5000, "password_repeat": "p" * 5000}, "password", "höchstens 1024 Zeichen"),
    ],
)
async def test_a_refused_password_change_changes_nothing(
    ui: Ui, data: dict[str, str], field: str, message: str
) -> None:
    await ui.login("olga")
    before = state(ui)
    good = {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}
    response = await ui.post("/account/password", {**good, **data})
    assert response.status == 400
    html = await response.text()
    assert message in error_of(html, field)
    assert PASSWORD not in html
    assert NEW_PASSWORD not in html
    assert state(ui) == before
    assert login_password(ui.node, "olga", PASSWORD).name == "olga"


async def test_guessing_the_current_password_is_rate_limited(ui: Ui) -> None:
    await ui.login("olga")
    wrong = {"current_password": "falsch-falsch-falsch", "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}
    for _ in range(ui.node.config.ui.login_attempts):
        await ui.post("/account/password", wrong)
    right = {**wrong, "current_password": PASSWORD}
    response = await ui.post("/account/password", right)
    assert response.status == 400
    assert "Zu viele Fehlversuche" in error_of(await response.text(), "current_password")
    assert login_password(ui.node, "olga", PASSWORD).name == "olga"


async def test_a_token_is_shown_once_and_only_to_its_user(ui: Ui) -> None:
    await ui.login("olga")
    response = await ui.post("/account/token", {"token_password": PASSWORD})
    assert response.status == 200
    html = await response.text()
    assert "wird nur jetzt angezeigt" in html
    found = TOKEN.search(html)
    assert found
    token = found.group(1)
    assert login_token(ui.node, "olga", token).name == "olga"
    assert token not in await (await ui.client.get("/account")).text()
    ui.client.session.cookie_jar.clear()
    await ui.login("ada")
    for path in ("/users", "/users/olga"):
        assert token not in await (await ui.client.get(path)).text()
    last = audit.list_entries(ui.node, limit=1)[0]
    assert (last["user"], last["action"], last["detail"]) == ("olga", "user.token", "olga")


async def test_a_new_token_replaces_the_earlier_one(ui: Ui) -> None:
    await ui.login("olga")
    first = TOKEN.search(await (await ui.post("/account/token", {"token_password": PASSWORD})).text())
    second = TOKEN.search(await (await ui.post("/account/token", {"token_password": PASSWORD})).text())
    assert first
    assert second
    with pytest.raises(NodeError):
        login_token(ui.node, "olga", first.group(1))
    assert login_token(ui.node, "olga", second.group(1)).name == "olga"


@pytest.mark.parametrize("password", ["", "falsch-falsch-falsch"])
async def test_no_token_without_the_current_password(ui: Ui, password: str) -> None:
    await ui.login("olga")
    before = state(ui)
    response = await ui.post("/account/token", {"token_password": password})
    assert response.status == 400
    html = await response.text()
    assert error_of(html, "token_password")
    assert "pvt_" not in html
    assert state(ui) == before
    assert not get_user(ui.node, "olga")["has_token"]


async def test_account_forms_without_csrf_token_change_nothing(ui: Ui) -> None:
    await ui.login("olga")
    before = state(ui)
    data = {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}
    assert (await ui.post("/account/password", data, csrf=False)).status == 403
    assert (await ui.post("/account/token", {"token_password": PASSWORD}, csrf=False)).status == 403
    assert state(ui) == before
