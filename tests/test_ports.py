"""tests/ports.py: a held loopback port cannot be taken by anyone else, and refuses connections unless served."""

from __future__ import annotations

import socket

import pytest

from tests.ports import hold_port


def connects(number: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", number)) == 0


def taken(number: int) -> bool:
    """Whether another socket, even one with SO_REUSEADDR, fails to bind `number`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            other.bind(("127.0.0.1", number))
        except OSError:
            return True
        return False


def test_a_held_port_refuses_connections_and_nobody_else_can_bind_it() -> None:
    port = hold_port()
    assert not connects(port.number)
    assert taken(port.number)


@pytest.mark.parametrize("connections", [0, 1])
def test_after_its_server_stopped_a_reclaimed_port_refuses_again_and_stays_ours(connections: int) -> None:
    port = hold_port()
    server = port.handover()
    server.listen()
    for _ in range(connections):  # a closed connection leaves the number in TIME_WAIT
        with socket.create_connection(("127.0.0.1", port.number)) as client:
            accepted, _ = server.accept()
            accepted.close()  # the server closes first, as a killed server does
            client.recv(1)
    assert connects(port.number)
    port.reclaim()
    assert not connects(port.number)
    assert taken(port.number)
