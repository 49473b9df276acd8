"""The demo: three city nodes exchange a record and an alert, in-process and as `praevnet demo`.

Each city's web interface starts too, and the printed addresses and demo login work: a real HTTP
login through the login form, with its CSRF token and the session cookie, as a browser does it.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import re
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from node.config import load_config
from node.exchange.demo import CITIES, LOCAL_NOTE, run_demo
from tests.e2e.helpers import PRAEVNET, cli_env, wait_for
from web.app import create_ui_app

CITY_URL = re.compile(r"^    (Stadt \w+): (http://127\.0\.0\.1:\d+/)$", re.M)
DEMO_LOGIN = re.compile(r"log in as user '([a-z]+)' with password '([^']+)'")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def printed_logins(text: str) -> tuple[dict[str, str], str, str]:
    """The web interface addresses (city name -> URL), user and password the demo printed."""
    block = text[text.index("Open a city's web interface") :]
    urls = dict(CITY_URL.findall(block.split("\n\n")[0]))
    found = DEMO_LOGIN.search(text)
    assert found is not None, f"the demo printed no login:\n{text}"
    return urls, found.group(1), found.group(2)


def http_login(url: str, user: str, password: str) -> tuple[int, str]:
    """Log in at the web interface `url` through its login form; the status and page it ends on."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(urllib.parse.urljoin(url, "login"), timeout=10) as page:
        form = page.read().decode("utf-8")
    token = CSRF.search(form)
    assert token is not None, f"no login form with a CSRF token at {url}login:\n{form}"
    data = urllib.parse.urlencode({"csrf_token": token.group(1), "name": user, "password": password, "next": "/"})
    try:
        with opener.open(urllib.parse.urljoin(url, "login"), data=data.encode(), timeout=10) as answer:
            return answer.status, answer.read().decode("utf-8")
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode("utf-8")


def assert_logins_work(text: str) -> None:
    """Every city's printed address shows the login page, the printed login gets in, a wrong one does not."""
    urls, user, password = printed_logins(text)
    assert sorted(urls) == sorted(name for _, name in CITIES), text
    for name, url in urls.items():
        status, page = http_login(url, user, password)
        assert status == 200, page
        assert '<h1 class="kern-heading-large">Übersicht</h1>' in page, page
        assert f"Angemeldet als <strong>{user}</strong>" in page
        assert f"praevnet · {name}" in page
        status, page = http_login(url, user, password + "x")
        assert status == 401, page
        assert "Übersicht</h1>" not in page


def stored_in(home: Path, text: str) -> bool:
    """Whether `text` occurs in any byte of the database files in `home`."""
    return any(text.encode() in path.read_bytes() for path in home.glob("praevnet.db*"))


async def test_run_demo_delivers_verified_and_keeps_local_notes_home(tmp_path: Path) -> None:
    lines: list[str] = []
    outcome = await run_demo(tmp_path, lines.append, hold=None)
    assert outcome["arrived"] is True
    assert outcome["leaked"] is False
    assert "experience" not in outcome["chemnitz_kinds"]
    assert outcome["chemnitz_kinds"] == ["alert"]
    text = "\n".join(lines)
    assert text.count("signature verified") == 3, text
    assert "NOT VERIFIED" not in text
    assert "not a byte of them in any other city's database" in text
    assert sorted(outcome) == ["alert_id", "arrived", "chemnitz_kinds", "leaked", "record_id"]
    assert outcome["record_id"] in text
    assert outcome["alert_id"] in text
    assert "web interface" not in text  # none was asked for
    # The demo's leak check can see a local note where it is: at home in Augsburg.
    assert stored_in(tmp_path / "augsburg", LOCAL_NOTE)
    assert not stored_in(tmp_path / "bonn", LOCAL_NOTE)


async def test_run_demo_serves_each_city_s_web_interface_with_the_printed_login(tmp_path: Path) -> None:
    lines: list[str] = []
    checked: list[bool] = []

    async def log_in_while_up() -> None:
        # the interfaces run in this event loop: the blocking login goes to a thread
        await asyncio.to_thread(assert_logins_work, "\n".join(lines))
        checked.append(True)

    outcome = await run_demo(tmp_path, lines.append, hold=log_in_while_up, ui=create_ui_app)
    assert checked == [True]
    assert outcome["arrived"] is True
    urls, _, _ = printed_logins("\n".join(lines))
    for slug in ("augsburg", "bonn", "chemnitz"):  # `praevnet id --home` names the address the demo printed
        assert load_config(tmp_path / slug / "praevnet.toml").ui_url in urls.values()
    async with aiohttp.ClientSession() as client:
        for url in urls.values():  # stopped with the demo
            with pytest.raises(aiohttp.ClientConnectionError):
                await client.get(url)


@pytest.mark.e2e
def test_praevnet_demo_runs_until_ctrl_c(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    output = tmp_path / "demo.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [PRAEVNET, "demo", "--dir", str(directory)], stdout=sink, stderr=subprocess.STDOUT, env=cli_env()
        )
    try:

        def prompted() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"demo exited early with {process.returncode}:\n{output.read_text()}")
            return "press Ctrl-C" in output.read_text(encoding="utf-8")

        wait_for(prompted, 30, "the demo to finish its exchange and wait for Ctrl-C")
        assert_logins_work(output.read_text(encoding="utf-8"))
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0, output.read_text(encoding="utf-8")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    text = output.read_text(encoding="utf-8")
    assert text.count("signature verified") == 3, text
    assert "Traceback" not in text
    assert text.rstrip().endswith("stopped"), text
    assert sorted(path.name for path in directory.iterdir()) == ["augsburg", "bonn", "chemnitz"]
