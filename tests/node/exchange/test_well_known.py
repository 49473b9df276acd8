"""GET /.well-known/praevnet and the JSON answers for paths and methods the node does not serve."""

from __future__ import annotations

import json

import pytest

from node.store import now
from protocol.descriptor import verify_descriptor
from tests.conftest import FakePeer, body_of
from tests.node.conftest import Served, refusal, stored


async def test_descriptor_verifies_and_names_the_node(served: Served) -> None:
    response = await served.client.get("/.well-known/praevnet")
    raw = await response.read()
    assert response.status == 200
    assert response.content_type == "application/json"
    descriptor = verify_descriptor(json.loads(raw), now=now())
    node = served.node
    assert descriptor["node_id"] == node.node_id
    assert descriptor["url"] == node.config.url == f"http://127.0.0.1:{served.port}"
    assert descriptor["name"] == "Stadt A"
    assert descriptor["keys"] == {node.key.key_id: node.key.public_b64}
    assert "max-age" in response.headers["Cache-Control"]
    assert raw == body_of(descriptor)  # served in canonical bytes


async def test_descriptor_carries_no_secret(served: Served) -> None:
    raw = await (await served.client.get("/.well-known/praevnet")).read()
    seed = served.node.key.seed
    assert seed not in raw
    assert seed.hex().encode() not in raw


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/nothing/here"),
        ("GET", "/.well-known/praevnet/x"),
        ("GET", "/fed/v2/outbox"),
        ("PUT", "/fed/v1/inbox"),
        ("PUT", "/fed/v1/inbox/a/b"),
    ],
)
async def test_unknown_path(served: Served, method: str, path: str) -> None:
    response = await served.client.request(method, path)
    await refusal(response, 404, "not_found", "not found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/fed/v1/inbox/x"),
        ("POST", "/fed/v1/inbox/x"),
        ("DELETE", "/fed/v1/inbox/x"),
        ("POST", "/fed/v1/outbox"),
        ("PUT", "/.well-known/praevnet"),
    ],
)
async def test_wrong_method(served: Served, method: str, path: str) -> None:
    response = await served.client.request(method, path)
    await refusal(response, 405, "method_not_allowed", "not allowed")
    assert "Allow" in response.headers


async def test_wrong_method_even_when_signed_stores_nothing(served: Served, peer_b: FakePeer) -> None:
    body = body_of({"envelopes": [peer_b.envelope()]})
    response, _ = await served.signed(peer_b, "POST", "/fed/v1/inbox/x", body)
    await refusal(response, 405, "method_not_allowed", "not allowed")
    assert stored(served.node) == (0, 0)
