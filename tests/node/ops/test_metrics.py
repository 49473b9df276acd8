"""Issue 13: the Prometheus metrics of real nodes exchanging real traffic, read with prometheus-client's parser."""

from __future__ import annotations

import io
import shutil
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY, generate_latest
from pytest_aiohttp import AiohttpClient

from node import audit
from node.home import Node
from node.ops.admin import create_admin_app
from node.sharing.records import add_record, send_alert
from node.sharing.shares import share_record
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from tests.conftest import FakePeer, alert_content
from tests.node.conftest import Served
from tests.node.federation import Federation
from tests.node.ops.metrics_text import label_values, promtool_problems, scrape, value

Client = TestClient[Any, Any]
INBOX = "/fed/v1/inbox/{txn_id}"
RECORD = {"title": "Enkeltrick am Telefon", "summary": "Anrufer geben sich als Polizei aus."}


async def admin_of(node: Node, aiohttp_client: AiohttpClient) -> Client:
    """The node's admin application, served on loopback; from now on the node's events are counted."""
    return await aiohttp_client(create_admin_app(node))


async def test_sent_received_queues_latency_and_lag_follow_real_traffic(
    federation: Federation, aiohttp_client: AiohttpClient
) -> None:
    augsburg = await federation.add("Augsburg")
    bonn = await federation.add("Bonn")
    federation.pair(augsburg, bonn)
    a_admin, b_admin = await admin_of(augsburg, aiohttp_client), await admin_of(bonn, aiohttp_client)
    record_id = add_record(augsburg, "experience", RECORD, by=ADMIN)
    share_record(augsburg, record_id, [bonn.node_id], all_peers=False, by=ADMIN)
    send_alert(augsburg, alert_content(), [], all_peers=True, by=ADMIN)

    _, queued = await scrape(a_admin)
    assert value(queued, "praevnet_peer_queue_depth", peer=bonn.node_id) == 2
    assert value(queued, "praevnet_peer", peer=bonn.node_id, name="Bonn") == 1
    assert value(queued, "praevnet_envelopes_sent_total", kind="experience", outcome="delivered") == 0

    await federation.deliver(augsburg)
    _, sent = await scrape(a_admin)
    _, received = await scrape(b_admin)
    for kind in ("experience", "alert"):
        assert value(sent, "praevnet_envelopes_sent_total", kind=kind, outcome="delivered") == 1
        assert value(received, "praevnet_envelopes_received_total", kind=kind, outcome="accepted") == 1
        assert value(sent, "praevnet_envelopes_received_total", kind=kind, outcome="accepted") == 0  # its own registry
    assert value(sent, "praevnet_peer_queue_depth", peer=bonn.node_id) == 0
    assert value(sent, "praevnet_peer_in_flight", peer=bonn.node_id) == 0
    assert value(sent, "praevnet_peer_failures", peer=bonn.node_id) == 0
    pushes = value(received, "praevnet_http_requests_total", route=INBOX, method="PUT", status="200")
    assert pushes is not None
    assert pushes >= 1
    assert value(received, "praevnet_http_request_duration_seconds_count", route=INBOX, method="PUT") == pushes
    assert label_values(received, "praevnet_http_requests_total", "route") <= {INBOX, "/.well-known/praevnet"}

    assert value(received, "praevnet_pull_lag_seconds", peer=augsburg.node_id) is None  # never pulled yet
    report = await federation.pull(bonn, augsburg)
    assert report.get("duplicate", 0) == 0  # what the push delivered does not come again (SPEC 8.3)
    assert not report["more"]
    _, pulled = await scrape(b_admin)
    lag = value(pulled, "praevnet_pull_lag_seconds", peer=augsburg.node_id)
    assert lag is not None
    assert lag >= 0
    assert value(pulled, "praevnet_envelopes_received_total", kind="alert", outcome="duplicate") in (None, 0)
    _, served = await scrape(a_admin)
    assert value(served, "praevnet_http_requests_total", route="/fed/v1/outbox", method="GET", status="200") == 1

    head = audit.head(augsburg)
    assert head is not None
    assert value(served, "praevnet_audit_chain_length") == head["seq"] > 0
    size = value(served, "praevnet_database_size_bytes", file="main")
    assert size == (augsburg.home / "praevnet.db").stat().st_size > 0
    start = value(served, "process_start_time_seconds")
    assert start is not None
    assert start > 0
    assert value(served, "praevnet_state_readable") == 1
    assert b"praevnet_" not in generate_latest(REGISTRY)  # each node's registry is its own, never the global one


async def test_refusals_are_counted_by_reason_and_labels_stay_bounded(
    served: Served, peer_b: FakePeer, aiohttp_client: AiohttpClient
) -> None:
    admin = await admin_of(served.node, aiohttp_client)
    unsigned = await served.client.put("/fed/v1/inbox/t0", data=b"{}", headers={"Content-Type": "application/json"})
    assert unsigned.status == 401
    too_big = await served.client.put(
        "/fed/v1/inbox/t1", data=io.BytesIO(b"x" * (1024 * 1024 + 1)), headers={"Content-Type": "application/json"}
    )
    assert too_big.status == 413
    forged = peer_b.envelope()
    forged["content"]["title"] = "changed after signing"
    unknown_kind = peer_b.envelope()
    unknown_kind["type"] = "weird-kind-4711"
    peer_c = FakePeer("Stadt C", "http://127.0.0.1:11").trusted_by(served.node)
    relayed = peer_c.envelope()  # verifies, but B may not pass on C's TLP:AMBER envelope: policy
    before = (peer_b.seq, peer_b.prev)
    first = peer_b.envelope()
    response, _ = await served.put_inbox(
        peer_b, "t2", canonical_bytes({"envelopes": [forged, unknown_kind, relayed, first]})
    )
    assert [r["status"] for r in (await response.json())["results"]] == ["refused", "refused", "refused", "accepted"]
    peer_b.seq, peer_b.prev = before
    fork = peer_b.envelope({"title": "Anders", "summary": "Gleiche Stelle der Kette, anderer Inhalt"})
    response, _ = await served.put_inbox(peer_b, "t3", canonical_bytes({"envelopes": [fork]}))
    assert [r["status"] for r in (await response.json())["results"]] == ["refused"]
    odd = await served.client.request("PROPFIND", "/fed/v1/coffee-7c1e9a")
    assert odd.status in (404, 405)

    text, samples = await scrape(admin)
    assert value(samples, "praevnet_refusals_total", reason="auth") == 1
    assert value(samples, "praevnet_refusals_total", reason="size") == 1
    assert value(samples, "praevnet_refusals_total", reason="signature") == 2  # the forged one, the unknown kind
    assert value(samples, "praevnet_refusals_total", reason="conflict") == 1
    assert value(samples, "praevnet_refusals_total", reason="policy") == 1  # the relayed one
    assert value(samples, "praevnet_envelopes_received_total", kind="unknown", outcome="refused") == 1
    assert value(samples, "praevnet_envelopes_received_total", kind="experience", outcome="accepted") == 1
    assert value(samples, "praevnet_envelopes_received_total", kind="experience", outcome="refused") == 3
    for made_up in ("weird-kind-4711", "coffee-7c1e9a", "PROPFIND", "/t0"):  # what a client chose is no label
        assert made_up not in text
    assert label_values(samples, "praevnet_http_requests_total", "route") == {INBOX, "unmatched"}
    assert label_values(samples, "praevnet_http_requests_total", "method") == {"PUT", "other"}


async def test_metrics_still_answer_when_the_database_cannot_be_read(
    served: Served, aiohttp_client: AiohttpClient
) -> None:
    admin = await admin_of(served.node, aiohttp_client)
    served.node.db.close()
    _, samples = await scrape(admin)
    assert value(samples, "praevnet_state_readable") == 0
    assert value(samples, "praevnet_audit_chain_length") is None
    assert value(samples, "process_start_time_seconds") is not None


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus package) is not installed")
async def test_promtool_finds_nothing_to_complain_about(federation: Federation, aiohttp_client: AiohttpClient) -> None:
    augsburg = await federation.add("Augsburg")
    bonn = await federation.add("Bonn")
    federation.pair(augsburg, bonn)
    admin = await admin_of(bonn, aiohttp_client)
    send_alert(augsburg, alert_content(), [], all_peers=True, by=ADMIN)
    await federation.deliver(augsburg)
    await federation.pull(bonn, augsburg)
    text, _ = await scrape(admin)
    assert promtool_problems(text) is None
