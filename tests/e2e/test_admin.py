"""End to end (issue 13): a real `praevnet serve` answers metrics and health on its admin address only.

Two nodes exchange a record through the CLI; each one's /metrics, read with prometheus-client's parser
(and promtool where it is installed), counts what it sent or received; /healthz and /readyz answer
there and nowhere else: neither the federation port nor the web interface serves them.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.helpers import ServedNode, cli_json, run_cli, run_parallel, wait_for
from tests.node.ops.metrics_text import Samples, promtool_problems, value
from tests.ports import hold_port

NewNodes = Callable[..., list[ServedNode]]
RECORD = {"title": "Quartiersbegehungen", "summary": "Anwohner, Polizei und Ordnungsamt begehen das Quartier."}


def get(url: str) -> tuple[int, str, str]:
    """GET `url` without following redirects: status, Content-Type and body."""

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    try:
        with urllib.request.build_opener(Stay).open(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"] or "", exc.read().decode(errors="replace")


def metrics_of(node: ServedNode) -> tuple[str, Samples]:
    """The node's /metrics, parsed."""
    assert node.admin is not None
    status, content_type, text = get(f"{node.admin.url}/metrics")
    assert status == 200, text
    assert content_type.startswith("text/plain; version=0.0.4")
    return text, [sample for family in text_string_to_metric_families(text) for sample in family.samples]


@pytest.mark.e2e
def test_metrics_and_health_answer_on_the_admin_address_only(new_nodes: NewNodes, tmp_path: Path) -> None:
    a, b = new_nodes("Stadt A", "Stadt B")
    a.ui, a.admin, b.admin = hold_port(), hold_port(), hold_port()
    for node in (a, b):
        node.launch()
    for node in (a, b):
        node.wait_ready()
    assert a.admin is not None
    assert b.admin is not None
    assert f"metrics and health for IT on {a.admin.url}/metrics" in a.log_text()
    run_parallel(
        ["peers", "add", b.url, "--fingerprint", b.fingerprint, "--home", str(a.home)],
        ["peers", "add", a.url, "--fingerprint", a.fingerprint, "--home", str(b.home)],
    )
    record = tmp_path / "record.json"
    record.write_text(json.dumps(RECORD), encoding="utf-8")
    record_id = cli_json("records", "add", str(record), "--home", str(a.home))["id"]
    run_cli("records", "share", record_id, "--to", b.node_id, "--home", str(a.home))

    def sent() -> Samples | None:
        samples = metrics_of(a)[1]
        return (
            samples if value(samples, "praevnet_envelopes_sent_total", kind="experience", outcome="delivered") else None
        )

    samples = wait_for(sent, 30, "A to count the record it delivered")
    assert value(samples, "praevnet_peer_queue_depth", peer=b.node_id) == 0
    text, received = metrics_of(b)
    assert value(received, "praevnet_envelopes_received_total", kind="experience", outcome="accepted") == 1
    assert value(received, "praevnet_peer", peer=a.node_id, name="Stadt A") == 1
    if shutil.which("promtool"):
        assert promtool_problems(text) is None

    for node in (a, b):
        assert node.admin is not None
        assert get(f"{node.admin.url}/healthz")[:1] == (200,)
        status, _, body = get(f"{node.admin.url}/readyz")
        assert (status, json.loads(body)["status"]) == (200, "ready")
    for path in ("/metrics", "/healthz", "/readyz"):
        status, _, body = get(f"{a.local_url}{path}")
        assert status == 404
        assert "praevnet_" not in body
        status, _, body = get(f"{a.ui_url}{path}")
        assert status == 303  # the web interface sends a stranger to its login, as for any page of it
        assert "praevnet_" not in body
    a.assert_clean_log()
    b.assert_clean_log()


@pytest.mark.e2e
def test_a_node_serves_with_no_admin_even_where_its_admin_port_is_taken(new_nodes: NewNodes) -> None:
    (node,) = new_nodes("Stadt A")
    taken = hold_port()  # bound by the test: serve could not listen there
    node.configure("admin", listen=f"127.0.0.1:{taken.number}")
    node.launch()  # with --no-admin (node.admin is None)
    node.wait_ready()
    assert "metrics and health" not in node.log_text()
