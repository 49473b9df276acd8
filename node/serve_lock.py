"""One `praevnet serve` per home: an exclusive lock on a file in the home, held as long as the process runs.

The lock is flock(2) on `serve.lock` (mode 0600), so the kernel releases it when the process ends,
however it ends: a stale lock file never keeps a node from starting. The file holds the pid of the
process that holds the lock, for the message that refuses a second one. Anything that must not run
beside a serving node (a restore into its home, say) takes the same lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from node.errors import NodeError
from node.home import CONFIG_FILE

LOCK_FILE = "serve.lock"


def hold(home: Path, what: str = "praevnet serve") -> IO[bytes]:
    """Take the home's lock for this process, or raise NodeError naming the process that holds it.

    Keep the returned file open for as long as the lock is to be held; closing it (or the process
    ending) releases it. `what` names the command in the refusal.
    """
    if not (home / CONFIG_FILE).exists():
        raise NodeError(f"no praevnet node in {home}; run `praevnet init --home {home} ...` first")
    path = home / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    handle = os.fdopen(fd, "r+b")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = handle.read(32).decode("ascii", "replace").strip()
        handle.close()
        by = f" (pid {holder})" if holder.isdigit() else ""
        raise NodeError(
            f"another praevnet serve{by} is running on {home}: {what} cannot run beside it (one serve per home); "
            "stop that one first"
        ) from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n".encode("ascii"))
    handle.flush()
    return handle
