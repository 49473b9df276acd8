"""Fixtures for the web interface: a node with one user per role, its UI app in-process, and logging in."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from node.home import Node
from node.users import ADMIN, add_user
from tests.node.federation import Federation
from web.app import create_ui_app

Client = TestClient[Any, Any]
PASSWORD = "richtig-langes-passwort"
USERS = {"olga": "officer", "otto": "officer", "anton": "approver", "ada": "admin"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def error_of(html: str, field: str) -> str:
    """The text of the error shown next to `field` (the element with id FIELD-error), or "" if there is none."""
    found = re.search(rf'id="{re.escape(field)}-error"[^>]*>(.*?)</p>', html, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)).strip() if found else ""


def csrf_of(html: str) -> str:
    """The CSRF token of the first form in a page."""
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Ui:
    """A node's web interface served in-process, with a client that keeps its cookies."""

    node: Node
    client: Client

    async def login(self, name: str, password: str = PASSWORD) -> Any:
        """Log in through the login form, as a browser does; return the final response."""
        page = await self.client.get("/login")
        token = csrf_of(await page.text())
        return await self.client.post(
            "/login", data={"csrf_token": token, "name": name, "password": password, "next": "/"}
        )

    async def token(self, path: str = "/") -> str:
        """A fresh CSRF token from `path` (the session's, as every form carries it)."""
        page = await self.client.get(path)
        return csrf_of(await page.text())

    async def post(self, path: str, data: dict[str, Any], *, csrf: bool = True, **kwargs: Any) -> Any:
        """Post a form to `path`, with the session's CSRF token unless `csrf` is False."""
        fields = dict(data)
        if csrf:
            fields.setdefault("csrf_token", await self.token())
        return await self.client.post(path, data=fields, **kwargs)


UiFactory = Callable[..., Any]


async def city(fed: Federation, aiohttp_client: AiohttpClient, config: dict[str, Any] | None = None) -> Ui:
    """Bonn (one user per role, `config` sections in its praevnet.toml) paired with Chemnitz and Dresden in
    `fed`; Bonn's web interface with olga logged in."""
    bonn = await fed.add("Bonn", config)
    for name in ("Chemnitz", "Dresden"):
        fed.pair(bonn, await fed.add(name))
    for name, role in USERS.items():
        add_user(bonn, name, role, PASSWORD, by=ADMIN)
    ui = Ui(bonn, await aiohttp_client(create_ui_app(bonn)))
    await ui.login("olga")
    return ui


@pytest.fixture
def ui_node(make_node: Callable[..., Node]) -> Node:
    """A node with the users olga and otto (officers), anton (approver) and ada (admin)."""
    node = make_node("Bonn")
    for name, role in USERS.items():
        add_user(node, name, role, PASSWORD, by=ADMIN)
    return node


@pytest.fixture
async def ui(ui_node: Node, aiohttp_client: AiohttpClient) -> Ui:
    """The web interface of `ui_node`, not logged in."""
    client = await aiohttp_client(create_ui_app(ui_node))
    return Ui(ui_node, client)
