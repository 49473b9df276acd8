"""The demo: three city nodes exchange a record and an alert, in-process and as `praevnet demo`."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from node.exchange.demo import LOCAL_NOTE, run_demo
from tests.e2e.helpers import PRAEVNET, cli_env, wait_for


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
    # The demo's leak check can see a local note where it is: at home in Augsburg.
    assert stored_in(tmp_path / "augsburg", LOCAL_NOTE)
    assert not stored_in(tmp_path / "bonn", LOCAL_NOTE)


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
