"""Fixtures for browser tests: one Chromium for the package, real `praevnet serve` processes per module.

The browser is Debian's Chromium under Playwright's sync API (tests/browser/helpers.py). It is
shared by every test in tests/browser and closed when they are done (package scope), because the
sync API marks its event loop as running in this thread while it is open, which the asyncio tests
in later packages could not run beside. Each test gets its own browser context (cookies, storage).

Served nodes are started once per module (`serve_ui`), on loopback ports held by the module, with
their users created in the home before the start; each test logs in on its own.
"""

from __future__ import annotations

import contextlib
import itertools
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from node.home import init_home
from node.users import ADMIN, add_user
from tests.browser.helpers import CHROMIUM, LAUNCH_ARGS, PASSWORD, new_context
from tests.e2e.helpers import ServedNode, pair_directly, shut_down, wait_for
from tests.ports import Port

USERS = {"olga": "officer", "otto": "officer", "anton": "approver", "ada": "admin"}

ServeUi = Callable[..., list[ServedNode]]


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, for every test in tests/browser."""
    assert CHROMIUM.exists(), f"the browser tests need {CHROMIUM}: apt-get install -y chromium (.ci/run does this)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context (no cookies) for the test, in German."""
    made = new_context(browser)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A new tab in the test's own browser context."""
    return context.new_page()


def ui_ready(node: ServedNode) -> bool:
    """Whether the node's web interface answers its login page; fails the test if the process died."""
    node.assert_running()
    try:
        with urllib.request.urlopen(f"{node.ui_url}/login", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@pytest.fixture(scope="module")
def serve_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeUi]:
    """Factory: serve_ui("Stadt Bonn", ...) starts one `praevnet serve` per name, web interface included.

    Each node has its own home, a held loopback port for its URL and one for its web interface, and
    the users `users` (name -> role, default USERS) with the password PASSWORD. `settings` are
    written to every node's praevnet.toml before the start ({"ui": {"login_attempts": 3}}), and
    `node_settings` to the one it names ({"Stadt Bonn": {"release": {"four_eyes": True}}}); with
    `paired`, every two of the nodes trust each other; `environment` adds variables to the serve
    process of the node it names. The processes run until the module's tests
    are done.
    """
    made: list[ServedNode] = []
    ports: list[Port] = []
    base = tmp_path_factory.mktemp("browser")
    counter = itertools.count()

    def factory(
        *names: str,
        users: Mapping[str, str] = USERS,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        node_settings: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
        paired: bool = False,
        environment: Mapping[str, Mapping[str, str]] | None = None,
    ) -> list[ServedNode]:
        nodes = []
        for name in names:
            held, ui = Port(), Port()
            ports.extend((held, ui))
            home = base / f"{next(counter)}-{name.lower().replace(' ', '-')}"
            node = ServedNode(name=name, home=home, held=held, ui=ui, environment={**(environment or {}).get(name, {})})
            made.append(node)
            nodes.append(node)
            init_home(home, name=name, url=node.url)
            for chosen in (settings or {}, (node_settings or {}).get(name, {})):
                for section, values in chosen.items():
                    node.configure(section, **values)
            with node.opened() as opened:
                node.identity = opened.identity()
                for user, role in users.items():
                    add_user(opened, user, role, PASSWORD, by=ADMIN)
        if paired:
            for a, b in itertools.combinations(nodes, 2):
                pair_directly(a, b)
        for node in nodes:
            node.launch()
        for node in nodes:
            node.wait_ready()
            wait_for(partial(ui_ready, node), 20, f"{node.name}'s web interface at {node.ui_url}")
        return nodes

    try:
        yield factory
    finally:
        try:
            shut_down(made)
        finally:
            for port in ports:
                with contextlib.suppress(OSError):
                    port.close()
