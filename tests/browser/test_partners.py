"""Partner und Netzwerke and Protokoll in the browser: two cities pair by invitation code, from their pages.

Two real `praevnet serve` processes run for the whole module, not paired; accepting a code makes
Erfurt's node contact Dresden's over the federation port, as between two city halls.
"""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import ServeUi
from tests.browser.helpers import assert_accessible, desk, login, screenshot, status_of
from tests.e2e.helpers import ServedNode

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cities(serve_ui: ServeUi) -> tuple[ServedNode, ServedNode]:
    """Dresden and Erfurt, each with its web interface and an officer olga; they do not trust each other yet."""
    dresden, erfurt = serve_ui("Stadt Dresden", "Stadt Erfurt", users={"olga": "officer"})
    return dresden, erfurt


def safety_number(page: Page) -> str:
    """The pair safety number a partner page shows, its lines joined."""
    return " ".join(page.locator("main p.kern-body--large code").all_inner_texts())


def test_two_cities_pair_by_invitation_code_and_confirm_the_safety_number(
    page: Page, browser: Browser, cities: tuple[ServedNode, ServedNode]
) -> None:
    dresden, erfurt = cities
    assert login(page, dresden.ui_url, "olga") == 200
    page.click("nav a[href='/partners']")
    assert page.locator("h1").inner_text() == "Partner und Netzwerke"
    assert_accessible(page)
    screenshot(page, "partners")
    with page.expect_navigation():
        page.click("form[action='/partners/invitations'] button[type=submit]")
    code = page.locator("#code").input_value().strip()
    assert code.startswith("pvinv1")
    assert_accessible(page)
    screenshot(page, "partner-invitation")

    with desk(browser) as erfurt_page:  # the officer in Erfurt pastes the code she got on the phone
        assert login(erfurt_page, erfurt.ui_url, "olga") == 200
        erfurt_page.goto(f"{erfurt.ui_url}/partners")
        erfurt_page.fill("#code", code)
        with erfurt_page.expect_navigation() as navigation:
            erfurt_page.click("form[action='/partners/accept'] button[type=submit]")
        assert status_of(navigation.value) == 200
        assert erfurt_page.locator("h1").inner_text() == "Stadt Dresden"
        assert "Mit Stadt Dresden gekoppelt." in erfurt_page.locator("main").inner_text()
        assert erfurt_page.url == f"{erfurt.ui_url}/partners/{dresden.node_id}"
        assert_accessible(erfurt_page)
        screenshot(erfurt_page, "partner")
        erfurt_reads = safety_number(erfurt_page)

        # Dresden sees Erfurt now; both read the same safety number, and Dresden confirms it.
        page.goto(f"{dresden.ui_url}/partners")
        page.click(f"a[href='/partners/{erfurt.node_id}'] >> nth=0")
        assert page.locator("h1").inner_text() == "Stadt Erfurt"
        assert safety_number(page) == erfurt_reads != ""
        page.check("#match")
        with page.expect_navigation():
            page.click(f"form[action='/partners/{erfurt.node_id}/verify'] button[type=submit]")
        assert "Stadt Erfurt ist bestätigt." in page.locator("main").inner_text()
        assert "bestätigt" in page.locator("dl").inner_text()


def test_the_audit_log_shows_filters_and_exports_what_an_officer_did(
    page: Page, cities: tuple[ServedNode, ServedNode]
) -> None:
    dresden, _ = cities
    assert login(page, dresden.ui_url, "olga") == 200
    page.goto(f"{dresden.ui_url}/partners")
    with page.expect_navigation():  # something olga did, to find in the log
        page.click("form[action='/partners/invitations'] button[type=submit]")
    page.goto(f"{dresden.ui_url}/")
    page.click("nav a[href='/audit']")
    assert page.locator("h1").inner_text() == "Protokoll"
    assert "unverändert" in page.locator("#verification").inner_text()
    assert_accessible(page)
    screenshot(page, "audit")

    page.fill("#user", "olga")
    page.fill("#action", "invite.")
    with page.expect_navigation():
        page.click("form[action='/audit'] button[type=submit]")
    rows = page.locator("#entries tbody tr")
    assert rows.count() >= 1
    assert all("invite.create" in row and "olga" in row for row in rows.all_inner_texts())

    with page.expect_download() as download:
        page.click("a[href^='/audit/export.csv']")
    exported = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert len(exported) == rows.count()
    assert {entry["user"] for entry in exported} == {"olga"}
    assert {entry["action"] for entry in exported} == {"invite.create"}
