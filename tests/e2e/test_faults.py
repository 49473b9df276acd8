"""Delivery that never loses an alert: faults played out with real `praevnet serve` processes on loopback.

Each test breaks something on purpose and then checks what arrived, and how often:

1. a peer that is down for a while gets everything queued for it once, alerts first, after it is back;
2. a sender killed with SIGKILL in the middle of a batch resends it after a restart, and the
   receiver holds every record exactly once;
3. a receiver killed with SIGKILL while it ingests a large batch comes back with a consistent
   database, and the sender completes;
4. a peer that accepts connections and never answers times out after the configured time and
   holds up nobody else;
5. a pull-only node whose URL nobody can reach receives an alert within its polling interval.

The spans of minutes and hours in production are simulated by small [delivery] settings; every wait
polls with a deadline.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from node import audit
from node.config import DeliveryConfig
from node.exchange.delivery import QUICK_RETRIES
from node.exchange.received import list_inbox
from node.exchange.status import peer_status
from node.home import Node
from node.sharing.records import add_record, send_alert
from node.sharing.shares import share_record
from node.transport.client import new_session
from node.transport.resolver import key_resolver
from node.trust.peers import trust_descriptor
from node.users import ADMIN
from protocol.envelope import content_hash, verify_envelope
from protocol.timestamps import parse_timestamp
from tests.conftest import FakePeer
from tests.e2e.helpers import (
    HangingServer,
    RecordingProxy,
    ServedNode,
    cli_json,
    configure,
    pair_directly,
    run_cli,
    run_parallel,
    wait_for,
)

NewNodes = Callable[..., list[ServedNode]]  # the new_nodes fixture: (*names, proxied=(), unreachable=())


# --- what the officers share -------------------------------------------------------------------


def record_content(number: int, filler: int = 0) -> dict[str, Any]:
    """An experience record; with `filler`, about that many more characters of text (for large envelopes)."""
    content: dict[str, Any] = {
        "title": f"Erfahrungsbericht {number:04d}",
        "summary": "Gemeinsame Begehungen mit Anwohnern, Polizei und Ordnungsamt im Quartier.",
        "internal_notes": "bleibt im Haus",
    }
    if filler:
        sentence = "Die Beleuchtung der Wege wurde verbessert und die Hecken wurden zurueckgeschnitten. "
        text = sentence * (filler // len(sentence) // 4 + 1)
        content.update(problem=text, causes=text, goals=text, measures=text)
    return content


def alert_content(headline: str) -> dict[str, Any]:
    """An alert that expires in a week."""
    expires = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "headline": headline,
        "area": {"name": "Innenstadt"},
        "expires": expires,
        "description": "Täter lenken am Geldautomaten ab und greifen die Karte.",
        "internal_notes": "Quelle vertraulich",
    }


def share_records(node: ServedNode, peer_id: str, contents: list[dict[str, Any]]) -> list[str]:
    """Add and share records with one peer through the node's Python API (as the CLI does); their ids in order."""
    ids = []
    with node.opened() as opened:
        for content in contents:
            record_id = add_record(opened, "experience", content, by=ADMIN)
            share_record(opened, record_id, [peer_id], False, by=ADMIN, confirm_pii=True)
            ids.append(record_id)
    return ids


def send_alert_to(node: ServedNode, peer_id: str, headline: str) -> str:
    """Send an alert to one peer through the node's Python API; its id."""
    with node.opened() as opened:
        return str(send_alert(opened, alert_content(headline), [peer_id], False, by=ADMIN, confirm_pii=True)["id"])


# --- what the databases hold -------------------------------------------------------------------


def query(node: ServedNode, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of a query on the node's database file, read directly (also while it is serving, or after a crash)."""
    with closing(sqlite3.connect(node.home / "praevnet.db", timeout=30)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]


def inbox_rows(node: ServedNode) -> list[dict[str, Any]]:
    """Every row of the node's inbox, in the order it was stored."""
    return query(node, "SELECT rowid, origin, seq, id, kind, envelope, erased FROM inbox ORDER BY rowid")


def inbox_count(node: ServedNode) -> int:
    """How many envelopes the node has stored in its inbox."""
    return int(query(node, "SELECT count(*) AS n FROM inbox")[0]["n"])


def delivery_states(node: ServedNode, peer: ServedNode) -> Counter[str]:
    """How many of the node's deliveries to `peer` are pending, delivered or refused."""
    found = query(node, "SELECT state, count(*) AS n FROM deliveries WHERE peer_id = ? GROUP BY state", (peer.node_id,))
    return Counter({row["state"]: row["n"] for row in found})


def in_flight_seqs(node: ServedNode, peer: ServedNode) -> set[int]:
    """The seqs of the transaction the node has claimed for `peer` and not yet finished."""
    found = query(
        node,
        "SELECT seq FROM deliveries WHERE peer_id = ? AND state = 'pending' AND txn_id IS NOT NULL",
        (peer.node_id,),
    )
    return {row["seq"] for row in found}


def status_entry(statuses: list[dict[str, Any]], peer_id: str) -> dict[str, Any]:
    """One peer's entry of `peers status`."""
    found = [entry for entry in statuses if entry["node_id"] == peer_id]
    assert len(found) == 1, statuses
    return found[0]


def cli_status(node: ServedNode, peer_id: str) -> dict[str, Any]:
    """`praevnet peers status --json` on `node`, the entry for one peer."""
    statuses = cli_json("peers", "status", "--home", str(node.home))
    assert isinstance(statuses, list)
    return status_entry(statuses, peer_id)


def api_status(node: ServedNode, peer_id: str) -> dict[str, Any]:
    """The same entry through the Python API (cheap enough to poll)."""
    with node.opened() as opened:
        return status_entry(peer_status(opened), peer_id)


def assert_holds_exactly_once(node: ServedNode, origin: ServedNode, ids: list[str]) -> list[dict[str, Any]]:
    """The node's inbox holds each of `ids` from `origin` exactly once, and nothing else; returns the rows."""
    found = inbox_rows(node)
    assert len(found) == len(ids), Counter(row["id"] for row in found).most_common(3)
    assert len({(row["origin"], row["seq"]) for row in found}) == len(ids)
    assert sorted(row["id"] for row in found) == sorted(ids)
    assert {row["origin"] for row in found} == {origin.node_id}
    return found


def assert_consistent(node: ServedNode) -> list[dict[str, Any]]:
    """The node's database is sound after whatever happened to its process; returns its inbox rows.

    SQLite's integrity and foreign-key checks pass, every inbox row holds a whole envelope (it
    parses, carries content whose hash the signed part names, and matches the row's columns), every
    one verifies against the origin's key, and the audit log's hash chain is intact.
    """
    with closing(sqlite3.connect(node.home / "praevnet.db", timeout=30)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    found = inbox_rows(node)
    with node.opened() as opened:
        resolve = key_resolver(opened)
        for row in found:
            envelope = json.loads(row["envelope"])
            assert "content" in envelope, row
            assert envelope["hashes"]["sha256"] == content_hash(envelope["content"])
            assert (envelope["origin"], envelope["seq"], envelope["id"]) == (row["origin"], row["seq"], row["id"])
            assert verify_envelope(envelope, resolve).has_content
        listed = list_inbox(opened)
        assert all(entry["verified"] for entry in listed), [entry["problem"] for entry in listed]
        assert len(listed) == len(found)
        assert audit.verify(opened) == []
    return found


def pushed_ids(proxy: RecordingProxy) -> list[str]:
    """The ids of the envelopes pushed through the proxy, in the order they went over the wire."""
    return [
        envelope["id"]
        for head, body in proxy.requests()
        if head.startswith(b"PUT /fed/v1/inbox/")
        for envelope in json.loads(body)["envelopes"]
    ]


# --- 1. a peer down for a while ------------------------------------------------------------------


@pytest.mark.e2e
def test_peer_down_for_a_while_receives_everything_once_and_alerts_first(new_nodes: NewNodes) -> None:
    a, b = new_nodes("Stadt A", "Stadt B", proxied=("Stadt B",))
    a.configure("delivery", min_backoff=30.0, max_backoff=60.0)  # "hours" of backoff, shortened
    b.configure("delivery", pull_interval=2.0)
    pair_directly(a, b)
    for node in (a, b):
        node.launch()
    for node in (a, b):
        node.wait_ready()

    # B goes down: its process ends and nothing listens on its port any more.
    assert b.stop() == 0, b.log_text()
    assert b.proxy is not None
    b.proxy.close()
    b.proxy = None

    # An alert while B is down: A tries at once, retries twice, then backs off.
    first_alert = send_alert_to(a, b.node_id, "Trickdiebstahl 1")
    wait_for(lambda: api_status(a, b.node_id)["failures"] >= 1, 15, "A's delivery to the down B to fail")
    # More shares while B is still down and A waits: nothing of this may be lost either.
    first_record = share_records(a, b.node_id, [record_content(1)])[0]
    second_alert = send_alert_to(a, b.node_id, "Trickdiebstahl 2")
    second_record, third_record = share_records(a, b.node_id, [record_content(2), record_content(3)])
    alerts, records = [first_alert, second_alert], [first_record, second_record, third_record]

    waiting = cli_status(a, b.node_id)
    assert waiting["queued"] == 5, waiting
    assert waiting["in_flight"] == 1, waiting  # the first alert's transaction, kept for the retry
    assert waiting["delivered"] == 0, waiting
    assert waiting["failures"] >= 1, waiting
    assert "cannot reach" in waiting["last_error"], waiting
    assert waiting["next_retry"] is not None, waiting
    assert parse_timestamp(waiting["next_retry"]) > datetime.now(UTC), waiting

    # B comes back. It pulls from A at once, which ends A's backoff (22 s or more) at once.
    assert b.behind is not None
    b.proxy = RecordingProxy(b.held, b.behind.number)
    b.launch()
    b.wait_ready()
    wait_for(
        lambda: inbox_count(b) >= 5 and delivery_states(a, b) == Counter(delivered=5),
        15,
        "everything queued to reach B and A to see it delivered",
    )

    found = assert_holds_exactly_once(b, a, alerts + records)
    # Within each class in the order shared, however it arrived (push batch or B's pull at start).
    assert [row["id"] for row in found if row["kind"] == "alert"] == alerts
    assert [row["id"] for row in found if row["kind"] == "experience"] == records
    # What A pushed after B's return, over the wire: the alerts ahead of the records.
    assert list(dict.fromkeys(pushed_ids(b.proxy))) == alerts + records

    done = cli_status(a, b.node_id)
    assert (done["queued"], done["in_flight"], done["delivered"], done["refused"]) == (0, 0, 5, 0), done
    assert done["failures"] == 0, done
    assert done["last_error"] is None, done
    assert done["next_retry"] is None, done
    assert done["last_success"] is not None, done
    a.assert_clean_log()
    b.assert_clean_log()


# --- 2. the sender is killed in the middle of a batch -------------------------------------------


@pytest.mark.e2e
def test_sender_killed_mid_batch_loses_and_duplicates_nothing(new_nodes: NewNodes) -> None:
    a, b = new_nodes("Stadt A", "Stadt B", proxied=("Stadt B",))
    a.configure("delivery", min_backoff=0.5, max_backoff=2.0)
    pair_directly(a, b)
    ids = share_records(a, b.node_id, [record_content(number) for number in range(300)])  # six batches

    # B first, so that its pull at start finds A down: everything B gets comes by push.
    b.launch()
    b.wait_ready()
    assert b.proxy is not None
    b.proxy.answer_delay = 3.0  # B stores a batch at once but its answer takes 3 s to reach A
    a.launch()

    def b_stored_a_batch() -> bool:
        a.assert_running()
        return inbox_count(b) > 0

    wait_for(b_stored_a_batch, 20, "B to store A's first batch", interval=0.01)
    assert a.kill() == -9
    held = {row["seq"] for row in inbox_rows(b)}
    assert 0 < len(held) < 300
    # A died between B's commit and B's answer: it still counts that very batch as in flight.
    assert in_flight_seqs(a, b) == held
    assert delivery_states(a, b) == Counter(pending=300)
    [txn] = query(a, "SELECT DISTINCT txn_id FROM deliveries WHERE txn_id IS NOT NULL")

    b.proxy.answer_delay = 0.0
    a.launch()
    a.wait_ready()
    wait_for(lambda: delivery_states(a, b) == Counter(delivered=300), 30, "A to finish delivering after its restart")
    assert_holds_exactly_once(b, a, ids)
    # The batch A was sending when it died went again under the same transaction id, and B answered
    # the repeat from its record: six transactions for six batches.
    puts = [head.split(b" ")[1] for head, _ in b.proxy.requests() if head.startswith(b"PUT /fed/v1/inbox/")]
    assert puts.count(f"/fed/v1/inbox/{txn['txn_id']}".encode()) >= 2, puts
    assert len(set(puts)) == 6
    assert sorted(row["txn_id"] for row in query(b, "SELECT txn_id FROM inbound_txns")) == sorted(
        path.decode().rsplit("/", 1)[1] for path in set(puts)
    )
    assert cli_status(a, b.node_id)["queued"] == 0
    b.assert_clean_log()


# --- 3. the receiver is killed while it ingests a large batch ------------------------------------


@pytest.mark.e2e
def test_receiver_killed_while_ingesting_stays_consistent_and_sender_completes(new_nodes: NewNodes) -> None:
    a, b = new_nodes("Stadt A", "Stadt B", proxied=("Stadt B",))
    a.configure("delivery", min_backoff=0.5, max_backoff=2.0)
    pair_directly(a, b)
    count = 60  # a full batch of 50 envelopes of 18 KB (nearly the 1 MiB limit), and a small one
    ids = share_records(a, b.node_id, [record_content(number, filler=18000) for number in range(count)])

    b.launch()
    b.wait_ready()
    a.launch()
    assert b.proxy is not None
    proxy = b.proxy

    def batch_arrived() -> tuple[bytes, bytes] | None:
        b.assert_running()
        puts = [request for request in proxy.awaiting_answer() if request[0].startswith(b"PUT /fed/v1/inbox/")]
        return puts[0] if puts else None

    # B has the whole large batch and is working on it: kill it before it can answer.
    head, body = wait_for(batch_arrived, 20, "a batch to reach B", interval=0.005)
    assert b.kill() == -9
    batch = [envelope["id"] for envelope in json.loads(body)["envelopes"]]
    assert len(batch) > 10
    assert len(body) > 512 * 1024
    assert (head, body) in proxy.awaiting_answer(), "B answered before it died"

    found = assert_consistent(b)
    stored = {row["id"] for row in found} & set(batch)
    assert stored in (set(), set(batch)), f"{len(stored)} of {len(batch)} envelopes of the batch were stored"

    b.launch()
    b.wait_ready()
    wait_for(lambda: delivery_states(a, b) == Counter(delivered=count), 30, "A to finish delivering to the restarted B")
    assert_consistent(b)
    assert_holds_exactly_once(b, a, ids)
    a.assert_clean_log()


# --- 4. a peer that hangs --------------------------------------------------------------------------


@pytest.mark.e2e
def test_hanging_peer_times_out_as_configured_and_holds_up_nobody(
    new_nodes: NewNodes, hanging_server: HangingServer, tmp_path: Path
) -> None:
    request_timeout = 1.5
    a, b = new_nodes("Stadt A", "Stadt B")
    a.configure("delivery", request_timeout=request_timeout, connect_timeout=1.0, min_backoff=30.0, max_backoff=60.0)
    pair_directly(a, b)
    hanging = FakePeer("Stadt H", hanging_server.url)
    with a.opened() as opened:
        trust_descriptor(opened, hanging.url, hanging.fingerprint, hanging.descriptor())
    for node in (a, b):
        node.launch()
    for node in (a, b):
        node.wait_ready()

    alert_file = tmp_path / "alert.json"
    alert_file.write_text(json.dumps(alert_content("Schockanrufe")), encoding="utf-8")
    started = time.monotonic()
    sent = cli_json(
        "alerts", "send", str(alert_file), "--to", hanging.node_id, "--to", b.node_id, "--home", str(a.home)
    )
    assert sorted(sent["recipients"]) == sorted([hanging.node_id, b.node_id])

    wait_for(lambda: sent["id"] in {row["id"] for row in inbox_rows(b)}, 30, "the alert to reach B")
    stuck = api_status(a, hanging.node_id)
    # B has it while A's request to H still hangs: no failure recorded for H yet, its transaction open.
    assert (stuck["queued"], stuck["in_flight"], stuck["failures"]) == (1, 1, 0), stuck
    assert hanging_server.accepted >= 1

    default_timeout = DeliveryConfig().request_timeout
    wait_for(
        lambda: api_status(a, hanging.node_id)["failures"] >= 1,
        2 * default_timeout,
        "A to give up on H after its timeouts",
    )
    gave_up = time.monotonic() - started
    attempts = len(QUICK_RETRIES) + 1
    least = attempts * request_timeout + sum(QUICK_RETRIES)
    # The timeout is the behaviour under test, so time is measured: every attempt waited the
    # configured 1.5 s (A cannot give up sooner), and none waited the default 20 s.
    assert least - 0.2 <= gave_up < default_timeout, (gave_up, least)

    statuses = cli_json("peers", "status", "--home", str(a.home))
    status_h, status_b = status_entry(statuses, hanging.node_id), status_entry(statuses, b.node_id)
    assert status_h["queued"] == 1, status_h
    assert status_h["delivered"] == 0, status_h
    assert status_h["failures"] >= 1, status_h
    assert "no answer in time" in status_h["last_error"], status_h
    assert status_h["next_retry"] is not None, status_h
    assert (status_b["queued"], status_b["delivered"], status_b["failures"]) == (0, 1, 0), status_b
    assert status_b["last_error"] is None, status_b
    a.assert_clean_log()


# --- 5. a pull-only node nobody can reach --------------------------------------------------------


@pytest.mark.e2e
def test_pull_only_node_receives_alert_within_its_pull_interval(new_nodes: NewNodes, tmp_path: Path) -> None:
    pull_interval = 2.0
    a, p = new_nodes("Stadt A", "Stadt P", unreachable=("Stadt P",))
    p.configure("delivery", pull_interval=pull_interval)
    for node in (a, p):
        node.launch()
    for node in (a, p):
        node.wait_ready()
    with closing(socket.socket()) as probe:  # nothing at all listens where P's URL points
        assert probe.connect_ex(("127.0.0.1", p.port)) != 0

    # P's officer hands over the descriptor as a file; A pairs pull-only. P pairs with A by URL.
    descriptor = tmp_path / "stadt-p.json"
    descriptor.write_text(run_cli("id", "--descriptor", "--home", str(p.home)).stdout, encoding="utf-8")
    add_pull_only = ["peers", "add", str(descriptor), "--fingerprint", p.fingerprint, "--pull-only", "--json"]
    paired, _ = run_parallel(
        [*add_pull_only, "--home", str(a.home)],
        ["peers", "add", a.url, "--fingerprint", a.fingerprint, "--home", str(p.home)],
    )
    assert json.loads(paired.stdout)["pull_only"] is True

    alert_file = tmp_path / "alert.json"
    alert_file.write_text(json.dumps(alert_content("Falsche Polizeibeamte")), encoding="utf-8")
    sent = cli_json("alerts", "send", str(alert_file), "--to", p.node_id, "--home", str(a.home))
    wait_for(
        lambda: sent["id"] in {row["id"] for row in inbox_rows(p)},
        3 * pull_interval + 2.0,
        "the pull-only node to pull the alert",
    )
    with p.opened() as opened:
        [entry] = list_inbox(opened)
    assert (entry["id"], entry["verified"], entry["origin"]) == (sent["id"], True, a.node_id)

    # P's next pull asks from the cursor after the alert: A sees that P holds everything shared with it.
    wait_for(lambda: api_status(a, p.node_id)["queued"] == 0, 2 * pull_interval + 2.0, "P's next pull")
    status = cli_status(a, p.node_id)
    assert status["pull_only"] is True, status
    assert status["queued"] == 0, status
    assert status["their_cursor_in_our_outbox"] == status["our_outbox_end_for_them"] == 1, status
    assert status["failures"] == 0, status  # A never tried to push to P
    assert status["last_error"] is None, status
    assert (status["in_flight"], status["delivered"], status["refused"]) == (0, 0, 0), status
    a.assert_clean_log()
    p.assert_clean_log()


# --- timeouts are configured, not library defaults ----------------------------------------------


async def test_client_session_takes_its_timeouts_from_the_config(make_node: Callable[..., Node]) -> None:
    home = make_node("Stadt Zeitlimit").home
    configure(home, "delivery", connect_timeout=1.25, request_timeout=7.5)
    node = Node.open(home)
    session = new_session(node)
    try:
        timeout = session.timeout
        assert (timeout.connect, timeout.sock_read, timeout.total) == (1.25, 7.5, 7.5)
        defaults = DeliveryConfig()
        assert (defaults.connect_timeout, defaults.request_timeout) != (1.25, 7.5)
    finally:
        await session.close()
        node.close()
