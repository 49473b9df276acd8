"""Übersicht: what came in, what waits for release, which partners have delivery problems, and what needs doing."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from node.exchange.received import list_inbox
from node.exchange.status import peer_status
from node.sharing.release import pending_shares
from web.context import actor_of, node_of

routes = web.RouteTableDef()
RECENT = 10  # newest received reports shown


@routes.get("/", name="overview")
@aiohttp_jinja2.template("overview.html")
async def overview(request: web.Request) -> dict[str, Any]:
    """The start page after login."""
    node = node_of(request)
    actor = actor_of(request)
    alerts = list_inbox(node, "alert")
    reports = list_inbox(node, "experience")[:RECENT]
    pending = pending_shares(node)
    troubled = [p for p in peer_status(node) if p["failures"] or p["refused"] or p["forks_refused"]]
    attention = {
        "to_release": [s for s in pending if s["author"] != actor.name] if actor.may("release") else [],
        "mine_waiting": [s for s in pending if s["author"] == actor.name],
        "unverified_alerts": [a for a in alerts if not a["verified"]],
    }
    return {"alerts": alerts, "reports": reports, "pending": pending, "troubled": troubled, "attention": attention}
