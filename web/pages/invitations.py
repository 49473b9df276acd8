"""Pairing by invitation code from the browser: make a one-time code (shown once), revoke an open one, and
accept another city's code, with node.trust.invites as `praevnet invite create|revoke|accept` use it.

Accepting contacts the other city's node; any problem changes nothing here and is named next to
the code field, in words first and with the technical reason beside it.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session

from node.clock import clock
from node.errors import NodeError, NotFound, PeerError
from node.trust.invites import accept_invitation, create_invitation, parse_lifetime, revoke_invitation
from protocol.errors import ProtocolError
from protocol.invite import MAX_CODE, parse_code
from web import i18n
from web.context import actor_of, flash, node_of
from web.formats import localtime
from web.pages.partners import LIFETIMES, render_partners, safety_lines

routes = web.RouteTableDef()
_ = i18n.gettext


@routes.post("/partners/invitations", name="invitation_create")
async def create(request: web.Request) -> web.Response:
    """Make a one-time invitation and show its code this once, with this node's fingerprint and safety number."""
    actor = actor_of(request)
    form = await request.post()
    lifetime = form.get("lifetime")
    if lifetime not in dict(LIFETIMES):
        errors = {"lifetime": _("Please choose how long the invitation stays valid.")}
        return render_partners(request, errors=errors, status=400)
    node = node_of(request)
    code = create_invitation(node, parse_lifetime(str(lifetime)), by=actor)
    identity = node.identity()
    context = {
        "code": code,
        "expires": parse_code(code).expires_text,
        "identity": identity,
        "own_lines": safety_lines(identity["safety_number"]),
    }
    return aiohttp_jinja2.render_template("partner_invitation.html", request, context)


@routes.post("/partners/invitations/{invitation}/revoke", name="invitation_revoke")
async def revoke(request: web.Request) -> web.StreamResponse:
    """Revoke an open invitation: its code can never be accepted afterwards."""
    actor = actor_of(request)
    raw = request.match_info["invitation"]
    if not raw.isdigit() or len(raw) > 15:
        raise web.HTTPNotFound(text=_("There is no such invitation."))
    session = await get_session(request)
    try:
        revoke_invitation(node_of(request), int(raw), by=actor)
    except NotFound:
        raise web.HTTPNotFound(text=_("There is no such invitation.")) from None
    except NodeError:
        flash(session, "warning", _("This invitation is no longer open: it was used, has expired or was revoked."))
    else:
        flash(session, "success", _("Invitation %(num)s is revoked: its code can no longer be used.") % {"num": raw})
    raise web.HTTPSeeOther(str(request.app.router["partners"].url_for()))


def _code_problem(code: str, own_node: str) -> str | None:
    """Why `code` cannot be an invitation for this node, in words; None if it may be tried."""
    if not code:
        return _("Please paste the invitation code you got from the other city.")
    if len(code) > MAX_CODE:
        return _("This is too long for an invitation code. Please copy only the code.")
    try:
        invitation = parse_code(code)
    except ProtocolError:
        return _("This is not a valid invitation code (it is damaged or incomplete). Please copy it again, whole.")
    if invitation.expires <= clock.now():
        expired = _("This invitation expired on %(when)s. Please ask the other city for a new one.")
        return expired % {"when": localtime(invitation.expires_text)}
    if invitation.node_id == own_node:
        return _("This invitation was made by this node. Give it to the other city's officer.")
    return None


def _refused(exc: NodeError) -> str:
    """Why accepting failed, in words, with the node's technical reason after it."""
    detail = str(exc)
    if "refused the invitation: HTTP 401" in detail:
        words = _("The other city's node does not accept this code: it was used already, revoked or has expired.")
    elif "refused the invitation" in detail:
        words = _("The other city's node refused the pairing.")
    elif isinstance(exc, PeerError) and "fingerprint mismatch" in detail:
        words = _("The node at the code's address has another fingerprint than the code. Do not pair; call the city.")
    elif isinstance(exc, PeerError):
        words = _("The other city's node could not be reached or answered wrongly. Nothing was paired.")
    else:
        words = _("The pairing failed. Nothing was paired.")
    return _("%(words)s (Technical reason: %(detail)s)") % {"words": words, "detail": detail}


@routes.post("/partners/accept", name="invitation_accept")
async def accept(request: web.Request) -> web.StreamResponse:
    """Pair with the city whose invitation code was pasted; then show it, to compare the safety number."""
    actor = actor_of(request)
    node = node_of(request)
    form = await request.post()
    raw = form.get("code")
    code = raw.strip() if isinstance(raw, str) else ""
    pull_only = form.get("pull_only") == "1"
    typed = {"code": code[: MAX_CODE + 1], "pull_only": pull_only}
    problem = _code_problem(code, node.node_id)
    if problem is None:
        try:
            peer = await accept_invitation(node, code, pull_only=pull_only, by=actor)
        except NodeError as exc:
            problem = _refused(exc)
        else:
            text = _("Paired with %(name)s. Now compare the safety number on the phone and confirm it below.")
            flash(await get_session(request), "success", text % {"name": peer["name"]})
            raise web.HTTPSeeOther(str(request.app.router["partner_show"].url_for(peer=peer["node_id"])))
    return render_partners(request, errors={"code": problem}, form=typed, status=400)
