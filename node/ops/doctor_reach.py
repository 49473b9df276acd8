"""The doctor's checks over the network: the node's own public URL, and each peer's reachability, clock and
descriptor, all at once, each request within `Limits.timeout` seconds.

A peer is asked what it answers without changing anything: a signed GET of /fed/v1/chain-head (how much
of this node's chain it holds, SPEC 8.11). Its answer is signed with the peer's clock, whatever the
status: the time of that signature, verified but not required to be fresh
(node.transport.client.signed_answer), against this node's clock halfway through the request, is the
skew. Signatures dated more than a few seconds ahead are refused as "in the future" (and more than five
minutes back as too old), so a few seconds matter. A pull-only peer is never contacted: it fetches
from this node. Nor is the own URL of a node that is pull-only itself (`[node] pull_only = true`): nobody
can reach it there, so a check could only fail.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from node.errors import PeerError
from node.home import Node
from node.ops.findings import FAIL, OK, WARN, Finding, Limits
from node.store import now
from node.transport.client import SignedAnswer, fetch_descriptor, new_session, signed_answer
from node.trust.peers import list_peers
from protocol.timestamps import parse_timestamp

PROBE = "/fed/v1/chain-head"  # signed, read-only, answered to every trusted peer


async def examine_reach(node: Node, limits: Limits) -> list[Finding]:
    """The own URL first, then every peer's findings in the order `peers list` shows them."""
    async with new_session(node, within=limits.timeout) as session:
        own = own_url(node, session, limits)
        each = [peer_checks(node, session, peer, limits) for peer in list_peers(node)]
        results = await asyncio.gather(own, *each)
    return [finding for findings in results for finding in findings]


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _lifetime(check: str, descriptor: dict[str, Any], limits: Limits, advice: str) -> Finding:
    ends = parse_timestamp(descriptor["valid_until"])
    if ends - now() < limits.descriptor_warn:
        return Finding(check, WARN, f"the descriptor served expires soon, at {_stamp(ends)}", advice)
    return Finding(check, OK, f"the descriptor served is valid until {_stamp(ends)}")


async def own_url(node: Node, session: aiohttp.ClientSession, limits: Limits) -> list[Finding]:
    """The node's public URL answers with this node's descriptor (its id and current key), valid for a while;
    not asked at all on a pull-only node, which nobody can reach."""
    url = node.config.url
    if node.config.pull_only:
        said = (
            f"this node is pull-only ([node] pull_only = true in its configuration): nobody can reach it, so {url} "
            "is not checked; tell its peers to add it with --pull-only (`peers add`, `network admit`)"
        )
        return [Finding("own url", OK, said)]
    try:
        descriptor = await fetch_descriptor(session, url)
    except PeerError as exc:
        return [
            Finding(
                "own url",
                FAIL,
                f"{exc}",
                "peers cannot reach this node there: check that `praevnet serve` runs and that the reverse proxy "
                "forwards /.well-known/praevnet and /fed/ to it, and DNS and TLS for [node] url (where this host "
                "cannot reach its own public address, check it from outside); if nobody may reach this node (no "
                "inbound connections), set [node] pull_only = true and have its peers add it with --pull-only",
            )
        ]
    if descriptor["node_id"] != node.node_id:
        return [
            Finding(
                "own url",
                FAIL,
                f"{url} answers with the descriptor of another node: {descriptor['name']} ({descriptor['node_id']})",
                "the reverse proxy forwards to another node, or [node] url names another node's address: "
                f"this node is {node.config.name} ({node.node_id})",
            )
        ]
    if descriptor["keys"].get(node.key.key_id) != node.key.public_b64:
        said = f"{url} answers with this node's descriptor, but without its current key {node.key.key_id}"
        advice = "a cache in front of the node serves an old descriptor: cache /.well-known/praevnet one hour at most"
        return [Finding("own url", WARN, said, advice)]
    stale = "a cache in front of the node serves an old descriptor: cache /.well-known/praevnet one hour at most"
    return [
        Finding("own url", OK, f"{url} answers with this node's descriptor"),
        _lifetime("own descriptor", descriptor, limits, stale),
    ]


async def peer_checks(
    node: Node, session: aiohttp.ClientSession, peer: dict[str, Any], limits: Limits
) -> list[Finding]:
    """One peer: reachable and accepting this node's signed requests, its clock, the descriptor it serves."""
    name = peer["name"]
    if peer["pull_only"]:
        return [Finding(f"peer {name}", OK, "pull-only: this node never connects to it, it fetches from this node")]
    probe, served = await asyncio.gather(_probe(node, session, peer), _descriptor(session, peer))
    findings = []
    if isinstance(probe, PeerError):
        advice = (
            f"check {name}'s URL (`praevnet peers list`) and this host's outbound connections (firewall, proxy), "
            f"or ask {name} whether its node runs"
        )
        findings.append(Finding(f"peer {name}", FAIL, str(probe), advice))
    else:
        answer, sent, received = probe
        findings += [_accepted(name, answer), _clock(name, answer, sent, received, limits)]
    if isinstance(served, dict) and served["node_id"] != peer["node_id"]:
        said = f"{peer['url']} answers with the descriptor of another node: {served['name']} ({served['node_id']})"
        advice = f"{name}'s URL changed or its proxy forwards elsewhere: ask {name}"
        findings.append(Finding(f"descriptor {name}", FAIL, said, advice))
    elif isinstance(served, dict):
        findings.append(_lifetime(f"descriptor {name}", served, limits, f"ask {name} whether a cache serves it"))
    elif not isinstance(probe, PeerError):  # it answers signed requests, but not for its descriptor
        advice = f"{name}'s reverse proxy does not serve /.well-known/praevnet: key changes cannot reach this node"
        findings.append(Finding(f"descriptor {name}", WARN, str(served), advice))
    return findings


async def _probe(
    node: Node, session: aiohttp.ClientSession, peer: dict[str, Any]
) -> tuple[SignedAnswer, datetime, datetime] | PeerError:
    sent = now()
    try:
        answer = await signed_answer(node, session, peer, "GET", PROBE)
    except PeerError as exc:
        return exc
    return answer, sent, now()


async def _descriptor(session: aiohttp.ClientSession, peer: dict[str, Any]) -> dict[str, Any] | PeerError:
    try:
        return await fetch_descriptor(session, peer["url"])
    except PeerError as exc:
        return exc


def _accepted(name: str, answer: SignedAnswer) -> Finding:
    check = f"peer {name}"
    if 200 <= answer.status < 300:
        return Finding(check, OK, "reachable; accepts this node's signed requests")
    said = f"answered HTTP {answer.status}: {answer.body[:300].decode('utf-8', 'replace')}"
    if answer.status == 401:
        advice = f"compare the clocks (below) and this node's fingerprint (`praevnet id`) with {name}'s officers"
        return Finding(check, FAIL, f"refuses this node's signed requests: {said}", advice)
    return Finding(check, WARN, said, f"ask {name}'s administrator to look at its log")


def _clock(name: str, answer: SignedAnswer, sent: datetime, received: datetime, limits: Limits) -> Finding:
    """The peer's clock against ours: its signature's time (whole seconds, so +0.5) against the request's middle."""
    middle = sent + (received - sent) / 2
    skew = (answer.signed + timedelta(seconds=0.5) - middle).total_seconds()
    margin = (received - sent).total_seconds() / 2 + 0.5
    way = "ahead of" if skew > 0 else "behind"
    said = f"{name}'s clock is {abs(skew):.1f} s (± {margin:.1f} s) {way} this node's"
    advice = (
        "signatures dated more than 5 s ahead or 5 min back are refused: synchronise this host's clock "
        f"(NTP: `timedatectl`, chrony); if it is right, tell {name}"
    )
    if abs(skew) - margin >= limits.skew_fail:
        return Finding(f"clock {name}", FAIL, said, advice)
    if abs(skew) - margin >= limits.skew_warn:
        return Finding(f"clock {name}", WARN, said, advice)
    return Finding(f"clock {name}", OK, said)
