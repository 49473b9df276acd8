"""A node that has been in use, made once for the upgrade tests: the rows every earlier level is filled from.

Stadt Augsburg has an officer with a language set, a record with a local field shared with Stadt Bonn
(envelope, grant, queued delivery), an alert it sent, an open invitation, a network it operates, a
record and a retracted one received from Bonn in transactions, and a signed audit checkpoint. Each
table these operations leave empty gets a row made from its schema (levels.fill_empty).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from node import checkpoints
from node.exchange.inbox import ingest
from node.home import DB_FILE, Node, init_home
from node.migrations import index_pending
from node.networks.operator import create_network
from node.sharing.records import add_record, send_alert
from node.sharing.shares import share_record
from node.store import write
from node.trust.invites import create_invitation
from node.users import ADMIN, Actor, add_user, set_language
from tests.conftest import RECORD, FakePeer, alert_content
from tests.node.migrations.levels import Rows, fill_empty, schema_of, snapshot

URL = "https://praevnet.augsburg.example"
COSTS = "LOCAL-COSTS-5d1e: 12.000 EUR aus dem Haushalt"


@dataclass(frozen=True)
class Source:
    """The node in use: its home, the peer it shares with, and what its tables hold."""

    home: Path
    bonn: FakePeer  # trusted; the state after its last envelope, copied for each test (`peer`)
    shared: str  # the record shared with Bonn
    received: str  # the record received from Bonn (not retracted)
    filled: list[str]  # the tables that got a generated row
    rows: Rows  # every data table on all its columns

    @property
    def db(self) -> Path:
        """The database file."""
        return self.home / DB_FILE

    def peer(self) -> FakePeer:
        """Bonn as it was when the source was made (its chain continues from there in every test)."""
        return copy.deepcopy(self.bonn)


def _use(home: Path) -> tuple[FakePeer, str, str]:
    """Run the operations of a node in use; return Bonn, the shared record and the received record."""
    init_home(home, name="Stadt Augsburg", url=URL)
    node = Node.open(home)
    try:
        bonn = FakePeer("Stadt Bonn", "https://praevnet.bonn.example").trusted_by(node)
        add_user(node, "anna", "officer", "correct horse battery", by=ADMIN)
        set_language(node, "anna", "en")
        anna = Actor("anna", "officer")
        content = {**RECORD, "implementation": {"costs": COSTS}}
        shared = add_record(node, "experience", content, local=["implementation.costs"], by=anna)
        share_record(node, shared, [bonn.node_id], all_peers=False, by=anna)
        send_alert(node, alert_content(), [bonn.node_id], all_peers=False, by=anna)
        create_invitation(node, timedelta(days=2), by=ADMIN)
        create_network(node, "Bayern", by=ADMIN)
        received = "bonn-fahrradcodierung"
        told = {"title": "Fahrradcodierung am Bahnhof", "summary": "Codierung an zwei Samstagen im Monat"}
        ingest(node, bonn.node_id, [bonn.envelope(told, record_id=received)], txn_id="txn-bonn-1")
        gone = bonn.envelope({"title": "Zurückgezogen", "summary": "Fassung"}, record_id="bonn-zurueck")
        ingest(node, bonn.node_id, [gone, bonn.envelope(kind="retraction", record_id="bonn-zurueck")], "txn-bonn-2")
        checkpoints.make(node)
    finally:
        node.close()
    return bonn, shared, received


@pytest.fixture(scope="package")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """Stadt Augsburg after a while in use, with a row in every table (made once for these tests)."""
    home = tmp_path_factory.mktemp("source") / "augsburg"
    bonn, shared, received = _use(home)
    node = Node.open(home)
    try:
        with write(node.db) as conn:
            index_pending(conn)  # the received records indexed, as a search or the serving node's worker does
            filled = fill_empty(conn)
        rows = snapshot(node.db.conn, schema_of(node.db.conn))
    finally:
        node.close()
    return Source(home=home, bonn=bonn, shared=shared, received=received, filled=filled, rows=rows)
