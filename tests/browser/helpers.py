"""Helpers for browser tests: Debian's Chromium under Playwright, logging in, axe-core checks, screenshots.

Playwright's own browser download does not work on these machines, so the tests launch the
`chromium` that .ci/run installs with apt-get, through Playwright's `executable_path`. The tests
use Playwright's sync API (plain sync tests): it marks its own event loop as running between
calls, so a browser must never be open while an asyncio test runs (tests/browser/conftest.py
closes it when the package's tests are done).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, Response

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox does not start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORD = "richtig-langes-passwort"
TIMEOUT_MS = 15_000  # for every page action; a page of ours answers in milliseconds
BLOCKING_IMPACTS = ("serious", "critical")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")

# What the focused element shows, as the browser computed it: an outline or a box shadow.
_FOCUS_STYLE = """() => {
  const element = document.activeElement;
  if (!element || element === document.body) return null;
  const style = getComputedStyle(element);
  return {
    tag: element.tagName.toLowerCase(),
    id: element.id,
    href: element.getAttribute("href"),
    name: element.getAttribute("name"),
    text: (element.innerText || element.value || "").trim().slice(0, 60),
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0
      && style.outlineColor !== "transparent" && style.outlineColor !== "rgba(0, 0, 0, 0)",
    shadow: style.boxShadow !== "none",
    visible: element.getBoundingClientRect().width > 0 && element.getBoundingClientRect().left >= 0,
  };
}"""


def new_context(browser: Browser) -> BrowserContext:
    """A fresh browser context (no cookies), asking for German as a browser in a German office does."""
    made = browser.new_context(locale="de-DE", viewport={"width": 1280, "height": 900})
    made.set_default_timeout(TIMEOUT_MS)
    return made


@contextlib.contextmanager
def desk(browser: Browser) -> Iterator[Page]:
    """A page in a context of its own: another officer at another desk, with their own session."""
    context = new_context(browser)
    try:
        yield context.new_page()
    finally:
        context.close()


def status_of(response: Response | None) -> int:
    """The HTTP status of a navigation's response (which Playwright types as optional)."""
    assert response is not None, "the navigation got no response"
    return response.status


def login(page: Page, base_url: str, name: str, password: str = PASSWORD, then: str = "/") -> int:
    """Open the login page of `base_url`, fill in the form as an officer does, submit it; the answer's status.

    `then` is the page the login leads to, as after following a link while logged out.
    """
    page.goto(f"{base_url}/login?{urlencode({'next': then})}")
    page.fill("#name", name)
    page.fill("#password", password)
    with page.expect_navigation() as navigation:
        page.click("form[action='/login'] button[type=submit]")
    return status_of(navigation.value)


def focused(page: Page) -> dict[str, Any] | None:
    """The element that has the keyboard focus: tag, id, href, name, text, and whether its focus shows."""
    result: dict[str, Any] | None = page.evaluate(_FOCUS_STYLE)
    return result


def tab_through(page: Page, presses: int) -> list[dict[str, Any]]:
    """Press Tab `presses` times from where the focus is, and describe each element that got the focus."""
    stops = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        here = focused(page)
        if here is not None:
            stops.append(here)
    return stops


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core (shipped by axe-playwright-python) on the page; the violations it finds, every impact."""
    results = Axe().run(page)
    violations: list[dict[str, Any]] = results.response["violations"]
    return violations


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """Rule id, impact, help text and the target of every node concerned, one violation a paragraph."""
    parts = []
    for violation in violations:
        lines = [f"{violation['id']} ({violation['impact']}): {violation['help']}"]
        for node in violation["nodes"]:
            lines.append(f"    at {node['target']}: {node.get('failureSummary', '').strip()}")
        parts.append("\n".join(lines))
    return "\n".join(parts)


def assert_accessible(page: Page) -> None:
    """Fail, naming rule, impact and elements, if axe-core finds a serious or critical violation on the page."""
    blocking = [v for v in axe_violations(page) if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"axe-core found on {page.url}:\n{describe_violations(blocking)}"


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG of the page as test-artifacts/screenshots/<name>.png, for a reviewer to look at."""
    assert _NAME.fullmatch(name), f"screenshot names are lowercase words with dashes, not {name!r}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
