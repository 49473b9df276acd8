"""Issue 13: the admin application - /healthz, /readyz naming what failed, and nothing else it answers."""

from __future__ import annotations

import io
import sqlite3
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from node.home import DB_FILE, Node
from node.migrations import STEPS
from node.ops.admin import create_admin_app
from node.trust.keyring import rotate_key
from node.users import ADMIN
from tests.node.conftest import NodeFactory, Served

Client = TestClient[Any, Any]


@pytest.fixture
def node(make_node: NodeFactory) -> Node:
    return make_node("Stadt A")


@pytest.fixture
async def admin(node: Node, aiohttp_client: AiohttpClient) -> Client:
    """The node's admin application, served on loopback."""
    return await aiohttp_client(create_admin_app(node))


async def ready(admin: Client) -> tuple[int, dict[str, Any]]:
    response = await admin.get("/readyz")
    return response.status, await response.json()


async def test_healthz_answers_and_readyz_checks_a_sound_node(admin: Client) -> None:
    response = await admin.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
    assert await ready(admin) == (
        200,
        {"status": "ready", "checks": {"database": "ok", "keys": "ok", "migrations": "ok"}},
    )


async def test_readyz_fails_while_another_writer_holds_the_database(node: Node, admin: Client) -> None:
    other = sqlite3.connect(node.home / DB_FILE, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        status, body = await ready(admin)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert status == 503
    assert body["failed"] == ["database"]
    assert "no write transaction can begin: database is locked" in body["checks"]["database"]
    assert (await ready(admin))[0] == 200


async def test_readyz_fails_when_the_database_file_is_gone(node: Node, admin: Client) -> None:
    path = node.home / DB_FILE
    path.rename(node.home / "moved.db")
    try:
        status, body = await ready(admin)
    finally:
        (node.home / "moved.db").rename(path)
    assert status == 503
    assert body["failed"] == ["database", "keys", "migrations"]
    assert body["checks"]["database"].startswith(f"cannot open {path} for writing")


async def test_readyz_fails_until_the_node_loads_its_new_key(node: Node, admin: Client) -> None:
    elsewhere = Node.open(node.home)  # the CLI rotates the key while the node serves
    try:
        rotate_key(elsewhere, by=ADMIN)
    finally:
        elsewhere.close()
    status, body = await ready(admin)
    assert status == 503
    assert body["failed"] == ["keys"]
    assert body["checks"]["keys"].startswith("the node signs with key version 1, but version 2 is current")
    node.reload_keys()
    assert (await ready(admin))[0] == 200


async def test_readyz_fails_when_the_schema_is_not_current(node: Node, admin: Client) -> None:
    last = STEPS[-1].name
    node.db.execute("DELETE FROM _sqlite_migrations WHERE name = ?", (last,))
    status, body = await ready(admin)
    assert status == 503
    assert body["failed"] == ["migrations"]
    assert body["checks"]["migrations"] == f"1 schema step(s) not run ({last}); restart the node to run them"
    node.db.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('praevnet', ?, 'now'),"
        " ('praevnet', '9999_from_the_future', 'later')",
        (last,),
    )
    status, body = await ready(admin)
    assert status == 503
    assert "schema steps this version does not know (9999_from_the_future)" in body["checks"]["migrations"]


@pytest.mark.parametrize("path", ["/", "/metrics/", "/health", "/fed/v1/outbox", "/.well-known/praevnet", "/login"])
async def test_unknown_paths_are_404(admin: Client, path: str) -> None:
    response = await admin.get(path)
    assert response.status == 404
    assert (await response.json())["error"] == "Not Found"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz"])
async def test_methods_other_than_get_are_405(admin: Client, method: str, path: str) -> None:
    response = await admin.request(method, path)
    assert response.status == 405
    assert response.headers["Allow"] == "GET"


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz"])
async def test_no_request_body_and_no_query_are_taken(admin: Client, path: str) -> None:
    with_body = await admin.request("GET", path, data=b"x=1", headers={"Content-Type": "text/plain"})
    assert with_body.status == 400
    assert (await with_body.json())["message"] == "the admin endpoints take no request body"
    chunked = await admin.request("GET", path, data=io.BytesIO(b"y" * 4096), chunked=True)
    assert chunked.status == 400
    with_query = await admin.get(f"{path}?name[]=praevnet_info")
    assert with_query.status == 400
    assert (await with_query.json())["message"] == "the admin endpoints take no query parameters"


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz"])
async def test_the_federation_port_serves_no_metrics_and_no_health(served: Served, path: str) -> None:
    create_admin_app(served.node)  # counting the node's events adds nothing to its federation server
    response = await served.client.get(path)
    assert response.status == 404
    assert "praevnet_" not in await response.text()
