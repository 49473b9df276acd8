"""Logging in and out: only the node's users get in, sessions end, and failed logins are rate-limited."""

from __future__ import annotations

from datetime import timedelta

from node import audit
from node.users import ADMIN, disable_user
from tests.conftest import SetClock
from tests.web.conftest import PASSWORD, Ui, csrf_of


async def test_every_page_sends_a_stranger_to_the_login_page(ui: Ui) -> None:
    response = await ui.client.get("/", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login?next=/"


async def test_a_user_logs_in_and_sees_the_overview_in_german(ui: Ui) -> None:
    response = await ui.login("olga")
    assert response.status == 200
    assert str(response.url).endswith("/")
    html = await response.text()
    assert "Übersicht" in html
    assert 'lang="de"' in html
    assert "Angemeldet als" in html
    assert "olga" in html


async def test_a_wrong_password_is_refused_in_words_and_no_session_starts(ui: Ui) -> None:
    response = await ui.login("olga", "falsches-passwort-123")
    assert response.status == 401
    assert "Unbekannter Benutzername oder falsches Passwort." in await response.text()
    assert (await ui.client.get("/", allow_redirects=False)).status == 303


async def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(ui: Ui) -> None:
    unknown = await ui.login("niemand")
    wrong = await ui.login("olga", "falsches-passwort-123")
    assert unknown.status == wrong.status == 401
    assert "Unbekannter Benutzername oder falsches Passwort." in await unknown.text()


async def test_failed_logins_are_limited_per_user_even_with_the_right_password_afterwards(ui: Ui) -> None:
    for _ in range(ui.node.config.ui.login_attempts):
        assert (await ui.login("olga", "falsches-passwort-123")).status == 401
    blocked = await ui.login("olga")
    assert blocked.status == 429
    assert "Zu viele Fehlversuche" in await blocked.text()


async def test_failed_logins_are_limited_per_address_across_user_names(ui: Ui) -> None:
    for n in range(ui.node.config.ui.login_attempts):
        await ui.login(f"rate{n}", "falsches-passwort-123")
    assert (await ui.login("otto")).status == 429


async def test_the_limit_lifts_after_the_window(ui: Ui, clock: SetClock) -> None:
    for _ in range(ui.node.config.ui.login_attempts):
        await ui.login("olga", "falsches-passwort-123")
    assert (await ui.login("olga")).status == 429
    clock.advance(timedelta(seconds=ui.node.config.ui.login_window + 1))
    assert (await ui.login("olga")).status == 200


async def test_logout_ends_the_session_even_for_a_copied_cookie(ui: Ui) -> None:
    await ui.login("olga")
    cookie = {c.key: c.value for c in ui.client.session.cookie_jar}["praevnet_session"]
    page = await ui.client.get("/")
    await ui.client.post("/logout", data={"csrf_token": csrf_of(await page.text())})
    again = await ui.client.get("/", allow_redirects=False, cookies={"praevnet_session": cookie})
    assert again.status == 303


async def test_a_login_gets_a_new_session_id(ui: Ui) -> None:
    await ui.client.get("/login")
    before = {c.key: c.value for c in ui.client.session.cookie_jar}["praevnet_session"]
    await ui.login("olga")
    after = {c.key: c.value for c in ui.client.session.cookie_jar}["praevnet_session"]
    assert before != after
    replay = await ui.client.get("/", allow_redirects=False, cookies={"praevnet_session": before})
    assert replay.status == 303


async def test_an_idle_session_ends(ui: Ui, clock: SetClock) -> None:
    await ui.login("olga")
    clock.advance(timedelta(seconds=ui.node.config.ui.idle_timeout - 5))
    assert (await ui.client.get("/", allow_redirects=False)).status == 200
    clock.advance(timedelta(seconds=ui.node.config.ui.idle_timeout - 5))
    assert (await ui.client.get("/", allow_redirects=False)).status == 200  # each request restarts the timer
    clock.advance(timedelta(seconds=ui.node.config.ui.idle_timeout + 1))
    assert (await ui.client.get("/", allow_redirects=False)).status == 303


async def test_a_disabled_user_is_out_at_once(ui: Ui) -> None:
    await ui.login("olga")
    disable_user(ui.node, "olga", by=ADMIN)
    assert (await ui.client.get("/", allow_redirects=False)).status == 303


async def test_login_goes_on_only_to_a_path_on_this_site(ui: Ui) -> None:
    page = await ui.client.get("/login")
    token = csrf_of(await page.text())
    response = await ui.client.post(
        "/login",
        data={"csrf_token": token, "name": "olga", "password": PASSWORD, "next": "//evil.example/x"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/"


async def test_the_session_cookie_is_httponly_and_samesite_strict(ui: Ui) -> None:
    page = await ui.client.get("/login")
    header = page.headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "SameSite=Strict" in header
    assert "Secure" not in header  # served over plain http on loopback


async def test_english_can_be_chosen_and_is_kept_with_the_account(ui: Ui) -> None:
    await ui.login("olga")
    response = await ui.post("/language", {"language": "en", "next": "/"})
    assert 'lang="en"' in await response.text()
    assert "Overview" in await response.text()
    await ui.client.post("/logout", data={"csrf_token": await ui.token()})
    ui.client.session.cookie_jar.clear()
    response = await ui.login("olga")
    assert 'lang="en"' in await response.text()


async def test_an_unknown_language_is_refused(ui: Ui) -> None:
    await ui.login("olga")
    response = await ui.post("/language", {"language": "xx", "next": "/"})
    assert response.status == 400


async def test_logging_in_changes_nothing_in_the_audit_log(ui: Ui) -> None:
    before = len(audit.list_entries(ui.node))
    await ui.login("olga")
    await ui.login("olga", "falsches-passwort-123")
    assert len(audit.list_entries(ui.node)) == before


async def test_behind_a_proxy_on_loopback_the_limit_counts_the_forwarded_address(ui: Ui) -> None:
    async def attempt(address: str, name: str, password: str) -> int:
        page = await ui.client.get("/login")
        token = csrf_of(await page.text())
        response = await ui.client.post(
            "/login",
            data={"csrf_token": token, "name": name, "password": password, "next": "/"},
            headers={"X-Forwarded-For": f"192.0.2.9, {address}"},
        )
        return response.status

    for n in range(ui.node.config.ui.login_attempts):
        assert await attempt("10.1.1.1", f"guess{n}", "falsches-passwort-123") == 401
    assert await attempt("10.1.1.1", "otto", PASSWORD) == 429
    # another office PC behind the same proxy is not locked out by the first one's failures
    assert await attempt("10.2.2.2", "otto", PASSWORD) == 200
