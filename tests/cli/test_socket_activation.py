"""cli/socket_activation.py: which LISTEN_* variables make `praevnet serve` take a passed socket (see tests/e2e too)."""

from __future__ import annotations

import os

import pytest

from cli.socket_activation import VARIABLES, passed_socket
from node.errors import NodeError


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"LISTEN_FDS": "1"},  # no pid: not from a service manager
        {"LISTEN_PID": "1", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "praevnet.socket"},  # for the process that started us
        {"LISTEN_PID": "OWN", "LISTEN_FDS": "0"},
    ],
)
def test_no_socket_for_this_process_means_serve_binds_its_own(environ: dict[str, str]) -> None:
    env = {name: str(os.getpid()) if value == "OWN" else value for name, value in environ.items()}
    env["HOME"] = "/home/praevnet"
    assert passed_socket(env) is None
    assert env == {"HOME": "/home/praevnet"}  # no child process may take the variables for its own


@pytest.mark.parametrize("count", ["2", "many"])
def test_more_than_one_socket_is_refused(count: str) -> None:
    env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": count, "LISTEN_FDNAMES": "a:b"}
    with pytest.raises(NodeError, match=f"listens on one socket, but the service manager passed LISTEN_FDS={count}"):
        passed_socket(env)
    assert not set(VARIABLES) & set(env)
