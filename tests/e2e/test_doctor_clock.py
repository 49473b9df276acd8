"""`praevnet doctor` against a real peer whose clock runs ahead (Debian's libfaketime under its `serve`).

Bonn's answers are signed 30 s in Bonn's future: Augsburg refuses them when it delivers ("created in the
future"), and the doctor, which reads the time of the signature without requiring it to be fresh, names
the skew and fails. Augsburg's own URL and the pairing are sound, so that is the only failure.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.helpers import ServedNode, pair_directly, run_cli

LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not LIBFAKETIME, reason="needs Debian's faketime (libfaketime), which .ci/run installs"),
]


def test_a_peer_whose_clock_runs_ahead_fails_the_clock_check(
    new_nodes: Callable[..., list[ServedNode]], tmp_path: Path
) -> None:
    augsburg, bonn = new_nodes("Stadt Augsburg", "Stadt Bonn")
    pair_directly(augsburg, bonn)
    offset = tmp_path / "offset"
    offset.write_text("+30\n")
    bonn.environment = {"LD_PRELOAD": LIBFAKETIME[0], "FAKETIME_TIMESTAMP_FILE": str(offset)}
    for node in (augsburg, bonn):
        node.launch()
    for node in (augsburg, bonn):
        node.wait_ready()
    proc = run_cli("doctor", "--home", str(augsburg.home), "--json", expect_ok=False)
    assert proc.returncode == 1, proc.stderr
    checks = {check["check"]: check for check in json.loads(proc.stdout)["checks"]}
    failed = [name for name, check in checks.items() if check["status"] != "OK"]
    assert failed == ["clock Stadt Bonn"], proc.stdout
    clock = checks["clock Stadt Bonn"]
    assert "ahead of this node's" in clock["message"]
    ahead = float(clock["message"].split("Stadt Bonn's clock is ")[1].split(" s ")[0])
    assert 28.0 <= ahead <= 32.0, clock
    assert checks["peer Stadt Bonn"]["message"] == "reachable; accepts this node's signed requests"
