"""An alert in the browser from sending to expiry: Bonn sends it, Augsburg sees it listed, and once its expiry
has passed it leaves both cities' current lists and is shown as expired where asked for.

Time is moved, not waited for: both `praevnet serve` processes run under Debian's libfaketime, whose
offset each test writes to a file the library reads again every second (FAKETIME_TIMESTAMP_FILE).
Both clocks move together, as two cities' clocks do.
"""

from __future__ import annotations

import glob
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import ServeUi
from tests.browser.helpers import assert_accessible, login, screenshot
from tests.browser.test_sharing import received, submit
from tests.e2e.helpers import ServedNode, wait_for

LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not LIBFAKETIME, reason="needs Debian's faketime (libfaketime), which .ci/run installs"),
]
HEADLINE = "Betrügerische Haustürgeschäfte mit Rauchmeldern"
OFFICE = ZoneInfo("Europe/Berlin")  # the zone the forms are read in


@pytest.fixture(scope="module")
def clock_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offset both nodes' clocks run at, in seconds ("+0" at the start)."""
    path = tmp_path_factory.mktemp("faketime") / "offset"
    path.write_text("+0\n")
    return path


@pytest.fixture(scope="module")
def cities(serve_ui: ServeUi, clock_file: Path) -> tuple[ServedNode, ServedNode]:
    """Augsburg and Bonn (officer olga in each), paired, both running on the clock of `clock_file`."""
    faked = {"LD_PRELOAD": LIBFAKETIME[0], "FAKETIME_TIMESTAMP_FILE": str(clock_file), "FAKETIME_CACHE_DURATION": "1"}
    names = ("Stadt Augsburg", "Stadt Bonn")
    augsburg, bonn = serve_ui(*names, users={"olga": "officer"}, paired=True, environment=dict.fromkeys(names, faked))
    return augsburg, bonn


def set_offset(clock_file: Path, offset: str) -> None:
    """Write the clock offset atomically: libfaketime in the nodes never reads a half-written file."""
    fresh = clock_file.with_suffix(".new")
    fresh.write_text(f"{offset}\n")
    fresh.replace(clock_file)


def clock_moved(base_url: str) -> bool:
    """Whether the node's clock runs more than an hour ahead: the Date header of its answer, as its clock says.

    (Whether a page asks for a login again says nothing here: both nodes share 127.0.0.1, and a browser's
    cookies do not tell ports apart, so logging in to one city ends the other's session in this browser.)
    """
    with urllib.request.urlopen(f"{base_url}/login") as response:
        said = parsedate_to_datetime(response.headers["Date"])
    return said > datetime.now(UTC) + timedelta(hours=1)


def test_a_sent_alert_is_listed_until_it_expires_then_shown_as_expired(
    page: Page, cities: tuple[ServedNode, ServedNode], clock_file: Path
) -> None:
    augsburg, bonn = cities
    assert login(page, bonn.ui_url, "olga") == 200
    page.click("nav a[href='/alerts/new']")
    page.fill("[id='headline']", HEADLINE)
    page.fill("[id='area.name']", "Altstadt")
    page.fill("[id='expires']", (datetime.now(OFFICE) + timedelta(hours=1)).strftime("%d.%m.%Y %H:%M"))
    page.check("#audience-all")
    assert submit(page, "#form button[type=submit]") == 200
    assert submit(page, "form[action$='/send'] button[type=submit]") == 200
    page.click("nav a[href='/records']")
    assert HEADLINE in page.locator("main table").inner_text()

    wait_for(lambda: received(augsburg, "alert"), 30, "Augsburg to receive the alert")
    assert login(page, augsburg.ui_url, "olga") == 200
    assert HEADLINE in page.locator("main").inner_text()  # Übersicht: current alerts
    page.goto(f"{augsburg.ui_url}/inbox?kind=alert")
    assert page.locator("#hits li").count() == 1

    set_offset(clock_file, f"+{int(timedelta(hours=2).total_seconds())}")  # an hour past the expiry
    wait_for(lambda: clock_moved(augsburg.ui_url), 90, "Augsburg's clock to move on")
    assert login(page, augsburg.ui_url, "olga") == 200
    assert HEADLINE not in page.locator("main").inner_text()
    assert "Keine aktuellen Warnungen." in page.locator("main").inner_text()
    page.goto(f"{augsburg.ui_url}/inbox?kind=alert")
    assert page.locator("#hits li").count() == 0
    page.goto(f"{augsburg.ui_url}/inbox?kind=alert&lapsed=1")
    assert page.locator("#hits li").count() == 1
    assert "abgelaufen" in page.locator("#hits li").inner_text()
    page.click("#hits li h3 a")
    assert page.locator("[data-pv-state=expired]").count() == 1
    assert_accessible(page)
    screenshot(page, "received-alert-expired")

    wait_for(lambda: clock_moved(bonn.ui_url), 90, "Bonn's clock to move on")
    assert login(page, bonn.ui_url, "olga", then="/records") == 200
    assert HEADLINE not in page.locator("main").inner_text()  # own list: current records and alerts
    page.click("a[href='/records?expired=1']")
    row = page.locator("main table tr", has_text=HEADLINE)
    assert row.locator("[data-pv-state=expired]").count() == 1
