"""The federation server: the aiohttp application with the descriptor, inbox and outbox endpoints.

`create_app(node)` builds the app; background work (push delivery and scheduled pulls) starts and
stops with it through `cleanup_ctx`. Every error answer is JSON `{"error", "message"}`, and every
/fed/ answer is signed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from node import audit
from node.errors import NotFound, PolicyError
from node.events import RECEIVED, Refusal
from node.exchange import network_routes
from node.exchange.chain_head import ChainHeadEndpoint
from node.exchange.gate import authenticate
from node.exchange.inbox import ingest
from node.exchange.worker import Worker
from node.home import Node
from node.logs import PeerName, short_reason
from node.networks import operator as network_operator
from node.networks import peering as network_peering
from node.networks import relays
from node.sharing import policy
from node.store import now, now_text, write
from node.transport.auth import MAX_BODY, AuthError, check_headers, check_signature, read_body, sign_answer
from node.transport.resolver import key_resolver
from node.transport.server_name import name_no_software
from node.trust.invites import answer_pair
from node.trust.peer_keys import apply_descriptor, assess, stored_keys
from node.users import NODE as NODE_ACTOR
from protocol.canonical import canonical_bytes, parse, parse_scanned
from protocol.descriptor import verify_descriptor
from protocol.errors import ProtocolError
from protocol.wire import check_txn_id, outbox_page_body, parse_cursor, parse_limit, parse_transaction

log = logging.getLogger("praevnet.server")
NODE = web.AppKey("node", Node)
WORKER = web.AppKey("worker", Worker)
"""The background delivery and pulls, while they run (`praevnet serve` reads what its stop handed back)."""
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


REFUSED_BY_STATUS: dict[int, Refusal] = {400: "malformed", 401: "auth", 403: "policy", 413: "size", 415: "malformed"}
"""The answers that refuse a request, and the reason each is counted under (node.events)."""
SERVED_BATCH = "served.batch"
"""The audit action of the entry that lists the envelopes of one outbox page a peer pulled."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
"""The methods reported by name; any other a client makes up is reported as `other`."""


def json_response(payload: Any, status: int = 200) -> web.Response:
    """A JSON answer in canonical bytes."""
    return web.Response(body=canonical_bytes(payload), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    code = ERROR_CODES.get(status, "error" if status >= 500 else "refused")
    return json_response({"error": code, "message": message}, status)


@web.middleware
async def errors_and_signing(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn every failure into a JSON error, and sign every /fed/ answer."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        if exc.status == 413:
            message = f"request body is larger than {MAX_BODY} bytes"
        response = _error(exc.status, message)
        _log_refusal(request, exc.status, message)
        if "Allow" in exc.headers:  # a 405 must say which methods are allowed (RFC 9110, 15.5.6)
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception:
        log.exception("internal error handling %s %s", request.method, request.path)
        response = _error(500, "internal error; see the node's log")
    if request.path.startswith("/fed/") and isinstance(response, web.Response):
        sign_answer(request.app[NODE], request, response)
    return response


@web.middleware
async def observed(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Report every answer to the node's events: the route's pattern (never the raw path), method, status and
    time taken; an answer that refuses the request also as a refusal by reason."""
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # a redirect: errors_and_signing turned every failure into an answer
        _report(request, exc.status, started)
        raise
    _report(request, response.status, started)
    return response


def _report(request: web.Request, status: int, started: float) -> None:
    events = request.app[NODE].events
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    method = request.method if request.method in METHODS else "other"
    events.answered(route, method, status, time.perf_counter() - started)
    if status in REFUSED_BY_STATUS:
        events.refused(REFUSED_BY_STATUS[status])


def _log_refusal(request: web.Request, status: int, message: str) -> None:
    """Log a refused request with its reason at info level (a path nobody serves, 404 or 405, only at debug)."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    why = short_reason(message)
    log.log(
        logging.DEBUG if status in (404, 405) else logging.INFO,
        "refused %s %s from %s: %d %s",
        request.method[:16],
        route,
        request.remote,
        status,
        why,
        extra={
            "event": "request.refused",
            "method": request.method[:16],
            "route": route,
            "remote": request.remote,
            "status": status,
            "outcome": "refused",
            "reason": why,
        },
    )


def _log_received(peer: PeerName, txn_id: str, answer: dict[str, Any], seconds: float) -> None:
    """Log a transaction pushed by a peer: how many of its envelopes were accepted, duplicates or refused."""
    counts = {name: sum(1 for entry in answer["results"] if entry["status"] == name) for name in RECEIVED}
    log.info(
        "received %d envelope(s) from %s: %d accepted, %d duplicate, %d refused",
        len(answer["results"]),
        peer,
        *counts.values(),
        extra=peer.fields(event="inbox.received", txn_id=txn_id, outcome="received", duration=seconds, **counts),
    )


def _bad(exc: ProtocolError) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=str(exc))


def _check_query(request: web.Request, allowed: set[str]) -> None:
    """Each query parameter must be one of `allowed` and appear at most once (SPEC 8.3)."""
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        raise ProtocolError(f"unknown query parameter {unknown[0]!r}")
    repeated = sorted(name for name in set(request.query) if len(request.query.getall(name)) > 1)
    if repeated:
        raise ProtocolError(f"query parameter {repeated[0]!r} is given more than once")


async def well_known(request: web.Request) -> web.Response:
    """GET /.well-known/praevnet: this node's self-signed descriptor."""
    response = json_response(request.app[NODE].descriptor())
    response.headers["Cache-Control"] = "max-age=3600"
    return response


async def inbox(request: web.Request) -> web.Response:
    """PUT /fed/v1/inbox/{txn_id}: receive a signed batch of envelopes from a trusted peer."""
    node = request.app[NODE]
    peer, body = await authenticate(node, request)
    try:
        txn_id = check_txn_id(request.match_info["txn_id"])
        document, astral = parse_scanned(body)  # scanned once: the envelopes are not scanned again
        envelopes = parse_transaction(document)
    except ProtocolError as exc:
        raise _bad(exc) from None
    started = time.perf_counter()
    answer = ingest(node, peer["node_id"], envelopes, txn_id, astral=astral)
    _log_received(PeerName(peer["node_id"], peer["name"]), txn_id, answer, time.perf_counter() - started)
    return json_response(answer)


async def outbox(request: web.Request) -> web.Response:
    """GET /fed/v1/outbox?since=CURSOR&limit=N: what this node shares with the requesting peer."""
    node = request.app[NODE]
    peer, _ = await authenticate(node, request)
    try:
        _check_query(request, {"since", "limit"})
        since = parse_cursor(request.query.get("since"))
        limit = parse_limit(request.query.get("limit"))
    except ProtocolError as exc:
        raise _bad(exc) from None
    went_back = "SELECT 1 FROM peers WHERE node_id = ? AND served_cursor > ?"
    if node.db.execute(went_back, (peer["node_id"], since)).fetchone() is not None:
        with write(node.db) as conn:  # it may have lost what it acknowledged by push (restored from a backup)
            policy.forget_pushed(conn, peer["node_id"], since)
    page = policy.outbox_page(node, peer["node_id"], since, limit)
    stamp = now_text()
    with write(node.db) as conn:
        conn.execute(
            "UPDATE peers SET served_cursor = max(served_cursor, ?) WHERE node_id = ?", (since, peer["node_id"])
        )
        relays.withhold(conn, peer["node_id"], page.withheld, stamp)
        relayed = [stored.relay for stored in page.envelopes if stored.relay is not None]
        served = relays.mark_served(conn, peer["node_id"], relayed, stamp)
        envelopes = [stored for stored in page.envelopes if stored.relay is None or stored.relay in served]
        texts = [stored.text.encode() for stored in envelopes]
        if envelopes:  # one entry for the page, naming every envelope in it (node.audit.per_record)
            audit.append(
                conn,
                user=NODE_ACTOR.name,
                action=SERVED_BATCH,
                recipients=[peer["node_id"]],
                detail=f"{len(envelopes)} envelope(s) pulled by the peer",
                records=[
                    {
                        "action": "served",
                        "record_id": stored.envelope["id"],
                        "version": stored.envelope["version"],
                        "digest": audit.digest_of(text),
                        "detail": f"{stored.envelope['type']}"
                        + (f" of {stored.envelope['origin']} (relayed)" if stored.relay is not None else "")
                        + " pulled by the peer",
                    }
                    for stored, text in zip(envelopes, texts, strict=True)
                ],
            )
    cursor, more = page.cursor, page.more
    remaining = policy.outbox_remaining(node, peer["node_id"], cursor) if more else 0
    body = outbox_page_body(texts, cursor, more, remaining)
    named = PeerName(peer["node_id"], peer["name"])
    log.log(
        logging.INFO if texts else logging.DEBUG,
        "%s pulled %d envelope(s)%s",
        named,
        len(texts),
        ", more to come" if more else "",
        extra=named.fields(event="outbox.served", outcome="served", count=len(texts)),
    )
    return web.Response(body=body, content_type="application/json")


async def descriptor_update(request: web.Request) -> web.Response:
    """PUT /fed/v1/descriptor: a trusted peer announces its new descriptor (key rotation or revocation).

    The request is verified only with the current keys we already hold for that peer, never with keys
    from the descriptor it carries (the announcing node signs it with the key we hold). The descriptor
    must verify, be signed by a key we hold for that peer, and not roll back its revocation list; what
    is adopted is decided by node.trust.peer_keys alone. Nothing is stored before all of that holds.
    """
    node = request.app[NODE]
    body = await read_body(request)
    try:
        descriptor = verify_descriptor(parse(body), now=now())
    except ProtocolError as exc:
        raise _bad(exc) from None
    peer_id = descriptor["node_id"]
    try:
        assess(stored_keys(node.db.conn, peer_id), descriptor)
    except NotFound:
        raise AuthError("the descriptor is not that of a trusted peer") from None
    except PolicyError as exc:
        raise AuthError(str(exc)) from None
    resolve = key_resolver(node)

    def held_only(node_id: str, key_id: str) -> bytes | None:
        return resolve(node_id, key_id) if node_id == peer_id else None

    check_signature(node, request, body, held_only)
    try:
        change = apply_descriptor(node, descriptor)
    except PolicyError as exc:  # another announcement got there first and changed what we hold
        raise AuthError(str(exc)) from None
    return json_response({"node_id": peer_id, "change": change})


async def pair(request: web.Request) -> web.Response:
    """POST /fed/v1/pair: a node holding one of our invitations pairs with us; the answer is our descriptor.

    Its headers are checked first as for every other /fed/ request (node.transport.auth.check_headers)."""
    check_headers(request)
    return json_response(await answer_pair(request.app[NODE], request))


async def _network_answer(request: web.Request, answer: Callable[[Node, str, dict[str, Any]], Any]) -> web.Response:
    """Authenticate, then let the operator answer for one of its networks: 404 if it operates no such
    network, 403 if the requester is not a current member of it (nothing is stored either way)."""
    node = request.app[NODE]
    peer, _ = await authenticate(node, request)
    if request.query:
        raise _bad(ProtocolError(f"unknown query parameter {sorted(request.query)[0]!r}"))
    try:
        return json_response(answer(node, request.match_info["network"], peer))
    except NotFound as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    except PolicyError as exc:
        raise web.HTTPForbidden(text=str(exc)) from None


async def network_members(request: web.Request) -> web.Response:
    """GET /fed/v1/networks/{network}/members: the network's current members, for its current members."""
    return await _network_answer(request, network_operator.members_answer)


async def network_revocations(request: web.Request) -> web.Response:
    """GET /fed/v1/networks/{network}/revocations: the network's signed revocation list, for its current members
    and the operators of networks it peers with."""
    return await _network_answer(request, network_peering.revocations_for)


async def network_peerings(request: web.Request) -> web.Response:
    """GET /fed/v1/networks/{network}/peerings: the network's peering statements, for its current members."""
    return await _network_answer(request, network_peering.peerings_answer)


def create_app(node: Node, *, background: bool = True) -> web.Application:
    """The node's web application; with `background`, push delivery and pulls run alongside."""
    name_no_software()
    app = web.Application(middlewares=[observed, errors_and_signing], client_max_size=MAX_BODY)
    app[NODE] = node
    app.router.add_get("/.well-known/praevnet", well_known)
    app.router.add_put("/fed/v1/inbox/{txn_id}", inbox)
    app.router.add_get("/fed/v1/outbox", outbox)
    app.router.add_get("/fed/v1/chain-head", ChainHeadEndpoint(node).answer)
    app.router.add_post("/fed/v1/pair", pair)
    app.router.add_put("/fed/v1/descriptor", descriptor_update)
    app.router.add_get("/fed/v1/networks/{network}/members", network_members)
    app.router.add_get("/fed/v1/networks/{network}/revocations", network_revocations)
    app.router.add_get("/fed/v1/networks/{network}/peerings", network_peerings)
    app[network_routes.ENDPOINTS] = networks = network_routes.NetworkEndpoints(node)
    app.router.add_post("/fed/v1/networks/{network}/revocations", networks.revocations)
    app.router.add_post("/fed/v1/networks/{network}/leave", networks.leave)
    app.router.add_post("/fed/v1/networks/{network}/peerings", networks.peerings)
    app.cleanup_ctx.append(networks.background)
    if background:
        app.cleanup_ctx.append(_background)
    return app


async def _background(app: web.Application) -> AsyncIterator[None]:
    worker = app[WORKER] = Worker(app[NODE])
    await worker.start()
    yield
    await worker.stop()
