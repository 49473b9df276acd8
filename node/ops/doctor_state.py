"""The doctor's checks of an opened node: network keys, audit chain, queues, forks and the chain, network
certificates."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from node import audit, checkpoints
from node.errors import NodeError
from node.exchange.status import peer_status
from node.home import Node
from node.networks.registry import RENEW_OWN_CERTIFICATE_BEFORE, list_networks, load_network_key
from node.ops.findings import FAIL, OK, WARN, Finding, Limits
from node.sharing.chain import chain_state, fork_refusals
from node.store import now, rows
from protocol.timestamps import parse_timestamp

_OLDEST = """
SELECT d.peer_id, min(d.enqueued) AS oldest FROM deliveries d WHERE d.state = 'pending' GROUP BY d.peer_id
UNION ALL
SELECT g.peer_id, min(g.created) FROM grants g JOIN peers p ON p.node_id = g.peer_id
WHERE p.pull_only AND g.cursor > p.served_cursor GROUP BY g.peer_id
"""


def examine_state(node: Node, limits: Limits) -> list[Finding]:
    """The checks on what the node holds, in order."""
    statuses = peer_status(node)
    return [
        *network_keys(node),
        audit_chain(node),
        *(queue(node, status, oldest, limits) for status, oldest in _with_oldest(node, statuses)),
        *forks(node, statuses),
        *certificates(node, limits),
    ]


def network_keys(node: Node) -> list[Finding]:
    """The private key of every network this node operates is there, private and the network's."""
    found = []
    for network in list_networks(node):
        if network["role"] != "operator":
            continue
        try:
            load_network_key(node, network["id"])
        except NodeError as exc:
            found.append(Finding(f"network key {network['name']}", FAIL, str(exc), "restore it from the backup"))
        else:
            found.append(Finding(f"network key {network['name']}", OK, "present, private and the network's"))
    return found


def audit_chain(node: Node) -> Finding:
    """The audit log's hash chain and the checkpoints kept in the database (node.checkpoints.verify)."""
    problems = checkpoints.verify(node)
    if problems:
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        return Finding(
            "audit",
            FAIL,
            f"the audit log is not intact: {problems[0]}{more}",
            "run `praevnet audit verify` (with --checkpoint FILE for a checkpoint kept outside the node), "
            "tell the data-protection officer, and keep the database as it is for the investigation",
        )
    head = audit.head(node)
    entries = head["seq"] if head is not None else 0
    kept = len(checkpoints.stored(node))
    return Finding("audit", OK, f"hash chain intact: {entries} entries, {kept} signed checkpoint(s) hold")


def _with_oldest(node: Node, statuses: list[dict[str, Any]]) -> list[tuple[dict[str, Any], datetime | None]]:
    oldest = {row["peer_id"]: parse_timestamp(row["oldest"]) for row in rows(node.db, _OLDEST)}
    return [(status, oldest.get(status["node_id"])) for status in statuses]


def _age(delta: timedelta) -> str:
    seconds = max(0.0, delta.total_seconds())
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 2 * 86400:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} days"


def queue(node: Node, status: dict[str, Any], oldest: datetime | None, limits: Limits) -> Finding:
    """Whether what waits for one peer drains: how long the oldest has waited, and failed attempts in a row."""
    name = f"queue {status['name']}"
    done = f"{status['delivered']} delivered, {status['refused']} refused by it"
    if status["pull_only"]:
        done = "pull-only: it fetches from this node"
    if not status["queued"] or oldest is None:
        return Finding(name, OK, f"nothing waiting ({done})")
    waited = now() - oldest
    said = f"{status['queued']} waiting, the oldest for {_age(waited)} ({done})"
    failing = status["failures"] >= limits.failures_warn and not status["pull_only"]
    if failing:
        said += f"; {status['failures']} failed attempts in a row, the last: {status['last_error']}"
    if status["pull_only"]:
        advice = f"{status['name']} has not fetched for that long: ask its administrator to check its node"
    else:
        advice = f"see why {status['name']} cannot be reached below; then `praevnet peers retry {status['node_id']}`"
    if waited >= limits.queue_fail:
        return Finding(name, FAIL, said, advice)
    if waited >= limits.queue_warn or failing:
        return Finding(name, WARN, said, advice)
    return Finding(name, OK, said)


def forks(node: Node, statuses: list[dict[str, Any]]) -> list[Finding]:
    """Peers that refuse this node's envelopes as forks of its chain (node.sharing.chain.fork_refusals), a chain
    that waits to learn its head from the peers, and forks this node refused from peers."""
    found = []
    state = chain_state(node)
    if state["pending"]:
        found.append(
            Finding(
                "chain",
                WARN,
                f"this node's own envelopes after seq {state['held_above']} wait until a peer has said how much of "
                f"this node's chain it holds ({state['pending']})",
                "keep `praevnet serve` running with its peers reachable: it asks them and goes on by itself",
            )
        )
    for refusal in fork_refusals(node):
        found.append(
            Finding(
                f"fork {refusal['name']}",
                FAIL,
                f"{refusal['name']} refuses this node's envelopes as forks: {refusal['chain_fork']}",
                f"{refusal['name']} holds more of this node's chain than this node does (it was restored from an "
                "older copy?): keep `praevnet serve` running so that it learns its chain head from its peers and "
                "signs what was refused again after it; `praevnet peers status` shows when the peer takes it",
            )
        )
    for status in statuses:
        if status["forks_refused"]:
            found.append(
                Finding(
                    f"forks from {status['name']}",
                    WARN,
                    f"this node refused {status['forks_refused']} envelope(s) from {status['name']} as forks of "
                    "what it holds of that chain",
                    f"ask {status['name']}'s administrator whether that node was restored from an older copy, "
                    "and to run `praevnet doctor`",
                )
            )
    if not found:
        return [Finding("forks", OK, "no peer refuses this node's envelopes as forks, and none sent forks")]
    return found


def certificates(node: Node, limits: Limits) -> list[Finding]:
    """This node's membership certificate and the revocation list of every network, and when they expire."""
    found = []
    moment = now()
    for network in list_networks(node):
        name, operator = network["name"], network["role"] == "operator"
        expires = parse_timestamp(network["expires"])
        # the operator's serve renews its own certificate RENEW_OWN_CERTIFICATE_BEFORE its end
        soon = RENEW_OWN_CERTIFICATE_BEFORE - timedelta(days=1) if operator else limits.certificate_warn
        if operator:
            advice = "the operator's `praevnet serve` renews it by itself: check that it runs"
        else:
            advice = f"ask the operator of {name} to admit this node again, then `praevnet network refresh {name}`"
        found.append(
            _expiry(f"certificate {name}", "this node's membership certificate", expires, moment, soon, advice)
        )
        if network["revocations_expire"] is not None:
            lapse = parse_timestamp(network["revocations_expire"])
            advice = "run `praevnet network refresh`" + ("" if not operator else " (serve renews it by itself)")
            found.append(
                _expiry(f"revocations {name}", "the revocation list", lapse, moment, limits.revocations_warn, advice)
            )
    return found


def _expiry(check: str, what: str, ends: datetime, moment: datetime, soon: timedelta, advice: str) -> Finding:
    stamp = ends.isoformat(timespec="seconds").replace("+00:00", "Z")
    if ends <= moment:
        return Finding(check, FAIL, f"{what} expired at {stamp}", advice)
    if ends - moment < soon:
        return Finding(check, WARN, f"{what} expires in {_age(ends - moment)}, at {stamp}", advice)
    return Finding(check, OK, f"{what} is valid until {stamp}")
