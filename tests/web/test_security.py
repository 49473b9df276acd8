"""What every page answers with: security headers, CSRF refusals, and no UI on the federation port."""

from __future__ import annotations

import pytest

from tests.web.conftest import Ui


@pytest.mark.parametrize("path", ["/login", "/", "/static/praevnet.css", "/no-such-page"])
async def test_security_headers_on_every_answer(ui: Ui, path: str) -> None:
    response = await ui.client.get(path, allow_redirects=False)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_pages_are_not_cached(ui: Ui) -> None:
    await ui.login("olga")
    response = await ui.client.get("/")
    assert response.headers["Cache-Control"] == "no-store"


async def test_a_form_without_the_csrf_token_is_refused(ui: Ui) -> None:
    await ui.login("olga")
    response = await ui.post("/language", {"language": "en", "next": "/"}, csrf=False)
    assert response.status == 403
    page = await ui.client.get("/")
    assert 'lang="de"' in await page.text()  # nothing changed


async def test_a_form_with_a_wrong_csrf_token_is_refused(ui: Ui) -> None:
    await ui.login("olga")
    response = await ui.post("/language", {"language": "en", "next": "/", "csrf_token": "forged"})
    assert response.status == 403


async def test_a_login_without_the_csrf_token_is_refused(ui: Ui) -> None:
    response = await ui.client.post("/login", data={"name": "olga", "password": "x" * 20})
    assert response.status == 403


async def test_a_form_from_another_origin_is_refused_even_with_the_token(ui: Ui) -> None:
    await ui.login("olga")
    token = await ui.token()
    response = await ui.client.post(
        "/language",
        data={"language": "en", "next": "/", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status == 403


async def test_static_assets_are_served_by_the_node(ui: Ui) -> None:
    for path in ("/static/kern/kern.min.css", "/static/kern/fonts/fira-sans.css", "/static/praevnet.js"):
        response = await ui.client.get(path)
        assert response.status == 200, path
