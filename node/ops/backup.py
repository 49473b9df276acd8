"""`praevnet backup`: one encrypted file with everything a node needs to be restored, made while it serves.

The database is copied with SQLite's online backup API in one step, which reads one consistent
snapshot (in WAL mode a reader holds up no writer, so the node goes on serving) into memory; the
config, the node key, the keys after rotations and the keys of networks the node operates are read
from the home. node.ops.archive packs them with a manifest and encrypts them with the passphrase.
The file is created with mode 0600 under a temporary name beside the target and linked to its name
only when complete, so that a backup interrupted half-way never looks like a backup; an existing file
is never overwritten. The node's audit log records each backup with the file's SHA-256.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from node import audit
from node.home import CONFIG_FILE, DB_FILE, KEY_FILE, KEYS_DIR, Node
from node.migrations import applied_steps, schema_version, software_version
from node.networks.registry import NETWORKS_DIR
from node.ops.archive import FORMAT, FORMAT_VERSION, BackupError, check_passphrase, member_allowed, pack, sha256_hex
from node.store import now_text, write, write_private
from node.users import ADMIN


def snapshot_database(path: Path) -> tuple[bytes, list[str], int]:
    """A consistent copy of the database at `path` (SQLite's online backup API, in one step), its schema steps
    and version; the serving node's writers are not held up (WAL mode)."""
    source = sqlite3.connect(str(path), timeout=30.0)
    copy = sqlite3.connect(":memory:")
    try:
        source.backup(copy)
        steps = applied_steps(Database(copy))
        return copy.serialize(), steps, schema_version(Database(copy))
    finally:
        copy.close()
        source.close()


def home_files(home: Path) -> dict[str, bytes]:
    """The node's files besides the database, by their name in the home (and in the backup)."""
    files = {CONFIG_FILE: (home / CONFIG_FILE).read_bytes(), KEY_FILE: (home / KEY_FILE).read_bytes()}
    for folder in (KEYS_DIR, NETWORKS_DIR):
        if not (home / folder).is_dir():
            continue
        for path in sorted((home / folder).iterdir()):
            name = f"{folder}/{path.name}"
            if path.is_file() and not path.is_symlink() and member_allowed(name):
                files[name] = path.read_bytes()
    return files


def create_backup(home: Path, target: Path, passphrase: str) -> dict[str, Any]:
    """Back up the node in `home` into the new file `target`, encrypted with `passphrase`; return what was saved:
    `file`, `node_id`, `name`, `schema`, `members`, `bytes`, `sha256` and `seconds`."""
    check_passphrase(passphrase, new=True)
    if target.exists() or target.is_symlink():
        raise BackupError(f"{target} exists; a backup never overwrites a file (choose a new name)")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a directory; create it first")
    started = time.monotonic()
    node = Node.open(home)
    try:
        database, steps, schema = snapshot_database(home / DB_FILE)
        files = {**home_files(home), DB_FILE: database}
        del database
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "node_id": node.node_id,
            "name": node.config.name,
            "praevnet": software_version(),
            "schema": schema,
            "steps": steps,
            "created": now_text(),
        }
        members = sorted(files)
        data = pack(manifest, files, passphrase)
        del files
        _write_new(target, data)
        digest = sha256_hex(data)
        with write(node.db) as conn:
            audit.append(
                conn,
                user=ADMIN.name,
                action="node.backup",
                digest=audit.digest_of(data),
                detail=f"backup {target.name} ({len(data)} bytes, schema {schema}) made",
            )
        return {
            "file": str(target),
            "node_id": node.node_id,
            "name": node.config.name,
            "schema": schema,
            "members": members,
            "bytes": len(data),
            "sha256": digest,
            "seconds": round(time.monotonic() - started, 3),
        }
    finally:
        node.close()


def _write_new(target: Path, data: bytes) -> None:
    """Write `data` as the new file `target` (0600) durably, appearing under its name only when complete."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        write_private(partial, data)
    except FileExistsError:
        raise BackupError(f"{partial} is in the way (left by an interrupted backup?); remove it") from None
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot write {partial}: {exc.strerror or exc}") from None
    try:
        os.link(partial, target)
    except FileExistsError:
        raise BackupError(f"{target} appeared while the backup was written; it was left as it is") from None
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
