"""A wrong password is refused, and repeated failures lock the login for a while, as the page says.

This module has its own node: the lock counts per client address too, and every test's browser
comes from 127.0.0.1, so a locked node could not serve the other modules' logins.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import ServeUi
from tests.browser.helpers import PASSWORD, assert_accessible, login, screenshot
from tests.e2e.helpers import ServedNode

pytestmark = pytest.mark.e2e

ATTEMPTS = 3
WRONG = "Unbekannter Benutzername oder falsches Passwort."
LOCKED = "Zu viele Fehlversuche. Bitte warten Sie einige Minuten und versuchen Sie es dann erneut."


@pytest.fixture(scope="module")
def chemnitz(serve_ui: ServeUi) -> ServedNode:
    """Chemnitz's node, allowing ATTEMPTS failed logins per user and address in its window."""
    return serve_ui("Stadt Chemnitz", users={"olga": "officer"}, settings={"ui": {"login_attempts": ATTEMPTS}})[0]


def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_login(page: Page, chemnitz: ServedNode) -> None:
    for attempt in range(ATTEMPTS):
        assert login(page, chemnitz.ui_url, "olga", f"falsches-passwort-{attempt}") == 401
        assert page.locator("#login-error").inner_text() == WRONG
        assert page.locator("#name").input_value() == "olga"  # the name stays, the password does not
        assert page.locator("#password").input_value() == ""
    screenshot(page, "login-refused")

    # Locked now: even the right password does not get in, and the page says why.
    assert login(page, chemnitz.ui_url, "olga", PASSWORD) == 429
    assert page.locator("#login-error").inner_text() == LOCKED
    assert_accessible(page)
    page.goto(f"{chemnitz.ui_url}/")
    assert urlsplit(page.url).path == "/login", "a locked login must not have started a session"
