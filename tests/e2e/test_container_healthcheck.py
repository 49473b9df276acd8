"""The Containerfile's HEALTHCHECK command, run as the container runs it, against a real `praevnet serve`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.deploy.containerfile import named
from tests.e2e.helpers import ServedNode, cli_env
from tests.ports import hold_port

NewNodes = Callable[..., list[ServedNode]]


def health_command() -> list[str]:
    """The HEALTHCHECK's CMD (exec form), with python3 replaced by this interpreter."""
    rest = named("HEALTHCHECK")[0].rest
    words = named("CMD", rest[rest.index("CMD") :])[0].words()
    assert words[0] == "python3", "the image's python runs the check: no curl needed"
    return [sys.executable, *words[1:]]


def check(admin_listen: str) -> subprocess.CompletedProcess[str]:
    """Run the health check with PRAEVNET_ADMIN__LISTEN as a container might set it."""
    return subprocess.run(
        health_command(),
        env={**cli_env(), "PRAEVNET_ADMIN__LISTEN": admin_listen},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.e2e
def test_the_health_check_passes_while_the_node_serves_and_fails_when_it_does_not(new_nodes: NewNodes) -> None:
    (node,) = new_nodes("Stadt Augsburg")
    node.admin = hold_port()
    listen = f"127.0.0.1:{node.admin.number}"
    assert check(listen).returncode != 0, "nothing answers yet"
    node.launch()
    node.wait_ready()
    assert check(listen).returncode == 0
    assert check(f"0.0.0.0:{node.admin.number}").returncode == 0, "a container listening on all addresses"
    node.stop()
    assert check(listen).returncode != 0
