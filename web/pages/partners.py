"""Partner und Netzwerke: partner cities with fingerprint, safety number, confirmation and delivery status,
the networks this node belongs to, and pairing by invitation code (web.pages.invitations).

The operations are node's, as `praevnet peers ...` and `praevnet network ...` call them: the pair
safety number (node.trust.invites), confirming it (node.trust.peers.mark_verified), delivery status
and retrying at once (node.exchange.status). Like the CLI, every logged-in user may do them.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session

from node.errors import NodeError, NotFound
from node.exchange.pull import PULL_ERROR
from node.exchange.status import peer_status, retry_now
from node.home import Node
from node.networks.registry import list_members, list_networks
from node.trust.invites import list_invitations, peer_pair_safety_number
from node.trust.peers import get_peer, list_peers, mark_verified
from web import i18n
from web.context import actor_of, flash, node_of
from web.i18n import N_

routes = web.RouteTableDef()
_ = i18n.gettext
GROUPS_PER_LINE = 4  # the twelve groups of the pair safety number, read aloud a line at a time
LIFETIMES = (("1h", N_("1 hour")), ("1d", N_("1 day")), ("7d", N_("7 days")), ("30d", N_("30 days")))
"""How long a new invitation stays valid: the choices offered (node.trust.invites.parse_lifetime reads them)."""
MEMBER_STATES = {
    "current": N_("current member"),
    "superseded": N_("replaced by a newer certificate"),
    "expired": N_("certificate expired"),
    "not yet valid": N_("not yet valid"),
    "revoked": N_("excluded by the operator"),
    "left": N_("left the network"),
}


def safety_lines(number: str) -> list[str]:
    """A safety number in lines of four groups of five digits, as officers read it to each other."""
    groups = number.split()
    return [" ".join(groups[start : start + GROUPS_PER_LINE]) for start in range(0, len(groups), GROUPS_PER_LINE)]


def _plain_error(message: str) -> str:
    """What went wrong with a partner, in words an officer reads; the technical text is shown beside it."""
    pulling = message.startswith(PULL_ERROR)
    if "cannot reach" in message:
        words = _("The partner's node could not be reached (its server is down, or a network or firewall problem).")
    elif "answered HTTP 401" in message or "answered HTTP 403" in message:
        words = _("The partner's node refused our requests: it may no longer trust this node. Please call the partner.")
    else:
        words = _("The exchange with the partner's node failed.")
    return (_("Fetching from this partner failed.") + " " + words) if pulling else words


def _delivery(status: dict[str, Any]) -> dict[str, Any]:
    """A peer's delivery status with its last error split into time, plain words and technical text."""
    found = dict(status)
    found["error_time"] = found["error_words"] = found["error_detail"] = None
    if status["last_error"]:
        stamp, _, detail = str(status["last_error"]).partition(" ")
        found["error_time"], found["error_detail"] = stamp, detail
        found["error_words"] = _plain_error(detail)
    return found


def _partner(node: Node, peer: dict[str, Any], status: dict[str, Any] | None) -> dict[str, Any]:
    number, shown = peer_pair_safety_number(node, peer["node_id"])
    return {
        **peer,
        "safety_lines": safety_lines(number),
        "shown_fingerprint": shown,
        "delivery": _delivery(status) if status is not None else None,
    }


def _networks(node: Node) -> list[dict[str, Any]]:
    """Every network this node operates or belongs to, each with its members."""
    return [{**network, "listing": list_members(node, network["id"])} for network in list_networks(node)]


def render_partners(
    request: web.Request, *, errors: dict[str, str] | None = None, form: dict[str, Any] | None = None, status: int = 200
) -> web.Response:
    """The partners page, with the invitation forms' `errors` and typed values if a form was refused."""
    node = node_of(request)
    statuses = {item["node_id"]: item for item in peer_status(node)}
    partners = [_partner(node, peer, statuses.get(peer["node_id"])) for peer in list_peers(node)]
    context = {
        "lifetimes": [(value, _(label)) for value, label in LIFETIMES],
        "member_states": {state: _(label) for state, label in MEMBER_STATES.items()},
        "partners": partners,
        "forked": [p for p in partners if p["delivery"] and p["delivery"]["forks_refused"]],
        "networks": _networks(node),
        "invitations": list_invitations(node, only_open=True),
        "identity": node.identity(),
        "errors": errors or {},
        "form": form or {},
    }
    return aiohttp_jinja2.render_template("partners.html", request, context, status=status)


@routes.get("/partners", name="partners")
async def partners_page(request: web.Request) -> web.Response:
    """Partner cities, networks, open invitations, and the forms to invite or accept."""
    return render_partners(request)


def _peer(request: web.Request) -> dict[str, Any]:
    """The partner the path names; 404 if this node does not trust it."""
    try:
        return get_peer(node_of(request), request.match_info["peer"])
    except NotFound:
        raise web.HTTPNotFound(text=_("This node has no such partner.")) from None


def _show(request: web.Request, peer: dict[str, Any], errors: dict[str, str], status: int = 200) -> web.Response:
    node = node_of(request)
    found = [item for item in peer_status(node) if item["node_id"] == peer["node_id"]]
    context = {"partner": _partner(node, peer, found[0] if found else None), "errors": errors}
    return aiohttp_jinja2.render_template("partner.html", request, context, status=status)


@routes.get("/partners/{peer}", name="partner_show")
async def partner_page(request: web.Request) -> web.Response:
    """One partner: fingerprint and safety number to compare on the phone, confirmation, delivery in detail."""
    return _show(request, _peer(request), {})


async def _back(request: web.Request, peer: dict[str, Any], kind: str, text: str) -> web.StreamResponse:
    flash(await get_session(request), kind, text)
    raise web.HTTPSeeOther(str(request.app.router["partner_show"].url_for(peer=peer["node_id"])))


@routes.post("/partners/{peer}/verify", name="partner_verify")
async def confirm(request: web.Request) -> web.StreamResponse:
    """Record that both officers read the same pair safety number (for the key it was computed with)."""
    actor = actor_of(request)
    peer = _peer(request)
    form = await request.post()
    if form.get("match") != "yes":
        return _show(request, peer, {"match": _("Please confirm that the other city read exactly these digits.")}, 400)
    shown = form.get("fingerprint")
    try:
        mark_verified(node_of(request), peer["node_id"], shown if isinstance(shown, str) else "", by=actor)
    except NodeError:
        changed = _("The partner's keys changed while you compared. Please compare the new safety number below.")
        return _show(request, peer, {"match": changed}, 409)
    return await _back(request, peer, "success", _("%(name)s is confirmed.") % {"name": peer["name"]})


@routes.post("/partners/{peer}/retry", name="partner_retry")
async def retry(request: web.Request) -> web.StreamResponse:
    """End the partner's waiting time: what is queued for it goes out at the next round of delivery."""
    peer = _peer(request)
    queued = retry_now(node_of(request), peer["node_id"])
    text = i18n.ngettext(
        "%(num)d envelope waits for %(name)s; it is sent again at once.",
        "%(num)d envelopes wait for %(name)s; they are sent again at once.",
        queued,
    ) % {"num": queued, "name": peer["name"]}
    return await _back(request, peer, "info", text)
