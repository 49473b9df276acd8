"""Socket activation for `praevnet serve`: listen on a socket that the service manager bound and passed on.

With a systemd socket unit (praevnet.socket, `ListenStream=127.0.0.1:8470`), systemd binds the
port and starts praevnet.service with the socket as file descriptor 3, announced by LISTEN_FDS=1
and LISTEN_PID=<the service's pid> (sd_listen_fds(3)). Connections that arrive while the node
restarts then wait for it instead of being refused. Without these variables `serve` binds
--host/--port itself.
"""

from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping

from node.errors import NodeError

FIRST_FD = 3  # SD_LISTEN_FDS_START
VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def passed_socket(environ: MutableMapping[str, str] | None = None) -> socket.socket | None:
    """The stream socket the service manager passed to this process, or None if it passed none.

    The variables are removed from `environ` (default: os.environ) either way, so that no child
    process takes the socket for its own. More than one socket, or one that is not a stream
    socket, is refused with NodeError.
    """
    env = os.environ if environ is None else environ
    pid, count = env.get("LISTEN_PID"), env.get("LISTEN_FDS")
    for name in VARIABLES:
        env.pop(name, None)
    if pid != str(os.getpid()) or count in (None, "0"):
        return None  # not set, or meant for another process (the one that started us)
    if count != "1":
        raise NodeError(f"praevnet serve listens on one socket, but the service manager passed LISTEN_FDS={count}")
    try:
        sock = socket.socket(fileno=FIRST_FD)
    except OSError as exc:
        raise NodeError(f"file descriptor {FIRST_FD}, passed by the service manager, is no socket: {exc}") from None
    if sock.type != socket.SOCK_STREAM:
        kind = sock.type.name
        sock.detach()  # the descriptor stays the service manager's
        raise NodeError(f"the socket passed by the service manager is no stream socket ({kind})")
    sock.set_inheritable(False)
    return sock


def address_of(sock: socket.socket) -> str:
    """Where a socket listens, for the start-up line: host:port, or the path of a Unix socket."""
    name = sock.getsockname()
    return f"{name[0]}:{name[1]}" if isinstance(name, tuple) else str(name)
