"""deploy/compose.yaml: four nodes, each with its own volume, and a one-shot federate step that sees them all."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.deploy.compose_file import COMPOSE, FEDERATE, SETUP_IN_IMAGE, federate_args, load, node_services
from tests.deploy.containerfile import image_env, named

ROOT = Path(__file__).resolve().parents[2]


def option_values(args: list[str], option: str) -> list[str]:
    """The values of `--option=VALUE` arguments, in order."""
    prefix = f"{option}="
    return [arg[len(prefix) :] for arg in args if arg.startswith(prefix)]


def test_three_cities_and_an_operator_each_on_its_own_volume_at_the_image_home() -> None:
    data = load()
    nodes = node_services(data)
    assert len(nodes) == 4
    home = image_env()["PRAEVNET_HOME"]
    volumes = set()
    for node in nodes:
        parts = urlsplit(node.url)
        assert (parts.scheme, parts.hostname, parts.port) == ("http", node.service, 8470), "peers reach it by name"
        assert node.then[:2] == ["praevnet", "serve"]
        mounts = data["services"][node.service]["volumes"]
        assert mounts == [f"{node.service}:{home}"], f"{node.service}: its own volume at {home}"
        volumes.add(node.service)
    assert set(data["volumes"]) == volumes


def test_the_setup_script_in_the_image_is_the_one_in_deploy() -> None:
    copies = [item.words() for item in named("COPY")]
    assert ["deploy/compose_setup.py", SETUP_IN_IMAGE] in copies


def test_federate_mounts_every_home_it_names_and_waits_for_healthy_nodes() -> None:
    data = load()
    args = federate_args(data)
    spec = data["services"][FEDERATE]
    mounted = dict(mount.split(":", 1)[::-1] for mount in spec["volumes"])  # path -> volume
    operator = option_values(args, "--operator")
    members = option_values(args, "--member")
    pairs = [home for pair in option_values(args, "--pair") for home in pair.split(":")]
    assert len(operator) == 1
    assert len(members) == 3
    assert set(operator + members + pairs) <= set(mounted), "every home it names is mounted"
    assert sorted(mounted.values()) == sorted(node.service for node in node_services(data))
    assert spec["depends_on"] == {node.service: {"condition": "service_healthy"} for node in node_services(data)}
    assert spec["restart"] == "no", "it runs once per `up`"


def test_web_interfaces_are_published_on_loopback_only_and_the_operator_has_none() -> None:
    data = load()
    for node in node_services(data):
        for port in data["services"][node.service].get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{node.service} publishes {port} beyond this host"
        if node.service == "operator":
            assert "--no-ui" in node.then


def compose_command() -> list[str] | None:
    """`docker compose` or `docker-compose`, if either is installed and works."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        proc = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=30, check=False)
        if proc.returncode == 0:
            return command
    return None


COMPOSE_CLI = compose_command()


def compose_config(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker compose config --quiet` on deploy/compose.yaml with `environment` added to ours."""
    assert COMPOSE_CLI is not None
    env = {key: value for key, value in os.environ.items() if key != "PYTHON_IMAGE"} | environment
    return subprocess.run(
        [*COMPOSE_CLI, "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


needs_compose = pytest.mark.skipif(
    COMPOSE_CLI is None, reason="neither `docker compose` nor `docker-compose` (Debian's package) is installed"
)


@needs_compose
def test_docker_compose_config_accepts_the_file() -> None:
    proc = compose_config({"PYTHON_IMAGE": "python@sha256:" + "0" * 64})
    assert proc.returncode == 0, proc.stderr


@needs_compose
def test_docker_compose_refuses_to_build_without_a_pinned_base_image() -> None:
    proc = compose_config({})
    assert proc.returncode != 0
    assert "set PYTHON_IMAGE to python:3.11-slim pinned by digest" in proc.stderr
