"""Issue 13, doctor: the checks of a home that need no opened node, each shown failing on a home broken on purpose."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlite_utils import Database

from node.home import CONFIG_FILE, DB_FILE, KEY_FILE, KEYS_DIR, Node, init_home
from node.migrations import SCHEMA_VERSION, STEPS, migrate
from node.ops.doctor import examine
from node.ops.findings import FAIL, OK, WARN, Finding, Limits
from node.sharing.records import add_record
from node.trust.keyring import rotate_key
from node.users import ADMIN
from tests.ports import unreachable_url

RECORD = {"title": "Nachbarschaftsbegehungen", "summary": "Gemeinsame Begehungen mit Anwohnern."}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A node's home with some records, its node closed (its write-ahead log checkpointed into the file)."""
    path = tmp_path / "home"
    init_home(path, name="Stadt A", url=unreachable_url())
    node = Node.open(path)
    try:
        for number in range(40):
            add_record(node, "experience", {**RECORD, "title": f"Bericht {number}"}, by=ADMIN)
    finally:
        node.close()
    return path


def by_check(findings: list[Finding]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding.check, []).append(finding)
    return grouped


def only(findings: list[Finding], check: str) -> Finding:
    [found] = by_check(findings)[check]
    return found


def test_a_sound_home_passes_every_check_of_the_home(home: Path) -> None:
    findings = by_check(examine(home))
    for check in ("modes", "keys", "config", "integrity", "schema", "disk", "audit", "forks"):
        [finding] = findings[check]
        assert finding.status == OK, finding
        assert finding.advice == ""
    assert findings["schema"][0].message == f"schema version {SCHEMA_VERSION}, as this praevnet's"
    assert findings["integrity"][0].message == "PRAGMA integrity_check: ok"


@pytest.mark.parametrize("name", [KEY_FILE, DB_FILE, CONFIG_FILE])
def test_a_file_others_may_read_fails_with_the_chmod_to_run(home: Path, name: str) -> None:
    (home / name).chmod(0o644)
    findings = examine(home)
    modes = only(findings, "modes")
    assert modes.status == FAIL
    assert f"{home / name} is readable by others (mode 644, needs 600)" in modes.message
    assert modes.advice.startswith(f"run `chmod -R go= {home}`")
    node = only(findings, "node")
    assert node.status == WARN
    assert "not opened" in node.message
    assert "modes" in node.advice


def test_a_home_others_may_enter_fails(home: Path) -> None:
    home.chmod(0o755)
    modes = only(examine(home), "modes")
    assert modes.status == FAIL
    assert f"{home} is readable by others (mode 755, needs 700)" in modes.message


def test_a_missing_node_key_fails(home: Path) -> None:
    (home / KEY_FILE).unlink()
    keys = only(examine(home), "keys")
    assert (keys.status, keys.message) == (FAIL, f"the node key {home / KEY_FILE} is missing")
    assert "backup" in keys.advice


def test_a_node_that_cannot_be_opened_fails_with_the_reason(home: Path) -> None:
    node = Node.open(home)
    try:
        rotate_key(node, by=ADMIN)
    finally:
        node.close()
    (home / KEYS_DIR / "ed25519-2.key").unlink()  # the key it rotated to is lost
    findings = examine(home)
    assert only(findings, "keys").status == OK  # node.key is there: the loss shows on opening
    opened = only(findings, "node")
    assert opened.status == FAIL
    assert (
        opened.message
        == f"cannot be opened: no node key at {home / KEYS_DIR / 'ed25519-2.key'}; run `praevnet init` first"
    )
    assert "backup" in opened.advice


def test_a_corrupted_database_page_fails_the_integrity_check(home: Path) -> None:
    path = home / DB_FILE
    with closing(sqlite3.connect(path)) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    assert pages > 8
    with path.open("r+b") as handle:  # overwrite a page in the middle (not the header page) with garbage
        handle.seek(page_size * (pages // 2))
        handle.write(bytes(range(256)) * (page_size // 256))
    findings = examine(home)
    integrity = only(findings, "integrity")
    assert integrity.status == FAIL
    assert "the database is damaged" in integrity.message
    assert "restore the last backup" in integrity.advice
    assert only(findings, "node").status == WARN  # not opened on a damaged database


def test_a_damaged_index_is_named_by_the_integrity_check(home: Path) -> None:
    path = home / DB_FILE
    with closing(sqlite3.connect(path)) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        [root] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_records_1'").fetchone()
    with path.open("r+b") as handle:  # flip bits in the index's cells: its rows no longer match the table's
        handle.seek((root - 1) * page_size + page_size - 60)
        cells = handle.read(20)
        handle.seek((root - 1) * page_size + page_size - 60)
        handle.write(bytes(byte ^ 0x55 for byte in cells))
    integrity = only(examine(home), "integrity")
    assert integrity.status == FAIL
    assert integrity.message.startswith("the database is damaged: row ")
    assert "missing from index sqlite_autoindex_records_1" in integrity.message


def test_a_file_that_is_no_database_fails(home: Path) -> None:
    (home / DB_FILE).write_bytes(b"this is not SQLite" * 300)
    integrity = only(examine(home), "integrity")
    assert integrity.status == FAIL
    assert "restore the last backup" in integrity.advice


def test_an_older_schema_warns_that_migrations_are_pending_and_changes_nothing(home: Path) -> None:
    old = home / "old.db"
    migrate(Database(old), STEPS[:-2])
    (home / DB_FILE).unlink()
    old.rename(home / DB_FILE)
    (home / DB_FILE).chmod(0o600)
    before = (home / DB_FILE).read_bytes()
    findings = examine(home)
    schema = only(findings, "schema")
    assert schema.status == WARN
    assert schema.message == (
        f"schema version {STEPS[-3].number}, this praevnet's is {SCHEMA_VERSION}: 2 migration(s) pending"
    )
    assert "praevnet backup" in schema.advice
    assert [finding.status for finding in findings if finding.check != "schema"] == [OK] * 5 + [WARN]
    assert only(findings, "node").advice == "fix what is named above (schema), then run `praevnet doctor` again"
    assert (home / DB_FILE).read_bytes() == before  # doctor migrated nothing
    with closing(sqlite3.connect(home / DB_FILE)) as conn:
        assert conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == len(STEPS) - 2


def test_a_newer_schema_fails(home: Path) -> None:
    with closing(sqlite3.connect(home / DB_FILE)) as conn, conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('praevnet', '9999_future', '')"
        )
    schema = only(examine(home), "schema")
    assert schema.status == FAIL
    assert "9999_future" in schema.message
    assert f"newer than this praevnet's {SCHEMA_VERSION}" in schema.message
    assert "install that newer praevnet" in schema.advice


def test_every_configuration_problem_is_a_failing_line(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRAEVNET_DELIVERY__POLL_INTERVAL", "-1")
    monkeypatch.setenv("PRAEVNET_SERVER__PORTT", "1")
    findings = examine(home)
    config = by_check(findings)["config"]
    assert [finding.status for finding in config] == [FAIL, FAIL]
    assert "PRAEVNET_SERVER__PORTT names no setting" in config[0].message
    assert config[1].message.startswith("config: delivery.poll_interval = -1 (from PRAEVNET_DELIVERY__POLL_INTERVAL)")
    assert "praevnet config check" in config[0].advice
    assert only(findings, "node").status == WARN


def test_settings_from_the_environment_are_counted(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRAEVNET_DELIVERY__POLL_INTERVAL", "1")
    config = only(examine(home), "config")
    assert config.status == OK
    assert config.message.endswith(", 1 from the environment)")


@pytest.mark.parametrize(
    ("limits", "status"),
    [(Limits(disk_warn=1 << 62), WARN), (Limits(disk_fail=1 << 62), FAIL), (Limits(disk_warn=0, disk_fail=0), OK)],
)
def test_free_disk_space_below_the_limits_warns_or_fails(home: Path, limits: Limits, status: str) -> None:
    disk = only(examine(home, limits), "disk")
    assert disk.status == status
    assert f"free on the file system of {home}" in disk.message
    assert ("a backup needs about" in disk.advice) == (status != OK)


def test_a_directory_without_a_node_is_one_failure(tmp_path: Path) -> None:
    assert examine(tmp_path) == [
        Finding(
            "home",
            FAIL,
            f"no praevnet node in {tmp_path}",
            f"run `praevnet init --home {tmp_path} ...`, or name the node's home with --home",
        )
    ]
