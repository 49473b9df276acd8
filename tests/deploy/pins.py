"""The packages `pip install .` needs at run time, pinned at the versions installed in this environment.

`.venv/bin/python -m tests.deploy.pins > deploy/constraints.txt` writes the constraints file the
Containerfile installs with: `pip freeze`, filtered to praevnet's runtime dependencies and theirs
(no test extras, no environment markers that do not apply on Linux with this Python). Like `pip
freeze`, it leaves out pip, setuptools and wheel: the image has its own.
"""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HEADER = """\
# Runtime dependencies of praevnet and theirs, pinned (pip constraints): the Containerfile installs with
# `pip install --constraint deploy/constraints.txt .`. Generated from the development environment's
# installed versions; regenerate after a dependency changes in pyproject.toml:
#   .venv/bin/python -m tests.deploy.pins > deploy/constraints.txt
"""
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
PACKAGING_TOOLS = {"pip", "setuptools", "wheel"}


def declared() -> list[Requirement]:
    """The runtime dependencies pyproject.toml declares (not its extras)."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in project["dependencies"]]


def applies(requirement: Requirement) -> bool:
    """Whether a requirement applies here without any extra."""
    return requirement.marker is None or requirement.marker.evaluate({"extra": ""})


def runtime_closure() -> dict[str, str]:
    """Every distribution praevnet needs at run time, by canonical name: its installed `name==version`."""
    pins: dict[str, str] = {}
    pending = [requirement.name for requirement in declared() if applies(requirement)]
    while pending:
        name = canonicalize_name(pending.pop())
        if name in pins or name in PACKAGING_TOOLS:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            raise SystemExit(f"{name} is needed at run time but not installed here") from None
        pins[name] = f"{dist.metadata['Name']}=={dist.version}"
        pending.extend(Requirement(text).name for text in dist.requires or [] if applies(Requirement(text)))
    return pins


def constraints_text() -> str:
    """The content of deploy/constraints.txt for this environment."""
    pins = runtime_closure()
    return HEADER + "".join(f"{pins[name]}\n" for name in sorted(pins))


if __name__ == "__main__":
    sys.stdout.write(constraints_text())
