"""Reading a node's /metrics answer the way Prometheus does: with prometheus-client's own parser."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

Samples = list[Sample]


async def scrape(client: Any) -> tuple[str, Samples]:
    """GET /metrics from an admin test client: the exposition text and every sample in it, parsed."""
    response = await client.get("/metrics")
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await response.text()
    return text, [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(samples: Samples, metric: str, /, **labels: str) -> float | None:
    """The value of the one sample called `metric` whose labels are exactly `labels`, or None if there is none."""
    found = [sample.value for sample in samples if sample.name == metric and sample.labels == labels]
    assert len(found) <= 1, f"{metric} {labels} appears {len(found)} times"
    return found[0] if found else None


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    """Every value the label takes in the samples called `name`."""
    return {sample.labels[label] for sample in samples if sample.name == name and label in sample.labels}


def promtool_problems(text: str) -> str | None:
    """What `promtool check metrics` says about the exposition (None if it is silent), or raise if it fails."""
    promtool = shutil.which("promtool")
    assert promtool is not None
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return (checked.stdout + checked.stderr).strip() or None
