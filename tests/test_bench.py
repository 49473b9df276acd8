"""The benchmarks in bench/ keep working: each runs once at a tiny size and prints its figure and ratio.

These are smoke runs, not measurements: no figure is compared with anything here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("bench.ingest", ["--records", "100"]),
        ("bench.ingest", ["--records", "100", "--preload", "300"]),
        ("bench.catchup", ["--records", "300"]),
        ("bench.alert_latency", ["--peers", "2", "--alerts", "1"]),
        ("bench.hub_fanout", ["--members", "20", "--processes", "2"]),
        ("bench.backup", ["--records", "100"]),
        ("bench.httpsig", ["--rounds", "20"]),
        ("bench.startup", ["--runs", "1", "--records", "10"]),
    ],
)
def test_a_benchmark_runs_at_a_tiny_size(module: str, args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "ratio" in result.stdout
