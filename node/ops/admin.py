"""The admin listener's application (`[admin] listen`, loopback by default): metrics and health for IT.

GET /metrics   the node's Prometheus metrics (node.ops.metrics)
GET /healthz   200 whenever the process answers
GET /readyz    200 when the database is writable, the keys are loaded and the schema is current, else 503;
               the JSON body names every check and what failed (node.ops.health)

Nothing else: any other path is 404, any other method 405, a request with a body or a query is refused
with 400. It is never served on the federation port nor on the web interface's address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from node.home import Node
from node.ops.health import OK, readiness
from node.ops.metrics import Metrics

NODE = web.AppKey("node", Node)
METRICS = web.AppKey("metrics", Metrics)
HEALTHZ = "/healthz"
READYZ = "/readyz"
METRICS_PATH = "/metrics"


@web.middleware
async def guarded(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refuse a request with a body or a query before any handler runs; every refusal is JSON."""
    try:
        if request.match_info.http_exception is None:  # unknown paths and methods: 404 and 405 first
            if request.body_exists:
                raise web.HTTPBadRequest(text="the admin endpoints take no request body")
            if request.query_string:
                raise web.HTTPBadRequest(text="the admin endpoints take no query parameters")
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        response = web.json_response({"error": exc.reason, "message": message}, status=exc.status)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: the exposition, in the format the scraper's Accept header asks for."""
    body, content_type = request.app[METRICS].render(request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: the process answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """GET /readyz: 200 with every check ok, else 503 naming the checks that failed and why."""
    checks = await asyncio.to_thread(readiness, request.app[NODE])
    failed = sorted(name for name, finding in checks.items() if finding != OK)
    if failed:
        return web.json_response({"status": "not ready", "failed": failed, "checks": checks}, status=503)
    return web.json_response({"status": "ready", "checks": checks})


def create_admin_app(node: Node) -> web.Application:
    """The admin application for `node`. A new Metrics becomes the node's `events` (node.events) at once,
    so that everything the node does from now on is counted."""
    node.events = watched = Metrics(node)
    app = web.Application(middlewares=[guarded], client_max_size=1024)
    app[NODE] = node
    app[METRICS] = watched
    app.router.add_get(METRICS_PATH, metrics, allow_head=False)
    app.router.add_get(HEALTHZ, healthz, allow_head=False)
    app.router.add_get(READYZ, readyz, allow_head=False)
    return app
