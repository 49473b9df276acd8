"""Pairing by invitation: one-time codes, the inviting node's /fed/v1/pair endpoint, and accepting a code.

The inviting officer runs `invite create`; the node stores only the SHA-256 of the code's secret.
The accepting node checks that the node at the code's URL has the code's node id and fingerprint,
then sends its own self-signed descriptor and the secret in a request signed with its key. The
inviting node verifies that request with the key from the descriptor it carries, checks the
invitation, fetches the descriptor at the URL that descriptor claims and requires the same node
there (node id, URL, current keys; a pull-only node cannot be reached and is never sent anything,
so it is not fetched), uses the invitation up and trusts the accepting node in one transaction,
and answers with its own descriptor; only then does the accepting node trust the inviting one. The officers confirm the
pairing afterwards with `peers verify`, reading the pair safety number to each other.

An invitation works once, for one node. If the answer is lost on the way back (the inviting node
trusts the accepting one, but not yet the other way round), the same node may accept the same code
again with the same key until it expires: the inviting node answers again with its descriptor and
changes nothing. An officer can revoke an open invitation; it is never usable afterwards.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import timedelta
from typing import Any

from aiohttp import web

from node import audit
from node.errors import NodeError, NotFound, PeerError
from node.home import Node
from node.store import now, now_text, rows, write
from node.transport.auth import MAX_BODY, AuthError, remember_nonce, target_url
from node.transport.client import HttpFailure, fetch_descriptor, new_session, signed_request
from node.trust.peers import get_peer, trust_descriptor
from node.users import NODE, Actor
from protocol.canonical import parse
from protocol.descriptor import descriptor_keys, verify_descriptor
from protocol.errors import ProtocolError
from protocol.httpsig import http_key_id, verify_request
from protocol.invite import (
    PAIR_PATH,
    Invitation,
    make_code,
    new_secret,
    pair_request,
    pair_safety_number,
    parse_code,
    parse_pair_request,
    secret_hash,
)
from protocol.keys import fingerprint, public_key_from_b64
from protocol.timestamps import format_timestamp

MIN_LIFETIME = timedelta(minutes=1)
MAX_LIFETIME = timedelta(days=30)
DEFAULT_LIFETIME = "7d"
_DURATION = re.compile(r"([1-9][0-9]{0,5})([mhd])\Z")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
UNUSABLE = "invitation unknown, used, revoked or expired"
AGAIN = (
    "nothing is trusted here yet, but the other node may have paired already: run the same `praevnet invite"
    " accept` again (it works again for this node until the code expires)"
)
UNCONFIRMED = (
    "make this node serve its descriptor at {url}/.well-known/praevnet and run the same `praevnet invite accept`"
    " again or, if this node cannot be reached from outside, accept with --pull-only"
)


def parse_lifetime(text: str) -> timedelta:
    """A lifetime such as `30m`, `12h` or `7d`, from one minute to 30 days; NodeError otherwise."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise NodeError(f"{text!r} is not a duration; write minutes, hours or days like 30m, 12h or 7d")
    lifetime = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if not MIN_LIFETIME <= lifetime <= MAX_LIFETIME:
        raise NodeError(f"an invitation lasts from 1 minute to 30 days, not {text.strip()}")
    return lifetime


def create_invitation(node: Node, lifetime: timedelta, *, by: Actor) -> str:
    """Make a one-time invitation valid for `lifetime` and return its code (shown once, never stored)."""
    if not MIN_LIFETIME <= lifetime <= MAX_LIFETIME:
        raise NodeError("an invitation lasts from 1 minute to 30 days")
    created = now()
    expires = format_timestamp(created + lifetime)
    secret = new_secret()
    code = make_code(
        url=node.config.url,
        node_id=node.node_id,
        fingerprint=node.fingerprint,
        secret=secret,
        expires=created + lifetime,
    )
    with write(node.db) as conn:
        cursor = conn.execute(
            "INSERT INTO invitations (secret_hash, created, created_by, expires) VALUES (?, ?, ?, ?)",
            (secret_hash(secret), format_timestamp(created), by.name, expires),
        )
        audit.append(
            conn, user=by.name, action="invite.create", detail=f"invitation {cursor.lastrowid}, valid until {expires}"
        )
    return code


def _state(row: dict[str, Any], moment: str) -> str:
    if row["used_by"] is not None:
        return "used"
    if row["revoked"] is not None:
        return "revoked"
    return "expired" if row["expires"] <= moment else "open"


def list_invitations(node: Node, *, only_open: bool = False) -> list[dict[str, Any]]:
    """Every invitation (or only the open ones), newest first, with its state: open, used, revoked or
    expired. Never the secret: the node does not have it."""
    moment = format_timestamp(now())
    result = []
    for row in rows(node.db, "SELECT * FROM invitations ORDER BY id DESC"):
        state = _state(row, moment)
        if only_open and state != "open":
            continue
        result.append(
            {
                "id": row["id"],
                "state": state,
                "created": row["created"],
                "created_by": row["created_by"],
                "expires": row["expires"],
                "used_by": row["used_by"],
                "used_at": row["used_at"],
                "revoked": row["revoked"],
                "revoked_by": row["revoked_by"],
            }
        )
    return result


def revoke_invitation(node: Node, invitation_id: int, *, by: Actor) -> dict[str, Any]:
    """Revoke an open invitation so that its code can never be accepted; return it. Audited as `invite.revoke`.

    Refused (NotFound or NodeError, nothing changed) for an unknown id and for an invitation that
    was used, has expired or is revoked already: a pairing made with a used one is undone with
    `peers remove`.
    """
    moment = format_timestamp(now())
    with write(node.db) as conn:
        found = rows(node.db, "SELECT * FROM invitations WHERE id = ?", (invitation_id,))
        if not found:
            raise NotFound(f"there is no invitation {invitation_id} (see `praevnet invite list`)")
        row = found[0]
        state = _state(row, moment)
        if state == "used":
            raise NodeError(
                f"invitation {invitation_id} was already used by {row['used_by']}; to stop trusting that node, run"
                f" `praevnet peers remove {row['used_by']}`"
            )
        if state != "open":
            raise NodeError(f"invitation {invitation_id} is {state} already; nobody can use it")
        conn.execute(
            "UPDATE invitations SET revoked = ?, revoked_by = ? WHERE id = ?", (moment, by.name, invitation_id)
        )
        audit.append(conn, user=by.name, action="invite.revoke", detail=f"invitation {invitation_id}")
    return next(item for item in list_invitations(node) if item["id"] == invitation_id)


# --- the inviting node: POST /fed/v1/pair -------------------------------------------------------


async def answer_pair(node: Node, request: web.Request) -> dict[str, Any]:
    """Handle POST /fed/v1/pair; return this node's descriptor, or raise the HTTP error to answer.

    413 for a body over 1 MiB; 401 for an unsigned request; 400 for a body that is not a well-formed
    pairing request (its key is needed to check the signature); 401 if the descriptor in it or the
    request's signature by that descriptor's key fails, and for an invitation that is unknown, used,
    revoked or expired; 403 unless the node at the descriptor's URL is the one asking (see
    `_confirm_url`; not for a pull-only request: that node cannot be reached and is never sent
    anything); 401 for a replayed nonce; 400 if the node cannot be trusted (it is this node itself).
    Nothing is written before the invitation and the URL are checked (not even the nonce), and
    nothing is stored unless everything holds; the invitation is used up in the same transaction
    that trusts the requesting node. A repeat by the node that used the invitation, with the same
    key, while it has not expired and that node is still paired, is answered again with this node's
    descriptor and changes nothing but the audit log (its first answer was lost).
    """
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    if "Signature" not in request.headers or "Signature-Input" not in request.headers:
        raise AuthError("request is not signed: Signature and Signature-Input headers are required")
    body = await request.read()
    try:
        secret, offered, pull_only = parse_pair_request(parse(body))
    except ProtocolError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    try:
        descriptor = verify_descriptor(offered, now=now())
    except ProtocolError as exc:
        raise AuthError(f"the descriptor in the request is not acceptable: {exc}") from None
    keys = descriptor_keys(descriptor)

    def resolve(node_id: str, key_id: str) -> bytes | None:
        return keys.get(key_id) if node_id == descriptor["node_id"] else None

    try:
        info = verify_request(request.method, target_url(node, request), request.headers.items(), body, resolve)
    except ProtocolError as exc:
        raise AuthError(f"{exc} (a pairing request must be signed by a key of the descriptor it carries)") from None
    peer_fingerprint = fingerprint(keys[info.key_id])
    hashed, moment = secret_hash(secret), format_timestamp(now())
    repeat = _usable(node, hashed, descriptor["node_id"], peer_fingerprint, moment)
    if not repeat and not pull_only:
        await _confirm_url(node, descriptor)
    if not remember_nonce(node, http_key_id(info.node_id, info.key_id), info.nonce, info.created):
        raise AuthError("replayed request: this nonce was already used")
    try:
        with write(node.db) as conn:
            used = conn.execute(
                """UPDATE invitations SET used_by = ?, used_at = ?, used_fingerprint = ?
                   WHERE secret_hash = ? AND used_by IS NULL AND revoked IS NULL AND expires > ?""",
                (descriptor["node_id"], now_text(), peer_fingerprint, hashed, moment),
            ).rowcount
            if not used:
                _answer_again(conn, hashed, descriptor, peer_fingerprint, moment)
                return node.descriptor()
            invitation_id, created_by = conn.execute(
                "SELECT id, created_by FROM invitations WHERE secret_hash = ?", (hashed,)
            ).fetchone()
            peer = trust_descriptor(
                node, descriptor["url"], peer_fingerprint, descriptor, pull_only=pull_only, within=conn
            )
            mode = ", pull-only" if pull_only else ""
            audit.append(
                conn,
                user=NODE.name,
                action="peer.pair",
                recipients=[peer["node_id"]],
                detail=(
                    f"{peer['name']} at {peer['url']} ({peer_fingerprint}{mode}) used invitation {invitation_id}"
                    f" made by {created_by}"
                ),
            )
    except NodeError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return node.descriptor()


# The invitation a node that used it may repeat (its answer was lost): parameters secret hash, node id,
# fingerprint, now, fingerprint.
_REPEATABLE = """SELECT i.id FROM invitations i JOIN peers p ON p.node_id = i.used_by
                 WHERE i.secret_hash = ? AND i.used_by = ? AND i.used_fingerprint = ? AND i.expires > ?
                   AND p.fingerprint = ? AND p.network IS NULL"""


def _usable(node: Node, hashed: str, node_id: str, peer_fingerprint: str, moment: str) -> bool:
    """Whether a request with this secret would repeat a pairing (True) or use an open invitation (False).

    AuthError (401) if it would do neither. Only reads: a request refused here leaves no trace.
    """
    open_one = (
        "SELECT id FROM invitations WHERE secret_hash = ? AND used_by IS NULL AND revoked IS NULL AND expires > ?"
    )
    if rows(node.db, open_one, (hashed, moment)):
        return False
    if rows(node.db, _REPEATABLE, (hashed, node_id, peer_fingerprint, moment, peer_fingerprint)):
        return True
    raise AuthError(UNUSABLE)


async def _confirm_url(node: Node, claimed: dict[str, Any]) -> None:
    """403 unless the node at the URL `claimed` names serves a descriptor with the same node id, URL and
    current keys (the same key ids with the same public keys, so the key that signed the request too).

    Otherwise the requester could make this node send its signed requests, and the records shared
    with it, to any URL it liked. Only reads, and fetches nothing but that URL's descriptor.
    """
    url = claimed["url"]
    try:
        async with new_session(node) as session:
            served = await fetch_descriptor(session, url)
    except PeerError as exc:
        problem = str(exc)
    else:
        problem = _difference(claimed, served)
    if problem:
        raise web.HTTPForbidden(
            text=f"{problem}; not pairing: nothing was stored and the invitation is still open (a node that cannot"
            " be reached pairs pull-only)"
        )


def _difference(claimed: dict[str, Any], served: dict[str, Any]) -> str:
    """Why the descriptor served at the claimed URL is not the node that claimed it; empty if it is."""
    where = f"the node at {claimed['url']}"
    if served["node_id"] != claimed["node_id"]:
        return f"{where} is {served['node_id']}, not {claimed['node_id']}"
    if served["url"] != claimed["url"]:
        return f"{where} says its URL is {served['url']}"
    if descriptor_keys(served) != descriptor_keys(claimed):
        return f"{where} has other current keys ({', '.join(sorted(served['keys']))}) than the request's descriptor"
    return ""


def _answer_again(
    conn: sqlite3.Connection, hashed: str, descriptor: dict[str, Any], peer_fingerprint: str, moment: str
) -> None:
    """Allow a repeat by the node that used this invitation with this key (its answer was lost), else 401.

    The invitation must not have expired, and that node must still be paired here with that
    fingerprint; the repeat is audited and changes nothing else.
    """
    found = conn.execute(
        _REPEATABLE, (hashed, descriptor["node_id"], peer_fingerprint, moment, peer_fingerprint)
    ).fetchone()
    if found is None:
        raise AuthError(UNUSABLE)
    audit.append(
        conn,
        user=NODE.name,
        action="peer.pair",
        recipients=[descriptor["node_id"]],
        detail=f"answered again: {descriptor['node_id']} ({peer_fingerprint}) repeated invitation {found[0]}",
    )


# --- the accepting node ------------------------------------------------------------------------


def _check_inviter(invitation: Invitation, descriptor: dict[str, Any], where: str) -> None:
    """The descriptor must be the one the code names: node id, URL and a key with the code's fingerprint."""
    if descriptor["node_id"] != invitation.node_id:
        raise PeerError(
            f"{where} is node {descriptor['node_id']}, but the invitation names {invitation.node_id}; not pairing"
        )
    if descriptor["url"] != invitation.url:
        raise PeerError(f"{where} says its URL is {descriptor['url']}, not {invitation.url}; not pairing")
    fingerprints = sorted(fingerprint(raw) for raw in descriptor_keys(descriptor).values())
    if invitation.fingerprint not in fingerprints:
        raise PeerError(
            f"fingerprint mismatch: {where} has {', '.join(fingerprints)}, not {invitation.fingerprint} as the"
            " invitation says; do not pair, and check with the other city"
        )


def _refusal(exc: HttpFailure) -> str:
    """The message of a JSON error answer, on one line, else the HTTP failure as it is.

    The failure holds only the answer's first bytes: a long message is shown as far as it got.
    """
    _, _, raw = str(exc).partition(f"answered HTTP {exc.status}: ")
    try:
        message = json.loads(raw)["message"]
    except (ValueError, TypeError, KeyError):
        _, cut, rest = raw.partition('"message":"')
        message = f"{rest} ..." if cut else raw or str(exc)
    return f"HTTP {exc.status}: {' '.join(str(message).split())}"


async def accept_invitation(node: Node, code: str, *, pull_only: bool = False, by: Actor) -> dict[str, Any]:
    """Pair with the node that made the invitation `code`; return it as a trusted peer.

    Checks the code, refuses an expired one without contacting anybody, fetches the inviting node's
    descriptor and refuses unless node id, URL and fingerprint are those of the code, then sends the
    pairing request. Only after the inviting node accepted it (a 200 answer signed by the key just
    checked, holding its descriptor) does this node trust it. With `pull_only`, this node tells the
    inviting node never to push to it (it cannot be reached; it pulls).
    """
    try:
        invitation = parse_code(code)
    except ProtocolError as exc:
        raise NodeError(f"not a valid invitation: {exc}") from None
    if invitation.expires <= now():
        raise NodeError(f"this invitation expired at {invitation.expires_text}; ask the other city for a new one")
    if invitation.node_id == node.node_id:
        raise NodeError("this invitation was made by this node; give it to the other city's officer")
    where = f"the node at {invitation.url}"
    async with new_session(node) as session:
        fetched = await fetch_descriptor(session, invitation.url)
        _check_inviter(invitation, fetched, where)
        keys = descriptor_keys(fetched)

        def resolve(node_id: str, key_id: str) -> bytes | None:
            return keys.get(key_id) if node_id == invitation.node_id else None

        inviter = {"node_id": invitation.node_id, "url": invitation.url}
        payload = pair_request(invitation.secret, node.descriptor(), pull_only=pull_only)
        try:
            answer = await signed_request(node, session, inviter, "POST", PAIR_PATH, payload, resolve)
        except HttpFailure as exc:
            hint = f"; {AGAIN}" if exc.status >= 500 else ""
            if exc.status == 403:
                hint = f"; {UNCONFIRMED.format(url=node.config.url)}"
            raise PeerError(f"{where} refused the invitation: {_refusal(exc)}{hint}") from None
        except PeerError as exc:
            raise PeerError(f"no answer to the pairing request: {exc}; {AGAIN}") from None
    try:
        confirmed = verify_descriptor(answer, now=now())
    except ProtocolError as exc:
        raise PeerError(f"{where} accepted, but answered with an unacceptable descriptor: {exc}; {AGAIN}") from None
    _check_inviter(invitation, confirmed, where)
    with write(node.db) as conn:
        peer = trust_descriptor(node, invitation.url, invitation.fingerprint, confirmed, within=conn)
        audit.append(
            conn,
            user=by.name,
            action="peer.pair",
            recipients=[peer["node_id"]],
            detail=f"accepted the invitation of {peer['name']} at {peer['url']} ({invitation.fingerprint})",
        )
    return get_peer(node, peer["node_id"])


# --- confirming a pairing on the phone ---------------------------------------------------------


def peer_pair_safety_number(node: Node, peer_id: str) -> tuple[str, str]:
    """The pair safety number of this node's key and the peer's, and the fingerprint of the peer key used.

    The peer key is the one its fingerprint was checked against when pairing, while it is current;
    otherwise the peer's newest current key.
    """
    peer = get_peer(node, peer_id)
    keys = {kid: public_key_from_b64(encoded) for kid, encoded in peer["keys"].items()}
    by_fingerprint = {fingerprint(raw): raw for raw in keys.values()}
    if peer["fingerprint"] in by_fingerprint:
        chosen = by_fingerprint[peer["fingerprint"]]
    else:
        chosen = keys[max(keys, key=lambda kid: int(kid.partition(":")[2]))]
    return pair_safety_number(node.key.public, chosen), fingerprint(chosen)
