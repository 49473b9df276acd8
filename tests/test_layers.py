"""The import-linter contracts in pyproject.toml hold, and fail on an import that runs back up a layer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with the project's contracts over the packages in `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT), "--no-cache", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and pyproject.toml, to break on purpose."""
    for package in ("protocol", "node", "cli", "web"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(module: Path, line: str) -> None:
    """Append an import to a module's end (a function-level import counts as much as a top-level one)."""
    module.write_text(module.read_text(encoding="utf-8") + f"\n\ndef _wrong() -> None:\n    {line}\n")


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "message"),
    [
        (
            "node/transport/client.py",
            "import node.exchange.status",
            "node.transport is not allowed to import node.exchange",
        ),
        ("node/trust/peers.py", "import node.networks.registry", "node.trust is not allowed to import node.networks"),
        (
            "node/networks/relays.py",
            "import node.sharing.policy",
            "node.networks is not allowed to import node.sharing",
        ),
        ("node/sharing/policy.py", "import node.exchange.inbox", "node.sharing is not allowed to import node.exchange"),
        ("node/store.py", "import node.trust.peers", "node.store is not allowed to import node.trust"),
        ("node/errors.py", "import node.home", "node.errors is not allowed to import node.home"),
        ("node/home.py", "import cli.main", "node is not allowed to import cli"),
        ("node/sharing/records.py", "import web.app", "node is not allowed to import web"),
        ("web/pages/overview.py", "import cli.main", "web is not allowed to import cli"),
        ("protocol/envelope.py", "import node.store", "protocol is not allowed to import node"),
        ("protocol/canonical.py", "import sqlite3", "protocol is not allowed to import sqlite3"),
        ("protocol/wire.py", "import aiohttp", "protocol is not allowed to import aiohttp"),
    ],
)
def test_an_import_that_runs_back_up_fails(tree: Path, module: str, line: str, message: str) -> None:
    add_import(tree / module, line)
    result = lint(tree)
    assert result.returncode == 1
    assert message in result.stdout, result.stdout
