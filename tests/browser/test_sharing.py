"""Writing, sharing and releasing in the browser, between two real nodes: what is kept local never leaves.

Augsburg releases with four eyes; Bonn does not. Two `praevnet serve` processes, paired, run for the
whole module; what arrives is read from the receiving node's own database.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from node.exchange.received import list_inbox
from tests.browser.conftest import ServeUi
from tests.browser.helpers import assert_accessible, desk, login, screenshot, status_of
from tests.e2e.helpers import ServedNode, wait_for

pytestmark = pytest.mark.e2e

TITLE = "Beleuchtete Straßen gegen Wohnungseinbruchdiebstahl"
SUMMARY = "Mehr Licht in Hinterhöfen und Durchgängen; die Zahl der Einbrüche im Quartier sank."
COSTS = "KOSTEN-LOKAL-4711: 12.000 Euro aus dem Präventionsbudget"
NOTES = "NOTIZ-LOKAL-0815: Gespräch mit dem Bauamt steht noch aus"
HEADLINE = "Falsche Wasserwerker in Seniorenwohnungen"


@pytest.fixture(scope="module")
def cities(serve_ui: ServeUi) -> tuple[ServedNode, ServedNode]:
    """Augsburg (four-eyes release; approvers anna and anton) and Bonn (officer olga), paired."""
    users = {"anna": "approver", "anton": "approver", "olga": "officer"}
    four_eyes = {"Stadt Augsburg": {"release": {"four_eyes": True}}}
    augsburg, bonn = serve_ui("Stadt Augsburg", "Stadt Bonn", users=users, node_settings=four_eyes, paired=True)
    return augsburg, bonn


def received(node: ServedNode, kind: str) -> list[dict[str, Any]]:
    """What `node` has received of `kind`, read from its database."""
    with node.opened() as opened:
        return [item for item in list_inbox(opened) if item["kind"] == kind]


def submit(page: Page, selector: str) -> int:
    """Click the submit button `selector` and wait for the page it leads to; the answer's status."""
    with page.expect_navigation() as navigation:
        page.click(selector)
    return status_of(navigation.value)


def test_a_report_with_a_field_kept_local_is_released_by_a_second_person_and_arrives_without_it(
    page: Page, browser: Browser, cities: tuple[ServedNode, ServedNode]
) -> None:
    augsburg, bonn = cities
    assert login(page, augsburg.ui_url, "anna") == 200
    page.click("nav a[href='/records']")
    page.click("a[href='/records/new']")
    assert_accessible(page)
    screenshot(page, "record-new")
    page.fill("[id='title']", TITLE)
    page.fill("[id='summary']", SUMMARY)
    page.fill("[id='implementation.costs']", COSTS)
    page.check("[id='local.implementation.costs']")
    page.fill("[id='internal_notes']", NOTES)
    assert submit(page, "#form button[type=submit]") == 200
    assert page.locator("h1").inner_text().endswith(TITLE)
    assert_accessible(page)
    screenshot(page, "record")

    page.click("a[href$='/share']")
    page.check("#to")  # Bonn, the only partner
    assert submit(page, "form[action$='/share'] button[type=submit]") == 200
    preview = page.locator("section[id^='preview-']")
    assert "Bleibt lokal, wird nicht geteilt:" in preview.inner_text()
    kept = page.locator(".pv-absent li").all_inner_texts()
    assert "Kosten" in kept
    assert "Interne Notizen" in kept
    assert page.locator("[data-pv-field='implementation.costs']").count() == 0
    assert COSTS not in preview.inner_text()
    assert NOTES not in preview.inner_text()
    assert TITLE in preview.inner_text()
    assert_accessible(page)
    screenshot(page, "share-preview")
    assert submit(page, "#share-button") == 200
    assert "Zur Freigabe gesendet" in page.locator("main").inner_text()
    assert received(bonn, "experience") == []  # nothing leaves before the release

    # The author may release in general, but not her own request.
    page.click("nav a[href='/releases']")
    assert "Eine andere Person muss sie freigeben" in page.locator("main").inner_text()
    assert page.locator("form input[name=action][value=release]").count() == 0
    assert_accessible(page)

    with desk(browser) as his:  # anton, the second approver
        assert login(his, augsburg.ui_url, "anton") == 200
        his.goto(f"{augsburg.ui_url}/releases")
        assert TITLE in his.locator("main").inner_text()
        assert COSTS not in his.locator("main").inner_text()
        screenshot(his, "releases")
        assert submit(his, "form:has(input[name=action][value=release]) button[type=submit]") == 200

    arrived = wait_for(lambda: received(bonn, "experience"), 30, "Bonn to receive the released report")
    assert arrived[0]["verified"]
    assert arrived[0]["content"]["title"] == TITLE
    assert "costs" not in arrived[0]["content"].get("implementation", {})
    assert "internal_notes" not in arrived[0]["content"]
    stored = bonn.stored_bytes()
    assert TITLE.encode() in stored
    assert b"KOSTEN-LOKAL-4711" not in stored
    assert b"NOTIZ-LOKAL-0815" not in stored


def test_an_alert_shows_the_band_partners_get_and_arrives_with_it(
    page: Page, cities: tuple[ServedNode, ServedNode]
) -> None:
    augsburg, bonn = cities
    assert login(page, bonn.ui_url, "olga", then="/records") == 200
    page.click("nav a[href='/alerts/new']")
    page.fill("[id='headline']", HEADLINE)
    page.fill("[id='area.name']", "Stadtbezirk Beuel")
    page.fill("[id='expires']", (datetime.now() + timedelta(days=7)).strftime("%d.%m.%Y %H:%M"))
    page.fill("[id='case_count']", "14")
    assert page.locator("[id='case_count-band']").inner_text() == "10-19"  # shown as the officer types
    page.check("#audience-peers")
    page.check("#to-1")  # Augsburg
    assert_accessible(page)
    screenshot(page, "alert-new")
    assert submit(page, "#form button[type=submit]") == 200
    preview = page.locator("section[id^='preview-']").inner_text()
    assert HEADLINE in preview
    assert "10-19" in preview
    assert_accessible(page)
    screenshot(page, "alert-preview")
    assert submit(page, "form[action$='/send'] button[type=submit]") == 200
    assert "Warnung gesendet an Stadt Augsburg" in page.locator("main").inner_text()

    page.click("nav a[href='/records']")
    assert HEADLINE in page.locator("main table").inner_text()  # listed with the city's own records
    arrived = wait_for(lambda: received(augsburg, "alert"), 30, "Augsburg to receive the alert")
    assert arrived[0]["verified"]
    assert arrived[0]["content"]["case_band"] == "10-19"
    assert "case_count" not in arrived[0]["content"]


def test_bonn_reads_the_report_verified_and_finds_it_by_an_umlaut_word_and_a_part_of_a_compound(
    page: Page, cities: tuple[ServedNode, ServedNode]
) -> None:
    """Runs after the release above: the report Augsburg released is in Bonn's pool of experience."""
    _augsburg, bonn = cities
    wait_for(lambda: received(bonn, "experience"), 30, "Bonn to receive the released report")
    assert login(page, bonn.ui_url, "olga") == 200
    assert TITLE in page.locator("main").inner_text()  # the overview lists new reports from partners
    screenshot(page, "overview")

    page.click("nav a[href='/inbox']")
    page.fill("#q", "Strassen")  # typed without ß
    assert submit(page, "form[role=search] button[type=submit]") == 200
    hits = page.locator("#hits li")
    assert hits.count() == 1
    assert "Straßen" in hits.locator("mark").all_inner_texts()
    assert_accessible(page)
    screenshot(page, "inbox-search")

    page.fill("#q", "Einbruch")  # a part of Wohnungseinbruchdiebstahl
    assert submit(page, "form[role=search] button[type=submit]") == 200
    assert page.locator("#hits li").count() == 1
    marks = [text.casefold() for text in page.locator("#hits mark").all_inner_texts()]
    assert "einbruch" in marks

    page.click("#hits li h3 a")
    assert page.locator("h1").inner_text() == TITLE
    assert page.locator("[data-pv-verified=yes]").count() == 1
    assert "Stadt Augsburg" in page.locator("#verification").inner_text()
    assert page.locator("[data-pv-state=current]").count() == 1
    assert COSTS not in page.locator("main").inner_text()
    assert_accessible(page)
    screenshot(page, "received")


PHONE = "0821 324-1234"
CHECKED_TITLE = "Sprechstunde im Quartiersbüro"


def confirm_personal_data(page: Page, screenshot_name: str) -> None:
    """The personal-data block: refused without the tick (the error beside the box), then confirmed."""
    block = page.locator("section[aria-labelledby='check-h']")
    assert "Mögliche personenbezogene Daten" in block.inner_text()
    assert page.locator("mark.pv-finding").first.inner_text().startswith(PHONE)
    assert submit(page, "section[aria-labelledby='check-h'] button[type=submit]") == 400
    assert "Bitte bestätigen" in page.locator("#pii_checked-error").inner_text()
    assert_accessible(page)
    screenshot(page, screenshot_name)
    page.check("#pii_checked")
    assert submit(page, "section[aria-labelledby='check-h'] button[type=submit]") == 200
    assert page.locator("section[aria-labelledby='check-h']").count() == 0


def test_a_phone_number_is_confirmed_before_the_report_and_its_new_version_leave(
    page: Page, cities: tuple[ServedNode, ServedNode]
) -> None:
    augsburg, bonn = cities
    assert login(page, bonn.ui_url, "olga", then="/records/new") == 200
    page.fill("[id='title']", CHECKED_TITLE)
    page.fill("[id='summary']", f"Rückfragen unter {PHONE} beim Ordnungsamt.")
    assert submit(page, "#form button[type=submit]") == 200
    record_url = page.url

    page.click("a[href$='/share']")
    page.check("#to")  # Augsburg, the only partner
    assert submit(page, "form[action$='/share'] button[type=submit]") == 200
    assert page.locator("#share-button").count() == 0  # nothing can leave before the confirmation
    confirm_personal_data(page, "share-preview-personal-data")
    assert submit(page, "#share-button") == 200
    wait_for(
        lambda: [r for r in received(augsburg, "experience") if r["content"]["title"] == CHECKED_TITLE],
        30,
        "Augsburg to receive the confirmed report",
    )

    page.goto(f"{record_url}/edit")
    page.fill("[id='summary']", f"Neue Sprechzeiten, Rückfragen weiter unter {PHONE}.")
    assert submit(page, "#form button[type=submit]") == 200
    assert page.url.endswith("/update")
    assert page.locator("#send-button").count() == 0
    confirm_personal_data(page, "record-update-personal-data")
    assert page.locator("#send-button").count() == 1
