"""Shared fixtures: node factories, fake peers with their own keys, and loopback ports held for each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from node import home as home_module
from node import users
from node.clock import clock as node_clock
from node.home import Node, init_home
from node.store import open_db, write_private
from node.trust.peers import trust_descriptor
from protocol.canonical import canonical_bytes
from protocol.descriptor import build_descriptor
from protocol.envelope import build_envelope, envelope_ref
from protocol.httpsig import HttpRequest, sign_request
from protocol.keys import NodeKey, fingerprint, node_id_for
from tests.ports import hold_port, release_all, unreachable_url


@pytest.fixture(autouse=True)
def _cheap_password_hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """New password hashes in this process at a tiny scrypt cost (N=16), as test suites commonly do (Django's
    fast test hasher): a web test's users and logins cost microseconds, not a tenth of a second each. A stored
    hash carries its own cost, so verifying is unchanged. Tests marked `password_cost` keep the real cost, and
    `praevnet` started as a process of its own always has it."""
    if request.node.get_closest_marker("password_cost") is None:
        monkeypatch.setattr(users, "SCRYPT_N", 2**4)


@pytest.fixture(scope="session")
def _new_database(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a database as `praevnet init` creates it, made once per test process by node.store itself."""
    path = tmp_path_factory.mktemp("new-database") / "praevnet.db"
    open_db(path).close()
    return path.read_bytes()


@pytest.fixture(autouse=True)
def _databases_from_one_migration(_new_database: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node created in this process starts from a copy of `_new_database` instead of running every migration
    step again (a tenth of a second each time, about 2,800 times in the suite). Only the steps' timestamps
    could differ; tests/node/migrations run the steps themselves, and `praevnet init` as a process of its
    own (the end-to-end tests) always creates its database from scratch."""

    def opening(path: Path | str) -> Database:
        if not Path(path).exists():
            write_private(Path(path), _new_database)
        return open_db(path)

    monkeypatch.setattr(home_module, "open_db", opening)


@pytest.fixture(autouse=True)
def _held_ports() -> Iterator[None]:
    """Release the loopback ports a test held (tests/ports.py) once it and its fixtures are done."""
    yield
    release_all()


def free_port() -> int:
    """The number of a loopback port held until the test ends, where nothing listens (tests/ports.py)."""
    return hold_port().number


RECORD: dict[str, Any] = {
    "title": "Nachbarschaftsbegehungen im Quartier",
    "summary": "Gemeinsame Begehungen mit Anwohnern, Polizei und Ordnungsamt.",
    "topics": ["öffentlicher Raum"],
    "internal_notes": "LOCAL-ONLY-7f3a: interner Vermerk, bleibt hier",
}


def alert_content(days: int = 7) -> dict[str, Any]:
    """A valid alert expiring in `days` days."""
    expires = (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "headline": "Trickdiebstahl an Geldautomaten",
        "area": {"name": "Innenstadt"},
        "expires": expires,
        "internal_notes": "LOCAL-ONLY-alert-91c2",
    }


@dataclass
class FakePeer:
    """Another city's node, reduced to its key: signs requests and envelopes like a real peer."""

    name: str
    url: str
    key: NodeKey = field(default_factory=NodeKey.generate)
    seq: int = 0
    prev: str | None = None

    @property
    def node_id(self) -> str:
        return node_id_for(self.key.public)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key.public)

    def descriptor(self) -> dict[str, Any]:
        return build_descriptor(
            [self.key],
            node_id=self.node_id,
            name=self.name,
            url=self.url,
            valid_until=datetime.now(UTC) + timedelta(days=7),
        )

    def trusted_by(self, node: Node) -> FakePeer:
        """Make `node` trust this peer (as `peers add` would after a fingerprint check)."""
        trust_descriptor(node, self.url, self.fingerprint, self.descriptor())
        return self

    def envelope(
        self,
        content: dict[str, Any] | None = None,
        kind: str = "experience",
        *,
        version: int = 1,
        tlp: str = "TLP:AMBER",
        record_id: str | None = None,
    ) -> dict[str, Any]:
        """The next signed envelope in this peer's chain: version `version` of `record_id`, labelled `tlp`.

        Without a record id, every envelope is a new record (`rec` + its seq). Without content, an
        experience record gets a title and summary, and a retraction its empty content.
        """
        self.seq += 1
        if content is None:
            content = {} if kind == "retraction" else {"title": f"Bericht {self.seq}", "summary": "Kurzfassung"}
        envelope = build_envelope(
            self.key,
            origin=self.node_id,
            kind=kind,  # type: ignore[arg-type]
            record_id=record_id or f"rec{self.seq:08d}",
            version=version,
            tlp=tlp,
            seq=self.seq,
            prev=self.prev,
            created=datetime.now(UTC),
            content=content,
        )
        self.prev = envelope_ref(envelope)
        return envelope

    def signed_headers(self, method: str, url: str, body: bytes, **kwargs: Any) -> dict[str, str]:
        """Headers of a request signed by this peer (kwargs go to sign_request: nonce, created)."""
        request = HttpRequest(method=method, url=url, headers={})
        if body:
            request.headers["Content-Type"] = "application/json"
        sign_request(request, body, self.key, self.node_id, **kwargs)
        return request.headers


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    """Factory: make_node(name, url=...) creates and opens a node in its own home under tmp_path."""
    opened: list[Node] = []

    def factory(name: str = "Stadt Testhausen", url: str | None = None) -> Node:
        home = tmp_path / name.lower().replace(" ", "-")
        init_home(home, name=name, url=url or unreachable_url())
        node = Node.open(home)
        opened.append(node)
        return node

    yield factory
    for node in opened:
        node.close()


class SetClock:
    """The time every node module reads (node.clock), set by a test: it stands still once set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch

    def now(self) -> datetime:
        """What the node's clock reads now."""
        return node_clock.now()

    def set(self, moment: datetime) -> datetime:
        """Stop the clock at `moment` (timezone-aware, read in UTC); returns it."""
        fixed = moment.astimezone(UTC)
        self.monkeypatch.setattr(node_clock, "source", lambda: fixed)
        return fixed

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock on by `delta` from what it reads now and stop it there; returns the new time."""
        return self.set(self.now() + delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SetClock:
    """Set the time for every node module in one place; the system clock is back after the test."""
    return SetClock(monkeypatch)


def body_of(payload: Any) -> bytes:
    """Canonical request body bytes."""
    return canonical_bytes(payload)
