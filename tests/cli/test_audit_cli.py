"""`praevnet audit list|verify|export`: reading, checking and exporting the audit log from the CLI."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from node import audit
from node.home import DB_FILE, Node
from node.store import write
from tests.cli.conftest import invoke, ok, ok_json

COPY = "time, user, action, record_id, version, recipients, digest, detail, hash, hash, records"  # prev = hash of 5


def log(home: Path, count: int) -> list[str]:
    """Append `count` entries to the node in `home`; return the digests of the ones with bytes."""
    digests = []
    node = Node.open(home)
    try:
        for i in range(count):
            digest = audit.digest_of(f"bytes {i}".encode())
            digests.append(digest)
            with write(node.db) as conn:
                audit.append(
                    conn,
                    user="erika" if i % 2 else "admin",
                    action="record.share" if i % 2 else "record.add",
                    record_id=f"rec{i:04d}",
                    version=1,
                    recipients=["pnb", "pnc"][: i % 3],
                    digest=digest,
                )
    finally:
        node.close()
    return digests


def tamper(home: Path, *statements: str) -> None:
    """Change the database file directly, as someone with access to it could, triggers dropped first."""
    with closing(sqlite3.connect(home / DB_FILE, isolation_level=None)) as conn:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        for statement in statements:
            conn.execute(statement)


def test_empty_log(home: Path) -> None:
    assert "the audit log is empty" in ok("audit", "list", "--home", str(home)).output
    assert ok_json("audit", "list", "--home", str(home)) == []
    result = ok("audit", "verify", "--home", str(home))
    assert result.stdout == "audit log intact: 0 entries, head (empty)\n"
    assert ok_json("audit", "verify", "--home", str(home)) == {
        "intact": True,
        "entries": 0,
        "head": {"seq": 0, "hash": ""},
        "problems": [],
    }


def test_list_human_and_json(home: Path) -> None:
    digests = log(home, 5)
    entries = ok_json("audit", "list", "--home", str(home))
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert [e["digest"] for e in entries] == digests
    assert entries[1]["user"] == "erika"
    assert entries[1]["recipients"] == ["pnb"]
    assert entries[1]["prev"] == entries[0]["hash"]

    header, *lines = ok("audit", "list", "--home", str(home)).stdout.splitlines()
    assert header.split() == ["SEQ", "TIME", "USER", "ACTION", "RECORD", "RECIPIENTS", "DIGEST"]
    assert len(lines) == 5
    assert lines[1].split()[0] == "2"
    for word in ("erika", "record.share", "rec0001 v1", digests[1][:19], entries[1]["time"]):
        assert word in lines[1], lines[1]
    assert header.index("RECIPIENTS") == lines[1].index(" 1 ") + 1  # the count stands under its header
    assert lines[2][header.index("RECIPIENTS")] == "2"


def test_list_limit_and_record(home: Path) -> None:
    log(home, 6)
    assert [e["seq"] for e in ok_json("audit", "list", "--limit", "2", "--home", str(home))] == [5, 6]
    assert [e["seq"] for e in ok_json("audit", "list", "--record", "rec0003", "--home", str(home))] == [4]
    result = invoke("audit", "list", "--limit", "0", "--home", str(home))
    assert result.exit_code == 2
    assert "--limit" in result.output


def test_verify_intact(home: Path) -> None:
    log(home, 4)
    head = ok_json("audit", "list", "--home", str(home))[-1]["hash"]
    result = ok("audit", "verify", "--home", str(home))
    assert result.stdout == f"audit log intact: 4 entries, head {head[:12]}\n"


@pytest.mark.parametrize(
    ("statements", "problem"),
    [
        (["UPDATE audit SET user = 'mallory' WHERE seq = 3"], "entry 3 was changed"),
        (["DELETE FROM audit WHERE seq = 2"], "entry 2 is missing (seq jumps from 1 to 3)"),
        (["DELETE FROM audit WHERE seq = 5"], "the last entry was deleted (head says 5, log ends at 4)"),
        ([f"INSERT INTO audit SELECT 6, {COPY} FROM audit WHERE seq = 5"], "entry 6 was inserted"),
    ],
    ids=["changed", "deleted", "deleted-last", "inserted"],
)
def test_verify_names_the_tampered_entry(home: Path, statements: list[str], problem: str) -> None:
    log(home, 5)
    tamper(home, *statements)
    result = invoke("audit", "verify", "--home", str(home))
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert problem in result.stdout
    assert "audit log intact" not in result.stdout
    assert result.stderr.startswith("Error: the audit log is not intact")

    result = invoke("audit", "verify", "--json", "--home", str(home))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["intact"] is False
    assert any(problem in line for line in report["problems"]), report


def test_export_to_stdout(home: Path) -> None:
    log(home, 3)
    entries = ok_json("audit", "list", "--home", str(home))
    rows = list(csv.DictReader(io.StringIO(ok("audit", "export", "--format", "csv", "--home", str(home)).stdout)))
    assert [row["hash"] for row in rows] == [e["hash"] for e in entries]
    document = json.loads(ok("audit", "export", "--format", "json", "--home", str(home)).stdout)
    assert document["entries"] == entries
    assert document["head"] == {"seq": 3, "hash": entries[-1]["hash"]}


def test_export_to_file_and_refusal_to_overwrite(home: Path, tmp_path: Path) -> None:
    log(home, 3)
    target = tmp_path / "audit.csv"
    result = ok("audit", "export", "--format", "csv", "--output", str(target), "--home", str(home))
    assert str(target) in result.output
    assert target.stat().st_mode & 0o777 == 0o600
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["seq"]) for row in rows] == [1, 2, 3]
    written = target.read_bytes()

    result = invoke("audit", "export", "--format", "json", "--output", str(target), "--home", str(home))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == f"Error: {target} already exists; refusing to overwrite it"
    assert target.read_bytes() == written

    json_target = tmp_path / "audit.json"
    ok("audit", "export", "--format", "json", "--output", str(json_target), "--home", str(home))
    assert len(json.loads(json_target.read_text(encoding="utf-8"))["entries"]) == 3


def test_export_needs_a_known_format(home: Path) -> None:
    for args in (["--format", "xml"], []):
        result = invoke("audit", "export", *args, "--home", str(home))
        assert result.exit_code == 2
        assert "--format" in result.output


def test_audit_without_a_node(tmp_path: Path) -> None:
    for command in (["list"], ["verify"], ["export", "--format", "json"]):
        result = invoke("audit", *command, "--home", str(tmp_path / "none"))
        assert result.exit_code == 1
        assert "no praevnet node" in result.stderr
