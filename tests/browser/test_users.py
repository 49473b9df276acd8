"""Benutzer and Mein Konto in the browser: an administrator creates a user who then logs in; others may not.

A real `praevnet serve` (web interface included) runs for the whole module; Chromium drives it.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page

from node.users import get_user, list_users
from tests.browser.conftest import ServeUi
from tests.browser.helpers import PASSWORD, assert_accessible, desk, login, screenshot, status_of
from tests.e2e.helpers import ServedNode

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "ein-ganz-neues-passwort"


@pytest.fixture(scope="module")
def augsburg(serve_ui: ServeUi) -> ServedNode:
    """Augsburg's node with its web interface, an administrator (ada) and an officer (olga)."""
    return serve_ui("Stadt Augsburg", users={"ada": "admin", "olga": "officer"})[0]


def create_user_form(page: Page, name: str, password: str, repeat: str, role: str = "officer") -> int:
    """Fill in and send the form "Benutzer anlegen" on the users page; the answer's status."""
    page.fill("#name", name)
    page.select_option("#role", role)
    page.fill("#password", password)
    page.fill("#password_repeat", repeat)
    with page.expect_navigation() as navigation:
        page.click("form[action='/users'] button[type=submit]")
    return status_of(navigation.value)


def test_an_administrator_creates_a_user_who_can_then_log_in(
    page: Page, browser: Browser, augsburg: ServedNode
) -> None:
    assert login(page, augsburg.ui_url, "ada") == 200
    page.click("nav a[href='/users']")
    assert page.locator("h1").inner_text() == "Benutzer"
    assert_accessible(page)
    screenshot(page, "users")

    assert create_user_form(page, "paula", NEW_PASSWORD, NEW_PASSWORD) == 200
    assert page.url == f"{augsburg.ui_url}/users/paula"
    assert "Der Benutzer paula wurde angelegt." in page.locator("main").inner_text()
    assert_accessible(page)
    screenshot(page, "user")
    with augsburg.opened() as node:
        assert get_user(node, "paula")["role"] == "officer"

    with desk(browser) as hers:  # paula, at her own desk
        assert login(hers, augsburg.ui_url, "paula", NEW_PASSWORD) == 200
        assert "Angemeldet als paula" in hers.locator("header").inner_text()


def test_the_user_form_names_each_problem_next_to_its_field_and_stores_nothing(
    page: Page, augsburg: ServedNode
) -> None:
    with augsburg.opened() as node:
        before = list_users(node)
    assert login(page, augsburg.ui_url, "ada") == 200
    page.goto(f"{augsburg.ui_url}/users")
    assert create_user_form(page, "X!", "kurz", "kurz") == 400
    assert page.locator("#name-error").inner_text().strip().startswith("2 bis 32 Zeichen")
    assert page.locator("#password-error").inner_text().strip() == "Das Passwort muss mindestens 12 Zeichen lang sein."
    assert page.locator("#name").get_attribute("aria-describedby") is not None
    assert "name-error" in (page.locator("#name").get_attribute("aria-describedby") or "")
    assert_accessible(page)  # the page with its errors too
    screenshot(page, "users-errors")
    with augsburg.opened() as node:
        assert list_users(node) == before


def test_an_officer_neither_sees_nor_opens_the_users_page(page: Page, augsburg: ServedNode) -> None:
    assert login(page, augsburg.ui_url, "olga") == 200
    assert page.locator("nav a[href='/users']").count() == 0
    assert status_of(page.goto(f"{augsburg.ui_url}/users")) == 403
    assert "Nur die Administration darf Benutzer verwalten." in page.locator("main").inner_text()
    assert page.locator("#name").count() == 0  # no form to create a user


def test_my_account_page_is_accessible(page: Page, augsburg: ServedNode) -> None:
    assert login(page, augsburg.ui_url, "olga", PASSWORD) == 200
    page.click("header a[href='/account']")
    assert page.locator("h1").inner_text() == "Mein Konto"
    assert_accessible(page)
    screenshot(page, "account")
