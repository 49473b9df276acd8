"""deploy/praevnet.service: systemd accepts it, its sandbox exposes less than 2.0, and it installs as README does."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "praevnet.service"
SOCKET = ROOT / "deploy" / "praevnet.socket"
ANALYZE = shutil.which("systemd-analyze")
UNITS = next((path for path in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if path.is_dir()), None)
needs_analyze = pytest.mark.skipif(
    ANALYZE is None or UNITS is None, reason="systemd-analyze is not installed (Debian's package systemd)"
)
EXPOSURE = re.compile(r"Overall exposure level for praevnet\.service: (\d+\.\d+)")


def commands(lines: list[str]) -> list[str]:
    """Shell lines with their backslash continuations joined and whitespace collapsed."""
    joined: list[str] = []
    pending = ""
    for line in lines:
        text = line.strip()
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        if pending or text:
            joined.append(" ".join((pending + text).split()))
        pending = ""
    return joined


def unit_install_commands(text: str) -> list[str]:
    """The commands in the unit's leading install comment ('#   command' lines)."""
    head = text[: text.index("[Unit]")]
    return commands([line[1:] for line in head.splitlines() if line.startswith("#   ")])


def readme_install_commands() -> list[str]:
    """The commands of the README's 'Install and create a node' code block."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Install and create a node") :]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None, "README's install section has no sh block"
    return commands(match.group(1).splitlines())


def setting(text: str, key: str) -> str:
    """The value of `key=` in the unit (the first one)."""
    match = re.search(rf"^{key}=(.*)$", text, re.M)
    assert match is not None, f"the unit sets no {key}="
    return match.group(1).strip()


def test_the_unit_installs_and_runs_praevnet_as_readme_installs_it() -> None:
    text = UNIT.read_text(encoding="utf-8")
    in_unit = unit_install_commands(text)
    for command in readme_install_commands():
        as_service = f"sudo -u praevnet {command}"
        assert command in in_unit or as_service in in_unit, f"README installs with `{command}`; the unit does not"
    venv_cli = re.search(r"(/\S+/bin/praevnet) init --home (\S+)", " ".join(in_unit))
    assert venv_cli is not None, "the unit's install comment initialises a home"
    assert setting(text, "ExecStart").split()[0] == venv_cli.group(1)
    assert setting(text, "Environment") == f"PRAEVNET_HOME={venv_cli.group(2)}"
    assert setting(text, "ReadWritePaths") == venv_cli.group(2)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root directory for systemd-analyze: the system's units, ours, and an executable where ExecStart points."""
    assert UNITS is not None
    shutil.copytree(UNITS, tmp_path / "usr/lib/systemd/system", symlinks=True)
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    for unit in (UNIT, SOCKET):
        shutil.copy(unit, tmp_path / "etc/systemd/system" / unit.name)
    program = tmp_path / setting(UNIT.read_text(encoding="utf-8"), "ExecStart").split()[0].lstrip("/")
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    program.chmod(0o755)
    return tmp_path


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, timeout=60, check=False)


@needs_analyze
def test_systemd_analyze_verify_accepts_the_service_and_socket(root: Path) -> None:
    proc = analyze("verify", f"--root={root}", "praevnet.service", "praevnet.socket")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", f"systemd-analyze verify warns:\n{proc.stderr}"


@needs_analyze
def test_systemd_analyze_verify_reports_an_unknown_setting(root: Path) -> None:
    unit = root / "etc/systemd/system/praevnet.service"
    unit.write_text(unit.read_text(encoding="utf-8").replace("UMask=0077", "UMask=0077\nProtectEverything=yes"))
    proc = analyze("verify", f"--root={root}", "praevnet.service")
    assert "Unknown key 'ProtectEverything'" in proc.stderr


def exposure(root: Path) -> float:
    """The overall exposure `systemd-analyze security` gives the unit in `root`."""
    proc = analyze("security", "--offline=true", f"--root={root}", "praevnet.service")
    assert proc.returncode == 0, proc.stderr
    match = EXPOSURE.search(proc.stdout)
    assert match is not None, proc.stdout
    return float(match.group(1))


@needs_analyze
def test_the_sandbox_exposure_is_below_2(root: Path) -> None:
    assert exposure(root) < 2.0


@needs_analyze
def test_exposure_is_read_from_the_analysis(root: Path) -> None:
    unit = root / "etc/systemd/system/praevnet.service"
    text = unit.read_text(encoding="utf-8")
    unhardened = "\n".join(line for line in text.splitlines() if not line.startswith(("SystemCallFilter", "Capab")))
    unit.write_text(unhardened + "\n", encoding="utf-8")
    assert exposure(root) >= 2.0
