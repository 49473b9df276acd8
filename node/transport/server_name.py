"""What the node's HTTP answers say about the server that gives them: `Server: praevnet`, no software versions.

aiohttp names itself and Python with their versions in every answer (`Server: Python/3.11
aiohttp/3.x`), which tells a scanner which published flaws to try. Its answers to requests it
cannot even parse never pass through an application's hooks, so the name is replaced where aiohttp
takes it from, once for the whole process: every listener of it (federation, web interface, admin)
then answers as `praevnet`.
"""

from __future__ import annotations

from aiohttp import web_response

SERVER = "praevnet"


def name_no_software() -> None:
    """Make every answer of this process's aiohttp servers say `Server: praevnet` (idempotent)."""
    setattr(web_response, "SERVER_SOFTWARE", SERVER)  # noqa: B010 - a module constant aiohttp reads per answer
