"""End to end: a city's node is backed up while it serves, lost, and restored into a fresh home that listens on
another port (behind its URL); it carries on with its identity, peers, queue, network and audit chain, and
what it shares after the restore reaches every peer, although its peers hold more of its chain than the backup.

Real `praevnet serve` processes, driven through the CLI; what arrived is counted in each peer's database.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import (
    CLI_TIMEOUT,
    PRAEVNET,
    RecordingProxy,
    ServedNode,
    cli_env,
    cli_json,
    run_cli,
    run_parallel,
    shut_down,
    wait_for,
)
from tests.ports import hold_port

ServeNodes = Callable[..., list[ServedNode]]
PASS = "Stadtwerke-Backup 2026"


def with_passphrase(*args: str) -> subprocess.CompletedProcess[str]:
    """`praevnet ARGS` with the passphrase in PRAEVNET_BACKUP_PASSPHRASE, as an unattended job runs it."""
    env = {**cli_env(), "PRAEVNET_BACKUP_PASSPHRASE": PASS}
    proc = subprocess.run([PRAEVNET, *args], capture_output=True, text=True, timeout=CLI_TIMEOUT, env=env, check=False)
    assert proc.returncode == 0, f"praevnet {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc


def share(node: ServedNode, title: str, *to: ServedNode) -> str:
    """Add an experience record on `node` and share it with `to`; return its id."""
    path = node.home.parent / f"{title}.json"
    path.write_text(json.dumps({"title": title, "summary": "Begehungen mit Anwohnern.", "topics": ["Raum"]}))
    record_id = str(cli_json("records", "add", str(path), "--home", str(node.home))["id"])
    run_cli(
        "records", "share", record_id, *(arg for peer in to for arg in ("--to", peer.node_id)), "--home", str(node.home)
    )
    return record_id


def received(peer: ServedNode, origin: str) -> dict[str, int]:
    """What `peer`'s database holds from `origin`: record id -> seq."""
    with closing(sqlite3.connect(peer.home / "praevnet.db", timeout=30)) as conn:
        return dict(conn.execute("SELECT id, seq FROM inbox WHERE origin = ? ORDER BY seq", (origin,)).fetchall())


def forks(peer: ServedNode, origin: str) -> int:
    with closing(sqlite3.connect(peer.home / "praevnet.db", timeout=30)) as conn:
        return int(conn.execute("SELECT forks FROM peers WHERE node_id = ?", (origin,)).fetchone()[0])


def networks(home: Path) -> list[dict[str, Any]]:
    """`network list` of a home, without when the lists were last fetched (a running node refreshes them)."""
    found = cli_json("network", "list", "--home", str(home))
    return [{k: v for k, v in item.items() if k not in ("refreshed", "refresh_error")} for item in found]


def holds(peer: ServedNode, origin: str, *ids: str) -> bool:
    return set(ids) <= set(received(peer, origin))


@pytest.mark.e2e
def test_a_restored_node_carries_on_and_every_peer_receives_what_it_shares_next(
    serve_nodes: ServeNodes, tmp_path: Path
) -> None:
    a, b, c = serve_nodes("Stadt A", "Stadt B", "Stadt C")
    for peer in (b, c):
        run_parallel(
            ["peers", "add", peer.url, "--fingerprint", peer.fingerprint, "--home", str(a.home)],
            ["peers", "add", a.url, "--fingerprint", a.fingerprint, "--home", str(peer.home)],
        )
    run_cli("network", "create", "Präventionsrat Süd", "--home", str(a.home))
    r1 = share(a, "Bericht eins", b, c)
    wait_for(lambda: holds(b, a.node_id, r1) and holds(c, a.node_id, r1), 30, "B and C to hold the first record")
    c.stop()
    r2 = share(a, "Bericht zwei", c)  # queued for C, which is down
    backup = tmp_path / "stadt-a.age"
    with_passphrase("backup", "--home", str(a.home), str(backup))  # while A serves
    r3 = share(a, "Bericht drei", b)  # after the backup: lost with A's home, but B holds it (seq 3)
    wait_for(lambda: holds(b, a.node_id, r3), 30, "B to hold the record shared after the backup")
    before = {
        "id": cli_json("id", "--home", str(a.home)),
        "networks": networks(a.home),
        "peers": [p["node_id"] for p in cli_json("peers", "list", "--home", str(a.home))],
    }
    a.stop()
    shutil.rmtree(a.home)  # the disk is gone

    home = tmp_path / "ersatzserver" / "stadt-a"
    with_passphrase("restore", str(backup), "--home", str(home))
    behind = hold_port()
    restored = ServedNode(name="Stadt A", home=home, held=a.held, behind=behind, identity=a.identity)
    restored.proxy = RecordingProxy(a.held, behind.number)  # reached at its URL, listening on another port
    try:
        restored.launch()
        c.launch()
        restored.wait_ready()
        c.wait_ready()
        assert cli_json("id", "--home", str(home)) == before["id"]
        assert networks(home) == before["networks"]
        assert [p.stat().st_mode & 0o777 for p in (home / "networks").iterdir()] == [0o600]  # the network key
        assert [p["node_id"] for p in cli_json("peers", "list", "--home", str(home))] == before["peers"]
        wait_for(lambda: holds(c, a.node_id, r2), 30, "C to receive the share queued in the backup")

        r4 = share(restored, "Bericht vier", b, c)
        wait_for(lambda: holds(b, a.node_id, r4) and holds(c, a.node_id, r4), 30, "B and C to receive the new record")
        assert received(b, a.node_id) == {r1: 1, r3: 3, r4: 4}  # after the head B held: nothing refused
        assert received(c, a.node_id) == {r1: 1, r2: 2, r4: 4}
        assert forks(b, a.node_id) == forks(c, a.node_id) == 0
        status: list[dict[str, Any]] = cli_json("peers", "status", "--home", str(home))
        assert all(p["refused"] == 0 and p["chain_fork"] is None for p in status), status
        run_cli("audit", "verify", "--home", str(home))  # exits non-zero unless the chain is intact
        actions = [e["action"] for e in cli_json("audit", "list", "--home", str(home))]
        assert "node.restore" in actions
        assert "chain.head" in actions
        restored.assert_running()
        for node in (restored, b, c):
            node.assert_clean_log()
    finally:
        shut_down([restored])
