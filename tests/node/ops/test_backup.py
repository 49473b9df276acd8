"""Backup and restore (node.ops.backup, node.ops.restore): a backup made while the node is open restores into
a new home with the node's modes and carries on; every damaged, altered or hostile file, a wrong passphrase
and a home that is already there are refused with a message naming the problem, and nothing is written."""

from __future__ import annotations

import io
import json
import sqlite3
import stat
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyrage
import pytest

from node import audit
from node.errors import NodeError
from node.home import Node, init_home
from node.migrations import STEPS
from node.networks.operator import create_network
from node.ops.archive import MANIFEST, archive_bytes, decrypt, open_archive
from node.ops.backup import create_backup, snapshot_database
from node.ops.restore import check_contents, restore_backup
from node.sharing.chain import chain_state
from node.sharing.records import add_record
from node.store import write
from node.trust.keyring import rotate_key
from node.users import ADMIN
from tests.conftest import RECORD, FakePeer

PASS = "correct horse battery staple"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A node with a record, a peer, a rotated key and a network it operates, and its backup (made once)."""
    base = tmp_path_factory.mktemp("made")
    home = base / "stadt-a"
    init_home(home, name="Stadt A", url="http://127.0.0.1:9")
    node = Node.open(home)
    try:
        add_record(node, "experience", RECORD, by=ADMIN)
        FakePeer("Stadt B", "http://127.0.0.1:9").trusted_by(node)
        rotate_key(node, by=ADMIN)
        create_network(node, "Präventionsrat", by=ADMIN)
    finally:
        node.close()
    target = base / "stadt-a.age"
    create_backup(home, target, PASS)
    return home, target


_OPENED: dict[Path, tuple[dict[str, Any], dict[str, bytes]]] = {}


def members_of(backup: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and files inside a valid backup (copies; each backup is decrypted once)."""
    if backup not in _OPENED:
        _OPENED[backup] = open_archive(decrypt(backup.read_bytes(), PASS, "test"), "test")
    manifest, files = _OPENED[backup]
    return json.loads(json.dumps(manifest)), dict(files)


def tar_of(entries: Iterable[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A tar archive of (header, data) entries, exactly as given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def valid_entries(backup: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    manifest, files = members_of(backup)
    return [regular(MANIFEST, json.dumps(manifest).encode()), *(regular(n, d) for n, d in sorted(files.items()))]


def refused(source: Path, target: Path, *words: str, passphrase: str = PASS) -> str:
    """Restoring `source` into `target` is refused naming `words`, and nothing is written beside the target."""
    before = sorted(target.parent.iterdir()) if target.parent.exists() else None
    with pytest.raises(NodeError) as caught:
        restore_backup(source, target, passphrase)
    message = str(caught.value)
    for word in words:
        assert word.lower() in message.lower(), message
    after = sorted(target.parent.iterdir()) if target.parent.exists() else None
    assert after == before, "a refused restore left something behind"
    return message


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- a backup that restores ---------------------------------------------------------------------------


def test_a_restored_node_is_the_same_node_with_the_modes_it_requires(made: tuple[Path, Path], tmp_path: Path) -> None:
    home, backup = made
    assert mode(backup) == 0o600
    target = tmp_path / "new" / "stadt-a"
    report = restore_backup(backup, target, PASS)

    assert mode(target) == 0o700
    for path in target.rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    assert {p.relative_to(target).as_posix() for p in target.rglob("*.key")} == {
        p.relative_to(home).as_posix() for p in home.rglob("*.key")
    }
    original, restored = Node.open(home), Node.open(target)
    try:
        assert report["node_id"] == restored.node_id == original.node_id
        assert restored.key.key_id == original.key.key_id == "ed25519:2"
        for table in ("records", "versions", "peers", "networks", "own_keys"):
            query = f"SELECT * FROM {table} ORDER BY 1"
            if table == "peers":  # but a restored node pulls everything again (node.ops.restore)
                original.db.execute("UPDATE peers SET pull_cursor = 0, catch_up = 1")
            assert restored.db.execute(query).fetchall() == original.db.execute(query).fetchall(), table
        assert audit.verify(restored) == []
        assert audit.list_entries(restored)[-1]["action"] == "node.restore"
        assert chain_state(restored)["pending"].startswith("restored from a backup")
        assert chain_state(original)["pending"] is None
    finally:
        original.close()
        restored.close()


def test_the_database_is_copied_while_a_writer_holds_it(make_node: Callable[..., Node], tmp_path: Path) -> None:
    node = make_node("Stadt A")
    add_record(node, "experience", RECORD, by=ADMIN)
    with write(node.db) as conn:  # a writer in the middle of a transaction: the copy reads the last commit
        conn.execute("UPDATE records SET author = 'mitten drin'")
        image, steps, schema = snapshot_database(node.home / "praevnet.db")
    copy = sqlite3.connect(":memory:")
    writable = bytearray(image)
    writable[18:20] = b"\x01\x01"  # WAL in the header: read in memory as a rollback-journal database
    copy.deserialize(writable)
    assert copy.execute("SELECT author FROM records").fetchall() == [("admin",)]
    assert (steps[-1], schema) == (STEPS[-1].name, STEPS[-1].number)
    copy.close()


def test_a_backup_is_audited(make_node: Callable[..., Node], tmp_path: Path) -> None:
    node = make_node("Stadt A")
    report = create_backup(node.home, tmp_path / "a.age", PASS)
    [entry] = [e for e in audit.list_entries(node) if e["action"] == "node.backup"]
    assert entry["digest"] == audit.digest_of((tmp_path / "a.age").read_bytes())
    assert report["members"] == ["node.key", "praevnet.db", "praevnet.toml"]


# --- what a backup refuses ------------------------------------------------------------------------------


def test_backup_refuses_an_existing_file_and_a_short_or_empty_passphrase(
    made: tuple[Path, Path], tmp_path: Path
) -> None:
    home, _ = made
    existing = tmp_path / "da.age"
    existing.write_bytes(b"keep me")
    with pytest.raises(NodeError, match="never overwrites"):
        create_backup(home, existing, PASS)
    assert existing.read_bytes() == b"keep me"
    for passphrase, words in (("", "empty"), ("   ", "empty"), ("kurz", "at least 12")):
        with pytest.raises(NodeError, match=words):
            create_backup(home, tmp_path / "neu.age", passphrase)
    with pytest.raises(NodeError, match="not a directory"):
        create_backup(home, tmp_path / "fehlt" / "neu.age", PASS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["da.age"]


# --- what a restore refuses -----------------------------------------------------------------------------


def test_wrong_empty_passphrase_and_target_that_exists(made: tuple[Path, Path], tmp_path: Path) -> None:
    home, backup = made
    refused(backup, tmp_path / "a", "passphrase does not open", passphrase="a wrong passphrase")
    refused(backup, tmp_path / "a", "passphrase is empty", passphrase="")
    refused(backup, home, "already holds a node", "never overwrites")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    refused(backup, tmp_path / "other", "already holds files")
    (tmp_path / "plain").write_text("x")
    refused(backup, tmp_path / "plain", "not a directory")


def test_an_empty_directory_is_taken(made: tuple[Path, Path], tmp_path: Path) -> None:
    _, backup = made
    (tmp_path / "leer").mkdir(mode=0o755)
    restore_backup(backup, tmp_path / "leer", PASS)
    assert mode(tmp_path / "leer") == 0o700
    assert (tmp_path / "leer" / "praevnet.db").exists()


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda data: data[: len(data) - 5000], "damaged or truncated"),
        (lambda data: data[:-1], "damaged or truncated"),
        (lambda data: data[:2000] + bytes([data[2000] ^ 1]) + data[2001:], "damaged or truncated"),
        (lambda data: b"PK\x03\x04" + data, "not a praevnet backup"),
        (lambda data: b"", "not a praevnet backup"),
    ],
    ids=["truncated", "last-byte-cut", "bit-flipped", "not-age", "empty-file"],
)
def test_a_damaged_file(made: tuple[Path, Path], tmp_path: Path, damage: Callable[[bytes], bytes], words: str) -> None:
    _, backup = made
    broken = tmp_path / "broken.age"
    broken.write_bytes(damage(backup.read_bytes()))
    refused(broken, tmp_path / "neu", words)


def test_a_file_encrypted_to_a_key_instead_of_a_passphrase(tmp_path: Path) -> None:
    source = tmp_path / "key.age"
    source.write_bytes(pyrage.encrypt(b"whatever", [pyrage.x25519.Identity.generate().to_public()]))
    refused(source, tmp_path / "neu", "encrypted to a key")


def hostile(tmp_path: Path, plain: bytes) -> Path:
    """An archive encrypted with the right passphrase, as an attacker who knows it could make."""
    path = tmp_path / "hostile.age"
    path.write_bytes(pyrage.passphrase.encrypt(plain, PASS))
    return path


def linked(name: str, kind: bytes, target: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda e: [*e, regular("../evil.key", b"x")], ["'../evil.key'", "not a file of a node's home"]),
        (lambda e: [*e, regular("/tmp/evil", b"x")], ["'/tmp/evil'", "not a file of a node's home"]),
        (lambda e: [*e, regular("keys/../../evil", b"x")], ["not a file of a node's home"]),
        (lambda e: [*e, linked("keys/ed25519-3.key", tarfile.SYMTYPE, "/etc/shadow")], ["symbolic link"]),
        (lambda e: [*e, linked("keys/ed25519-3.key", tarfile.LNKTYPE, "node.key")], ["hard link"]),
        (lambda e: [*e, linked("keys", tarfile.DIRTYPE, "")], ["not a regular file"]),
        (lambda e: [e[0], *e[1:], e[-1]], ["appears twice"]),
        (lambda e: e[1:], ["no manifest.json"]),
        (lambda e: [*e[1:], e[0]], ["first member"]),
        (lambda e: [*e, regular("networks/nwfake.key", b"x" * 32)], ["not a file of a node's home"]),
    ],
    ids=[
        "dotdot",
        "absolute",
        "nested-dotdot",
        "symlink",
        "hardlink",
        "directory",
        "twice",
        "no-manifest",
        "manifest-last",
        "bad-network-id",
    ],
)
def test_a_hostile_archive(
    made: tuple[Path, Path],
    change: Callable[[list[tuple[tarfile.TarInfo, bytes | None]]], list[tuple[tarfile.TarInfo, bytes | None]]],
    words: list[str],
) -> None:
    _, backup = made
    with pytest.raises(NodeError) as caught:
        open_archive(tar_of(change(valid_entries(backup))), "hostile.age")
    for word in words:
        assert word.lower() in str(caught.value).lower(), caught.value


def test_a_restore_of_a_hostile_archive_writes_nothing(made: tuple[Path, Path], tmp_path: Path) -> None:
    _, backup = made
    entries = [*valid_entries(backup), regular("../evil.key", b"x"), linked("keys/ed25519-3.key", tarfile.SYMTYPE, "/")]
    refused(hostile(tmp_path, tar_of(entries)), tmp_path / "neu", "'../evil.key'", "not a file of a node's home")
    assert not (tmp_path.parent / "evil.key").exists()


def repacked(backup: Path, alter: Callable[[dict[str, Any], dict[str, bytes]], None]) -> bytes:
    """The backup's files, changed by `alter`, packed again with a manifest listing them as they are now."""
    manifest, files = members_of(backup)
    manifest.pop("files")
    alter(manifest, files)
    return archive_bytes(manifest, files)


def test_a_member_that_does_not_match_the_manifest(made: tuple[Path, Path], tmp_path: Path) -> None:
    _, backup = made
    manifest, files = members_of(backup)
    changed = dict(files)
    changed["praevnet.toml"] = files["praevnet.toml"].replace(b"Stadt A", b"Stadt X")
    entries = [regular(MANIFEST, json.dumps(manifest).encode()), *(regular(n, d) for n, d in sorted(changed.items()))]
    refused(hostile(tmp_path, tar_of(entries)), tmp_path / "neu", "praevnet.toml", "does not match")
    unlisted = [*valid_entries(backup), regular("keys/ed25519-9.key", b"k" * 32)]
    refused(hostile(tmp_path, tar_of(unlisted)), tmp_path / "neu", "keys/ed25519-9.key", "not listed")
    missing = [entry for entry in valid_entries(backup) if entry[0].name != "keys/ed25519-2.key"]
    refused(hostile(tmp_path, tar_of(missing)), tmp_path / "neu", "keys/ed25519-2.key", "missing")


def newer_schema(manifest: dict[str, Any], files: dict[str, bytes]) -> None:
    conn = sqlite3.connect(":memory:")
    image = bytearray(files["praevnet.db"])
    image[18:20] = b"\x01\x01"
    conn.deserialize(image)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('praevnet', '0999_future', 'x')"
    )
    conn.commit()
    files["praevnet.db"] = conn.serialize()
    manifest["steps"] = [*manifest["steps"], "0999_future"]


def broken_index(manifest: dict[str, Any], files: dict[str, bytes]) -> None:
    """The migrations' index made to point at another index's pages: readable, but not intact."""
    conn = sqlite3.connect(":memory:")
    image = bytearray(files["praevnet.db"])
    image[18:20] = b"\x01\x01"
    conn.deserialize(image)
    conn.execute("PRAGMA writable_schema=ON")
    conn.execute(
        """UPDATE sqlite_master SET rootpage = (SELECT rootpage FROM sqlite_master WHERE name = 'envelopes_id')
           WHERE name = 'idx__sqlite_migrations_migration_set_name'"""
    )
    conn.commit()
    files["praevnet.db"] = conn.serialize()


@pytest.mark.parametrize(
    ("alter", "words"),
    [
        (newer_schema, ["newer praevnet", "0999_future"]),
        (broken_index, ["fails SQLite's integrity check", "2nd reference to page"]),
        (lambda m, f: f.update({"node.key": b"n" * 32}), ["node.key is not the key of node"]),
        (lambda m, f: f.update({"node.key": b"short"}), ["node.key is not a praevnet key"]),
        (lambda m, f: f.update({"keys/ed25519-2.key": b"r" * 32}), ["keys/ed25519-2.key is not the key version 2"]),
        (lambda m, f: f.pop("keys/ed25519-2.key"), ["holds no keys/ed25519-2.key"]),
        (lambda m, f: f.update({"praevnet.db": b"not a database" * 100}), ["praevnet.db is not a readable database"]),
        (lambda m, f: f.update({"praevnet.toml": b"[node]\nname = 5\n"}), ["praevnet.toml is not valid"]),
        (lambda m, f: f.pop("praevnet.db"), ["holds no praevnet.db"]),
        (lambda m, f: m.update({"format_version": 2}), ["format version 2"]),
        (lambda m, f: m.update({"steps": ["0001_initial"]}), ["schema steps", "not those its manifest lists"]),
    ],
    ids=[
        "schema-newer",
        "broken-index",
        "foreign-key",
        "short-key",
        "rotated-key",
        "no-rotated-key",
        "not-a-db",
        "bad-config",
        "no-db",
        "format-2",
        "steps-differ",
    ],
)
def test_contents_that_make_no_node_here(
    made: tuple[Path, Path], alter: Callable[[dict[str, Any], dict[str, bytes]], Any], words: list[str]
) -> None:
    _, backup = made
    with pytest.raises(NodeError) as caught:
        check_contents(*open_archive(repacked(backup, alter), "altered.age"), "altered.age")
    for word in words:
        assert word.lower() in str(caught.value).lower(), caught.value


def test_a_restore_of_a_newer_schema_writes_nothing(made: tuple[Path, Path], tmp_path: Path) -> None:
    _, backup = made
    refused(hostile(tmp_path, repacked(backup, newer_schema)), tmp_path / "neu", "newer praevnet", "0999_future")


def test_a_repacked_backup_with_nothing_changed_restores(made: tuple[Path, Path], tmp_path: Path) -> None:
    """The hostile cases above differ from a good archive only in what they name: this one is accepted."""
    _, backup = made
    first = restore_backup(hostile(tmp_path, repacked(backup, lambda m, f: None)), tmp_path / "neu", PASS)
    second = restore_backup(hostile(tmp_path, tar_of(valid_entries(backup))), tmp_path / "neu2", PASS)
    assert first["node_id"] == second["node_id"]
    for home in (tmp_path / "neu", tmp_path / "neu2"):
        Node.open(home).close()
