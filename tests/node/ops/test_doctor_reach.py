"""Issue 13, doctor: the checks over the network (own URL, each peer's reachability, clock and descriptor),
with real nodes served on loopback, peers that are down, hang or are someone else, and skewed clocks."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tomli_w
from aiohttp import web

from node.home import CONFIG_FILE, Node, init_home
from node.ops.doctor import examine
from node.ops.findings import FAIL, OK, WARN, Finding, Limits
from node.trust.peers import remove_peer
from tests.conftest import FakePeer, SetClock
from tests.node.conftest import ServeOn
from tests.node.federation import Federation
from tests.ports import hold_port, unreachable_url


def only(findings: list[Finding], check: str) -> Finding:
    [found] = [finding for finding in findings if finding.check == check]
    return found


def set_pull_only(home: Path, value: object = True) -> None:
    """Write `[node] pull_only = value` into the home's praevnet.toml, as its operator would."""
    path = home / CONFIG_FILE
    settings = tomllib.loads(path.read_text(encoding="utf-8"))
    settings["node"]["pull_only"] = value
    path.write_text(tomli_w.dumps(settings), encoding="utf-8")


async def doctor(node: Node, limits: Limits | None = None) -> list[Finding]:
    """`praevnet doctor` on the node's home, beside the servers this test runs in its event loop."""
    return await asyncio.to_thread(examine, node.home, limits)


@pytest.fixture
async def pair(federation: Federation) -> tuple[Node, Node]:
    """Stadt A and Stadt B, served on loopback and paired."""
    a = await federation.add("Stadt A")
    b = await federation.add("Stadt B")
    federation.pair(a, b)
    return a, b


async def test_a_healthy_node_passes_every_check(pair: tuple[Node, Node]) -> None:
    a, _ = pair
    findings = await doctor(a)
    assert [f for f in findings if f.status != OK] == []
    checks = [finding.check for finding in findings]
    for check in ("modes", "keys", "config", "integrity", "schema", "disk", "audit", "queue Stadt B", "forks"):
        assert check in checks
    assert checks[-5:] == ["own url", "own descriptor", "peer Stadt B", "clock Stadt B", "descriptor Stadt B"]
    assert only(findings, "own url").message == f"{a.config.url} answers with this node's descriptor"
    assert only(findings, "peer Stadt B").message == "reachable; accepts this node's signed requests"
    assert "Stadt B's clock is " in only(findings, "clock Stadt B").message


async def test_a_peer_that_is_down_fails_with_what_to_check(pair: tuple[Node, Node]) -> None:
    a, _ = pair
    FakePeer("Stadt C", unreachable_url()).trusted_by(a)
    findings = await doctor(a)
    down = only(findings, "peer Stadt C")
    assert down.status == FAIL
    assert down.message.startswith("cannot reach http://127.0.0.1:")
    assert down.message.endswith(": connection refused")
    assert "ask Stadt C whether its node runs" in down.advice
    assert not [f for f in findings if f.check in ("clock Stadt C", "descriptor Stadt C")]
    assert only(findings, "peer Stadt B").status == OK  # the others are checked all the same


async def test_own_url_answering_with_another_node_s_descriptor_fails(pair: tuple[Node, Node], tmp_path: Path) -> None:
    _, b = pair
    home = tmp_path / "stadt-c"
    init_home(home, name="Stadt C", url=b.config.url)  # [node] url names B's address
    own = only(await asyncio.to_thread(examine, home), "own url")
    assert own.status == FAIL
    assert own.message == f"{b.config.url} answers with the descriptor of another node: Stadt B ({b.node_id})"
    assert "this node is Stadt C" in own.advice


async def test_own_url_that_nothing_answers_fails(pair: tuple[Node, Node], tmp_path: Path) -> None:
    home = tmp_path / "stadt-d"
    init_home(home, name="Stadt D", url=unreachable_url())
    own = only(await asyncio.to_thread(examine, home), "own url")
    assert own.status == FAIL
    assert "connection refused" in own.message
    assert "check that `praevnet serve` runs" in own.advice
    # a node that nobody may reach is told how to say so
    assert own.advice.endswith(
        "if nobody may reach this node (no inbound connections), set [node] pull_only = true and have its peers "
        "add it with --pull-only"
    )


async def test_a_pull_only_node_s_own_url_is_not_checked_but_its_peers_are(
    federation: Federation, pair: tuple[Node, Node], make_node: Callable[..., Node]
) -> None:
    _, b = pair
    d = make_node("Stadt D")  # its URL is where nothing listens, as for a node behind a firewall
    federation.pair(d, b)
    set_pull_only(d.home)
    findings = await doctor(d)
    own = only(findings, "own url")
    assert own.status == OK
    assert own.message == (
        f"this node is pull-only ([node] pull_only = true in its configuration): nobody can reach it, so "
        f"{d.config.url} is not checked; tell its peers to add it with --pull-only (`peers add`, `network admit`)"
    )
    assert "own descriptor" not in [finding.check for finding in findings]
    assert [f for f in findings if f.status != OK] == []
    assert only(findings, "peer Stadt B").message == "reachable; accepts this node's signed requests"
    assert only(findings, "clock Stadt B").status == OK


@pytest.mark.parametrize(("file", "variable", "status"), [(False, "true", OK), (False, "on", OK), (True, "0", FAIL)])
async def test_pull_only_from_the_environment_decides_whether_the_own_url_is_checked(
    make_node: Callable[..., Node], monkeypatch: pytest.MonkeyPatch, file: bool, variable: str, status: str
) -> None:
    d = make_node("Stadt D")
    set_pull_only(d.home, file)
    monkeypatch.setenv("PRAEVNET_NODE__PULL_ONLY", variable)  # what `serve` and `doctor` read, over the file
    own = only(await doctor(d), "own url")
    assert own.status == status, own
    assert ("is pull-only" in own.message) is (status == OK)


async def test_a_pull_only_node_still_fails_for_a_peer_that_is_down(make_node: Callable[..., Node]) -> None:
    d = make_node("Stadt D")
    set_pull_only(d.home)
    FakePeer("Stadt C", unreachable_url()).trusted_by(d)
    findings = await doctor(d)
    assert only(findings, "own url").status == OK
    assert only(findings, "peer Stadt C").status == FAIL


async def test_a_peer_url_that_answers_for_another_node_fails(pair: tuple[Node, Node]) -> None:
    a, b = pair
    FakePeer("Stadt X", b.config.url).trusted_by(a)  # a peer whose URL now leads to B
    findings = await doctor(a)
    assert only(findings, "peer Stadt X").status == FAIL
    other = only(findings, "descriptor Stadt X")
    assert other.status == FAIL
    assert other.message == f"{b.config.url} answers with the descriptor of another node: Stadt B ({b.node_id})"


async def test_a_peer_that_refuses_our_signed_requests_fails(pair: tuple[Node, Node]) -> None:
    a, b = pair
    remove_peer(b, a.node_id)  # B no longer trusts A
    findings = await doctor(a)
    refused = only(findings, "peer Stadt B")
    assert refused.status == FAIL
    assert refused.message.startswith("refuses this node's signed requests: answered HTTP 401")
    assert "fingerprint" in refused.advice
    assert only(findings, "clock Stadt B").status == OK  # its refusal is signed all the same


@pytest.mark.parametrize(
    ("offset", "status", "way"),
    [(timedelta(seconds=-60), FAIL, "ahead of"), (timedelta(seconds=3.5), WARN, "behind"), (timedelta(0), OK, "")],
)
async def test_a_peer_s_clock_off_from_ours_warns_or_fails(
    pair: tuple[Node, Node], clock: SetClock, offset: timedelta, status: str, way: str
) -> None:
    """This node's clock is moved (the peer's signatures keep the system's time): the skew is the difference."""
    a, _ = pair
    clock.set(datetime.now(UTC) + offset)
    skew = only(await doctor(a), "clock Stadt B")
    assert skew.status == status, skew
    assert way in skew.message
    if status != OK:
        assert abs(float(skew.message.split(" s ")[0].rsplit(" ", 1)[1]) - abs(offset.total_seconds())) < 1.5
        assert "synchronise this host's clock" in skew.advice


async def test_descriptors_about_to_expire_warn(pair: tuple[Node, Node]) -> None:
    a, _ = pair
    findings = await doctor(a, Limits(descriptor_warn=timedelta(days=8)))  # they are signed for seven days
    for check in ("own descriptor", "descriptor Stadt B"):
        finding = only(findings, check)
        assert finding.status == WARN
        assert finding.message.startswith("the descriptor served expires soon, at ")
        assert "cache" in finding.advice


class Hanging:
    """Peers that answer nothing until `expected` requests are waiting at all of them together."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.waiting = 0
        self.most = 0  # requests waiting at the same time, at most
        self.everyone = asyncio.Event()

    def app(self) -> web.Application:
        """One such peer's server."""

        async def handler(request: web.Request) -> web.Response:
            self.waiting += 1
            self.most = max(self.most, self.waiting)
            if self.waiting == self.expected:
                self.everyone.set()
            try:
                await self.everyone.wait()
            finally:
                self.waiting -= 1
            return web.Response(status=503, text="busy")

        app = web.Application()
        app.router.add_route("*", "/{path:.*}", handler)
        return app


async def test_peers_are_checked_at_once(make_node: Callable[..., Node], serve_on: ServeOn) -> None:
    """The hanging peers answer only once every request of the doctor waits at them at the same time: checked one
    after another, each would wait out its timeout instead."""
    a = make_node("Stadt A")
    count = 4
    peers = Hanging(2 * count)  # a signed GET of its chain head and a GET of its descriptor each
    for number in range(count):
        port = hold_port()
        await serve_on(peers.app(), port)
        FakePeer(f"Stadt H{number}", port.url).trusted_by(a)
    findings = await doctor(a, Limits(timeout=10.0))
    assert peers.most == 2 * count
    for number in range(count):
        answer = only(findings, f"peer Stadt H{number}")
        assert answer.status == FAIL
        assert "HTTP 503" in answer.message  # released, not timed out; unsigned, so not taken as the peer's


async def test_a_peer_that_never_answers_fails_within_the_doctor_s_timeout(
    make_node: Callable[..., Node], serve_on: ServeOn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However long the node waits for a peer when it delivers ([delivery] request_timeout), the doctor waits
    `Limits.timeout`; the 30 s bound only keeps a broken doctor from hanging the test."""
    monkeypatch.setenv("PRAEVNET_DELIVERY__REQUEST_TIMEOUT", "60")
    monkeypatch.setenv("PRAEVNET_DELIVERY__CONNECT_TIMEOUT", "60")
    a = make_node("Stadt A")
    port = hold_port()
    await serve_on(Hanging(-1).app(), port)  # never released
    FakePeer("Stadt H", port.url).trusted_by(a)
    silent = only(await asyncio.wait_for(doctor(a, Limits(timeout=0.5)), 30.0), "peer Stadt H")
    assert silent.status == FAIL
    assert silent.message == f"cannot reach {port.url}: no answer in time (timed out)"


def test_the_default_timeout_is_short() -> None:
    assert Limits().timeout <= 5.0
