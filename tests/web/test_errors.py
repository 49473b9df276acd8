"""Refusals and failures are pages in the officer's language; a failure shows no internals."""

from __future__ import annotations

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from node.home import Node
from tests.web.conftest import Ui
from web.app import create_ui_app


async def test_an_unknown_page_is_a_german_page_not_found(ui: Ui) -> None:
    await ui.login("olga")
    response = await ui.client.get("/gibt-es-nicht")
    assert response.status == 404
    html = await response.text()
    assert "Seite nicht gefunden" in html
    assert "Zurück zur Übersicht" in html


async def test_a_csrf_refusal_says_what_to_do_in_german(ui: Ui) -> None:
    await ui.login("olga")
    response = await ui.post("/language", {"language": "en"}, csrf=False)
    assert response.status == 403
    assert "Bitte laden Sie die Seite neu" in await response.text()


async def test_a_failure_is_logged_and_shows_no_internals(
    ui_node: Node, aiohttp_client: AiohttpClient, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_ui_app(ui_node)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret-internal-detail-4711")

    app.router.add_get("/boom", boom)
    client = await aiohttp_client(app)
    response = await client.get("/boom")  # not logged in: the login page comes first
    assert response.status == 200
    ui = Ui(ui_node, client)
    await ui.login("olga")
    response = await client.get("/boom")
    assert response.status == 500
    html = await response.text()
    assert "Etwas ist schiefgegangen" in html
    assert "secret-internal-detail-4711" not in html
    assert "secret-internal-detail-4711" in caplog.text
