"""Loopback ports that a test holds from the moment it names them, so no other process can take them.

Binding port 0, reading the number and closing the socket leaves a window in which another
process (another test run, any outgoing connection) may take the number before our server binds
it. A `Port` stays bound instead, until the test ends. While nobody serves on it, it refuses
connections (bound, not listening): a URL for a peer that is down. A server takes the bound socket
over: in this process (tests/node/conftest.py `serve_on`, SockSite) or in a `praevnet serve`
child, to which it is passed as systemd passes a praevnet.socket (tests/e2e/helpers.py).
"""

from __future__ import annotations

import socket

_HELD: list[Port] = []


def _bound(number: int) -> socket.socket:
    """A socket bound to `number` on 127.0.0.1 (0: any free one) that no other socket can share.

    Binding the number again right after a server used it needs SO_REUSEADDR (its closed
    connections linger in TIME_WAIT); the option is cleared once bound, so nobody can bind beside us.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", number))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    return sock


class Port:
    """A TCP port on 127.0.0.1, bound by this process from creation until `close`."""

    def __init__(self) -> None:
        self.sock = _bound(0)
        self.number = int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        """http://127.0.0.1:<number>."""
        return f"http://127.0.0.1:{self.number}"

    def handover(self) -> socket.socket:
        """The bound socket, for a server to listen on: with SO_REUSEADDR, as servers set it, so `reclaim` works."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        return self.sock

    def reclaim(self) -> None:
        """After the server that listened on the socket has stopped: refuse connections again, holding the number.

        The listening state belongs to the socket, which this process shares with the server, so the
        socket is closed and the number bound again at once; it is free only for that instant.
        """
        self.sock.close()
        self.sock = _bound(self.number)

    def close(self) -> None:
        """Let the number go."""
        self.sock.close()


def hold_port() -> Port:
    """A new `Port`, held until the end of the test (tests/conftest.py releases it)."""
    port = Port()
    _HELD.append(port)
    return port


def unreachable_url() -> str:
    """A loopback URL where nothing listens for the rest of the test: connections to it are refused."""
    return hold_port().url


def release_all() -> None:
    """Close every port held so far."""
    while _HELD:
        _HELD.pop().close()
