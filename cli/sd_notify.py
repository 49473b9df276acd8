"""Readiness for the service manager (sd_notify(3)): `praevnet serve` under a systemd unit with `Type=notify`.

systemd names a Unix datagram socket in $NOTIFY_SOCKET (a path, or `@name` in the abstract
namespace); the service sends `READY=1` there once it serves, and `STOPPING=1` when it begins to
shut down. Units that start after praevnet.service then find it listening. Without the variable
(started by hand, or `Type=simple`) nothing is sent.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import MutableMapping

log = logging.getLogger("praevnet.service")
VARIABLE = "NOTIFY_SOCKET"


class Notifier:
    """Sends state lines to the service manager's notification socket, if one was named."""

    def __init__(self, address: str | None) -> None:
        self.address = address

    @classmethod
    def from_environment(cls, environ: MutableMapping[str, str] | None = None) -> Notifier:
        """The notifier for $NOTIFY_SOCKET, which is removed from `environ` (default: os.environ) so that no
        child process (a verification worker) speaks for this one."""
        env = os.environ if environ is None else environ
        return cls(env.pop(VARIABLE, None) or None)

    def notify(self, *states: str) -> bool:
        """Send `states` (e.g. "READY=1") as one datagram; False if there is no socket or it could not be sent."""
        if self.address is None:
            return False
        if not self.address.startswith(("/", "@")):
            log.warning("%s=%s is no Unix socket; not telling the service manager %s", VARIABLE, self.address, states)
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(target)
                sock.sendall("\n".join(states).encode("utf-8"))
        except OSError as exc:
            log.warning("could not tell the service manager %s: %s", ", ".join(states), exc)
            return False
        return True
