"""deploy/Containerfile: a pinned base, a non-root user owning the home volume, pinned dependencies, a health check."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
import uuid
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.containerfile import Instruction, image_env, instructions, named
from tests.deploy.pins import constraints_text, runtime_closure

ROOT = Path(__file__).resolve().parents[2]
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
BASE_ARG = "PYTHON_IMAGE"


def digest_check() -> Instruction:
    """The RUN that refuses a base image reference without a digest."""
    checks = [item for item in named("RUN") if BASE_ARG in item.rest and "sha256" in item.rest]
    assert len(checks) == 1, f"one RUN checks that {BASE_ARG} names a digest"
    return checks[0]


def test_the_base_image_is_pinned_by_a_digest_the_build_must_give() -> None:
    steps = instructions()
    base = named("FROM")
    assert len(base) == 1
    if DIGEST.search(base[0].rest.split()[0]):
        return  # pinned in the file itself
    assert base[0].rest == f"${{{BASE_ARG}}}", "FROM is either NAME@sha256:... or the build argument"
    before = steps[: steps.index(base[0])]
    assert Instruction("ARG", BASE_ARG) in before, f"{BASE_ARG} is declared without a default, so the build must set it"
    assert steps.index(digest_check()) == steps.index(base[0]) + 2, "the digest is checked right after FROM and ARG"


@pytest.mark.parametrize(
    ("reference", "accepted"),
    [
        ("python@sha256:" + "0123456789abcdef" * 4, True),
        ("python:3.11-slim@sha256:" + "f" * 64, True),
        ("python:3.11-slim", False),
        ("python@sha256:abc", False),
        ("", False),
    ],
)
def test_the_build_refuses_a_base_image_without_a_digest(reference: str, accepted: bool) -> None:
    proc = subprocess.run(
        ["/bin/sh", "-c", digest_check().rest],
        env={"PATH": "/usr/bin:/bin", BASE_ARG: reference},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert (proc.returncode == 0) is accepted, proc.stderr
    if not accepted:
        assert "must be pinned by digest" in proc.stderr


def test_the_node_runs_as_an_unprivileged_user_that_owns_the_home_volume() -> None:
    users = named("USER")
    assert users, "the image sets a USER"
    user, _, group = users[-1].rest.partition(":")
    assert user not in ("root", "0"), "the node does not run as root"
    assert group not in ("root", "0")
    home = image_env()["PRAEVNET_HOME"]
    assert [item.rest for item in named("VOLUME")] == [home], "the node's home is the volume"
    made = [item.rest for item in named("RUN") if f"install -d -o praevnet -g praevnet -m 0700 {home}" in item.rest]
    assert made, "the volume's directory exists in the image, mode 0700, owned by the node's account"
    created = " ".join(item.rest for item in named("RUN"))
    assert re.search(rf"useradd [^&]*--uid {user}\b[^&]* praevnet\b", created), "USER is the uid of the praevnet user"


def test_the_image_checks_its_health_on_the_admin_address() -> None:
    checks = named("HEALTHCHECK")
    assert len(checks) == 1
    command = checks[0].rest[checks[0].rest.index("CMD") + 3 :].strip()
    assert "http://{a}/healthz" in command
    assert "127.0.0.1:8472" in command


def test_dependencies_are_installed_with_the_constraints_file_and_every_package_is_copied() -> None:
    copied = {word for item in named("COPY") for word in item.words()[:-1]}
    assert "deploy/constraints.txt" in copied
    installs = [item.rest for item in named("RUN") if "pip install" in item.rest]
    assert len(installs) == 1
    assert "--constraint deploy/constraints.txt ." in installs[0]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {name.rstrip("*") for name in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied, f"the image needs every package: {sorted(packages - copied)} not copied"


def test_the_constraints_pin_exactly_the_runtime_dependencies() -> None:
    text = (ROOT / "deploy" / "constraints.txt").read_text(encoding="utf-8")
    pinned = dict(line.split("==") for line in text.splitlines() if line and not line.startswith("#"))
    needed = runtime_closure()
    hint = "regenerate: .venv/bin/python -m tests.deploy.pins > deploy/constraints.txt, which now gives\n"
    hint += constraints_text()
    assert {canonicalize_name(name) for name in pinned} == set(needed), hint
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    versions = {canonicalize_name(name): version for name, version in pinned.items()}
    for requirement in map(Requirement, project["dependencies"]):
        version = versions[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version), f"{requirement.name}=={version} is outside {requirement}"


def docker_can_build() -> str | None:
    """Why the image cannot be built here, or None: a Docker engine must answer and hold the pinned base image."""
    try:
        if subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode != 0:
            return "no Docker engine answers `docker info`"
    except (OSError, subprocess.TimeoutExpired):
        return "docker is not installed"
    base = os.environ.get(BASE_ARG, "")
    if not DIGEST.search(base):
        return f"{BASE_ARG} is not set to a base image pinned by digest"
    if subprocess.run(["docker", "image", "inspect", base], capture_output=True, timeout=30, check=False).returncode:
        return f"the base image {base} is not pulled"
    return None


CANNOT_BUILD = docker_can_build()


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=900, check=False)


@pytest.mark.e2e
@pytest.mark.skipif(CANNOT_BUILD is not None, reason=f"the image is not built here: {CANNOT_BUILD}")
def test_the_image_builds_and_initialises_a_node_in_its_volume_as_a_non_root_user() -> None:
    tag, volume = f"praevnet-test:{uuid.uuid4().hex[:12]}", f"praevnet-test-{uuid.uuid4().hex[:12]}"
    built = docker("build", "-f", "deploy/Containerfile", "--build-arg", BASE_ARG, "-t", tag, str(ROOT))
    assert built.returncode == 0, built.stderr
    try:
        mount = f"{volume}:{image_env()['PRAEVNET_HOME']}"
        init = docker("run", "--rm", "-v", mount, tag, "init", "--name", "Stadt Test", "--url", "https://x.example")
        assert init.returncode == 0, init.stderr
        shown = docker("run", "--rm", "-v", mount, tag, "id", "--json")
        assert json.loads(shown.stdout)["name"] == "Stadt Test"
        uid = docker("run", "--rm", "--entrypoint", "id", tag, "-u")
        assert uid.stdout.strip() not in ("", "0")
    finally:
        docker("volume", "rm", "-f", volume)
        docker("image", "rm", "-f", tag)
