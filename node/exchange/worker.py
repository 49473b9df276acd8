"""Background work of a serving node: the push sender loop and scheduled pulls.

One transaction in flight per peer, over at most MAX_SENDING connections; a slow peer never holds up the others.
The loop looks at the durable queue as soon as a commit queued something, in this process or another (node.wake), and
every `poll_interval` seconds in any case. Pulls run at start, every `pull_interval` seconds, and within a second after
a gap in a peer's chain, one pull per peer at a time, each in a task of its own (so a peer whose pull hangs
until its `pull_timeout` holds up no other); expired alerts are purged at start and every ten minutes. The lists of
every network this node belongs to are refreshed at start and every `pull_interval` seconds. While this node's own
chain is held (node.sharing.chain: after a restore, or a fork refusal), its head is learned from the peers first.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp

from node.checkpoints import checkpoint_loop
from node.exchange.chain_head import chain_loop
from node.exchange.delivery import claim_batches, due_peers, send_batch
from node.exchange.group_commit import GroupCommit
from node.exchange.indexing import index_loop
from node.exchange.pull import catch_up_requested, pull_one, pullable_peers
from node.home import Node
from node.logs import PeerName, short_reason
from node.networks.sync import refresh_all
from node.sharing.expiry import purge_expired
from node.transport.client import new_session
from node.trust.keyring import announce_keys, generation
from node.wake import Listener, database_of

log = logging.getLogger("praevnet.worker")
PURGE_INTERVAL = 600.0
CATCH_UP_CHECK = 1.0
KEYS_INTERVAL = 2.0
MIN_ROUND = 0.005  # seconds between two looks at the queue, however often the node is woken
STOP_GRACE = 5.0  # seconds a transaction in flight may take to finish when the node stops
MAX_SENDING = 100  # connections open at once; the requests of a larger fan-out wait for one, signed and ready


@dataclass
class FanOut:
    """The transactions one round of the delivery loop started, until each one's request has been written."""

    expected: int
    started: float  # the loop's clock when the round looked at the queue
    reached: set[str] = field(default_factory=set)  # the peers' base URLs whose request body went out


ROUND: contextvars.ContextVar[FanOut | None] = contextvars.ContextVar("praevnet_round", default=None)


class Worker:
    """Runs delivery and pulls for one node until stopped."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.inflight: dict[str, asyncio.Task[None]] = {}
        self.pulling: dict[str, asyncio.Task[None]] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.woken = asyncio.Event()
        self.listener: Listener | None = None
        self.finished = 0  # transactions in flight at stop() that finished
        self.handed_back = 0  # transactions in flight at stop() handed back to the queue
        self.commits = GroupCommit(node)  # the answers of a fan-out are recorded in shared commits

    async def start(self) -> None:
        """Open the HTTP session, listen for wake-ups, and start the loops."""
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(self._request_start)
        trace.on_request_chunk_sent.append(self._request_sent)
        self.session = new_session(self.node, trace_configs=[trace], connections=MAX_SENDING)
        self.listener = Listener.open(database_of(self.node.db.conn))
        if self.listener is not None:
            asyncio.get_running_loop().add_reader(self.listener.fileno(), self.listener.drain, self.woken.set)
        self.tasks = [
            asyncio.create_task(self._send_loop()),
            asyncio.create_task(self._pull_loop()),
            asyncio.create_task(self._purge_loop()),
            asyncio.create_task(index_loop(self.node)),  # received records into the search index
            asyncio.create_task(self._keys_loop()),
            asyncio.create_task(self._networks_loop()),
            asyncio.create_task(checkpoint_loop(self.node)),  # signed audit checkpoints when due
            asyncio.create_task(chain_loop(self.node, self.session, self.woken)),  # the chain head, when pending
        ]

    async def stop(self) -> None:
        """Stop the loops and running pulls at once; give each peer's transaction in flight up to STOP_GRACE
        seconds to finish, and hand back the others to the queue, where they wait, still claimed under their
        transaction id, to be sent again (and deduplicated by the peer) after a restart. Then close the session.
        `finished` and `handed_back` count them."""
        loops = [*self.tasks, *self.pulling.values()]
        for task in loops:
            task.cancel()
        await self._settle(loops)
        sending = list(self.inflight.values())
        done: set[asyncio.Task[None]] = set()
        if sending:
            done, _ = await asyncio.wait(sending, timeout=STOP_GRACE)
        late = [task for task in sending if task not in done]
        for task in late:
            task.cancel()
        await self._settle(late)
        self.finished, self.handed_back = len(done), len(late)
        await self.commits.drain()
        if self.listener is not None:
            asyncio.get_running_loop().remove_reader(self.listener.fileno())
            self.listener.close()
        await self.session.close()

    @staticmethod
    async def _settle(tasks: list[asyncio.Task[None]]) -> None:
        """Wait for cancelled tasks to end."""
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _send_loop(self) -> None:
        """Look at the queue every poll_interval, and at once when woken (never more often than MIN_ROUND)."""
        loop = asyncio.get_running_loop()
        while True:
            self.woken.clear()
            started = loop.time()
            try:
                idle = [peer_id for peer_id in due_peers(self.node) if peer_id not in self.inflight]
                claim_batches(self.node, idle)  # one commit for the whole fan-out
                if idle:
                    ROUND.set(FanOut(len(idle), started))  # each send task below starts with it
                # All sends start in one loop turn, so every request is signed before the first one is
                # written (aiohttp writes a body in a task of its own). Letting each reach the wire first
                # was measured (bench/alert_latency): the first peer then hears in 25 ms instead of 150,
                # but answers get handled between the signings and the last peer hears later.
                for peer_id in idle:
                    self.inflight[peer_id] = asyncio.create_task(self._send(peer_id))
            except Exception:
                log.exception("delivery loop")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.woken.wait(), self.node.config.delivery.poll_interval)
            await asyncio.sleep(max(0.0, started + MIN_ROUND - loop.time()))

    async def _send(self, peer_id: str) -> None:
        try:
            await send_batch(self.node, self.session, peer_id, self.commits)  # which logs what the peer answered
        except Exception:
            log.exception("delivery to %s", peer_id)
        finally:
            self.inflight.pop(peer_id, None)

    async def _request_start(
        self, session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        """Note the fan-out round an inbox transaction belongs to (None for other requests)."""
        inbox = params.method == "PUT" and params.url.path.startswith("/fed/v1/inbox/")
        context.fanout = ROUND.get() if inbox else None

    async def _request_sent(
        self, session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestChunkSentParams
    ) -> None:
        """Once the body of the round's last request has been written, log how long the round took to get there."""
        fanout: FanOut | None = getattr(context, "fanout", None)
        if fanout is None or len(fanout.reached) >= fanout.expected:
            return
        fanout.reached.add(str(params.url.origin()))
        if len(fanout.reached) == fanout.expected:
            seconds = asyncio.get_running_loop().time() - fanout.started
            log.log(
                logging.INFO if fanout.expected > 1 else logging.DEBUG,
                "sent the requests of %d transaction(s) in %.1f ms",
                fanout.expected,
                seconds * 1000,
                extra={"event": "delivery.fanout", "count": fanout.expected, "duration": seconds},
            )

    async def _keys_loop(self) -> None:
        """Pick up key changes made by the CLI, and push our descriptor to peers that lack the newest."""
        loaded = generation(self.node)
        while True:
            try:
                current = generation(self.node)
                if current != loaded:
                    self.node.reload_keys()
                    loaded = current
                    log.info("now signing with %s", self.node.key.key_id)
                await announce_keys(self.node, self.session, current)
            except Exception:
                log.exception("key announcement loop")
            await asyncio.sleep(KEYS_INTERVAL)

    async def _purge_loop(self) -> None:
        while True:
            try:
                purged = purge_expired(self.node)
                if any(purged.values()):
                    log.info("purged expired alerts: %d own, %d received", purged["own"], purged["received"])
            except Exception:
                log.exception("purge loop")
            await asyncio.sleep(PURGE_INTERVAL)

    async def _networks_loop(self) -> None:
        """Refresh every network's member and revocation lists at start and every pull_interval."""
        while True:
            try:
                for report in await refresh_all(self.node, self.session):
                    if report.get("error"):
                        log.warning("refreshing network %s failed: %s", report["network"], report["error"])
                    for refused in report["refused"]:
                        log.warning(
                            "network %s: refused %s: %s", report["network"], refused["node_id"], refused["reason"]
                        )
                    if report["trusted"] or report["removed"]:
                        log.info(
                            "network %s: %d member(s) newly trusted, %d no longer trusted",
                            report["network"],
                            len(report["trusted"]),
                            len(report["removed"]),
                        )
            except Exception:
                log.exception("network refresh loop")
            await asyncio.sleep(self.node.config.delivery.pull_interval)

    async def _pull_loop(self) -> None:
        """Pull from everyone at start and every pull_interval; pull at once from a peer with a gap.

        A peer whose pull is still running is not pulled again until it ends."""
        last_full = float("-inf")
        loop = asyncio.get_running_loop()
        while True:
            try:
                due_all = loop.time() - last_full >= self.node.config.delivery.pull_interval
                only = None if due_all else catch_up_requested(self.node)
                if due_all or only:
                    if due_all:
                        last_full = loop.time()
                    for peer in pullable_peers(self.node, only):
                        if peer["node_id"] not in self.pulling:
                            self.pulling[peer["node_id"]] = asyncio.create_task(self._pull(peer))
            except Exception:
                log.exception("pull loop")
            await asyncio.sleep(CATCH_UP_CHECK)

    async def _pull(self, peer: dict[str, Any]) -> None:
        started = asyncio.get_running_loop().time()
        try:
            report = await pull_one(self.node, self.session, peer)
            _log_pull(PeerName(peer["node_id"], peer["name"]), report, asyncio.get_running_loop().time() - started)
        except Exception:
            log.exception("pull from %s", peer["name"])
        finally:
            self.pulling.pop(peer["node_id"], None)


def _log_pull(peer: PeerName, report: dict[str, Any], seconds: float) -> None:
    """Log a pull: a failure as a warning with its reason; one that brought envelopes at info, else at debug."""
    if "error" in report:
        problem = short_reason(report["error"])
        log.warning(
            "pull from %s failed: %s",
            peer,
            problem,
            extra=peer.fields(event="pull.failed", outcome="failed", reason=problem, duration=seconds),
        )
        return
    counts = {name: int(report.get(name, 0)) for name in ("accepted", "duplicate", "refused")}
    log.log(
        logging.INFO if any(counts.values()) else logging.DEBUG,
        "pulled from %s: %d accepted, %d duplicate, %d refused%s",
        peer,
        *counts.values(),
        " (more to come)" if report.get("more") else "",
        extra=peer.fields(event="pull.done", outcome="pulled", duration=seconds, **counts),
    )
