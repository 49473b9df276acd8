"""Logging in, the forms' CSRF guard, the UI apart from the federation port, keyboard use and languages.

A real `praevnet serve` (web interface included) runs for the whole module; Chromium drives it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from node.users import get_user
from tests.browser.conftest import ServeUi
from tests.browser.helpers import assert_accessible, focused, login, screenshot, status_of, tab_through
from tests.e2e.helpers import ServedNode

pytestmark = pytest.mark.e2e

NAVIGATION = ("/",)  # the overview; more pages join the navigation as they are built (asserted below)
FEDERATION_PATHS = ("/.well-known/praevnet", "/fed/v1/outbox")


@pytest.fixture(scope="module")
def bonn(serve_ui: ServeUi) -> ServedNode:
    """Bonn's node with its web interface, and the users olga, otto (officers), anton (approver), ada (admin)."""
    return serve_ui("Stadt Bonn", users={"olga": "officer", "otto": "officer", "lena": "officer", "ada": "admin"})[0]


def test_an_officer_logs_in_and_sees_the_overview(page: Page, bonn: ServedNode) -> None:
    page.goto(f"{bonn.ui_url}/")
    assert urlsplit(page.url).path == "/login", "a visitor who is not logged in is sent to the login page"
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("h1").inner_text() == "Anmelden"
    screenshot(page, "login")

    assert login(page, bonn.ui_url, "olga") == 200
    assert page.url == f"{bonn.ui_url}/"
    assert page.locator("h1").inner_text() == "Übersicht"
    assert "Angemeldet als olga" in page.locator("header").inner_text()
    screenshot(page, "overview")


def test_the_login_page_has_no_serious_accessibility_violations(page: Page, bonn: ServedNode) -> None:
    page.goto(f"{bonn.ui_url}/login")
    assert_accessible(page)
    page.fill("#name", "olga")
    page.fill("#password", "falsches-passwort-123")
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")
    assert page.locator("#login-error").is_visible()
    assert_accessible(page)  # the page with its error message too


def test_the_overview_has_no_serious_accessibility_violations(page: Page, bonn: ServedNode) -> None:
    assert login(page, bonn.ui_url, "ada") == 200  # the administrator sees every navigation entry
    assert page.locator("h1").inner_text() == "Übersicht"
    assert_accessible(page)


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(page: Page, bonn: ServedNode) -> None:
    assert login(page, bonn.ui_url, "otto") == 200
    # The language form, as another page would build it: the right fields, but no token.
    with page.expect_navigation() as navigation:
        page.evaluate(
            """() => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = "/language";
                for (const [name, value] of [["language", "en"], ["next", "/"]]) {
                    const input = document.createElement("input");
                    input.type = "hidden"; input.name = name; input.value = value;
                    form.append(input);
                }
                document.body.append(form);
                form.submit();
            }"""
        )
    assert status_of(navigation.value) == 403
    assert "<form" not in page.content()
    with bonn.opened() as node:
        assert get_user(node, "otto")["language"] in (None, "de"), "the refused form changed the language"
    page.goto(f"{bonn.ui_url}/")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("h1").inner_text() == "Übersicht"


def test_the_web_interface_is_not_reachable_on_the_federation_port(page: Page, bonn: ServedNode) -> None:
    assert status_of(page.goto(f"{bonn.url}/login")) == 404
    assert page.locator("form").count() == 0
    assert page.locator("input").count() == 0
    assert page.request.get(f"{bonn.url}/").status == 404
    assert page.request.get(f"{bonn.url}/static/praevnet.css").status == 404


def test_the_federation_endpoints_are_not_on_the_web_interface_port(page: Page, bonn: ServedNode) -> None:
    assert page.request.get(f"{bonn.url}/.well-known/praevnet").status == 200  # there, on the federation port
    assert login(page, bonn.ui_url, "olga") == 200
    for path in FEDERATION_PATHS:
        answer = page.request.get(f"{bonn.ui_url}{path}", max_redirects=0)
        assert answer.status == 404, f"{path} answered {answer.status} on the web interface port"
        assert bonn.node_id not in answer.text()


def test_the_keyboard_reaches_the_skip_link_and_the_login_form_with_visible_focus(page: Page, bonn: ServedNode) -> None:
    page.goto(f"{bonn.ui_url}/login")
    stops = tab_through(page, 4)
    assert [stop["href"] or stop["id"] or stop["tag"] for stop in stops] == ["#main", "name", "password", "button"]
    assert stops[0]["visible"], "the skip link must show when it has the focus"
    for stop in stops:
        assert stop["outline"] or stop["shadow"], f"no visible focus on {stop}"
    # the skip link leads past the header to the content
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert (focused(page) or {}).get("href") == "#main"
    page.keyboard.press("Enter")
    assert (focused(page) or {}).get("id") == "main"


def test_the_keyboard_reaches_every_navigation_link_with_visible_focus(page: Page, bonn: ServedNode) -> None:
    assert login(page, bonn.ui_url, "ada") == 200
    links = page.locator("nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert set(NAVIGATION) <= set(links), links
    stops = tab_through(page, len(links) + 8)  # the skip link and the header's controls come first
    assert stops[0]["href"] == "#main"
    reached = {stop["href"]: stop for stop in stops if stop["href"] in links}
    assert set(reached) == set(links), f"not reached by Tab: {set(links) - set(reached)}"
    for stop in [stops[0], *reached.values()]:
        assert stop["visible"], f"{stop} has the focus but is off screen"
        assert stop["outline"] or stop["shadow"], f"no visible focus on {stop}"


def test_the_language_switches_to_english_and_back(page: Page, bonn: ServedNode) -> None:
    assert login(page, bonn.ui_url, "lena") == 200
    assert page.locator("h1").inner_text() == "Übersicht"
    with page.expect_navigation():
        page.click("button[name=language][value=en]")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Overview"
    assert "Logged in as lena" in page.locator("header").inner_text()
    with bonn.opened() as node:
        assert get_user(node, "lena")["language"] == "en"  # kept with the account

    with page.expect_navigation():
        page.click("button[name=language][value=de]")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("h1").inner_text() == "Übersicht"
    with bonn.opened() as node:
        assert get_user(node, "lena")["language"] == "de"
