"""`praevnet restore`: a backup (node.ops.backup) into a new home, checked whole before anything is written.

In order, before writing a byte: the target must not hold anything (an existing node, running or not,
is never overwritten; an empty directory is taken); the passphrase must open the file; the archive
must be intact (node.ops.archive: every member a regular file of a node's home, matching the
manifest's size and SHA-256); the config must be valid; the node key must be that of the manifest's
node id, and every later key the one the database lists; the database must pass SQLite's integrity
check and have a schema this praevnet knows (not newer than itself). Only then the files are written
with the modes the node requires (directories 0700, files 0600) into a new directory beside the
target, the database is brought to this praevnet's schema and marked restored (node.sharing.chain:
the node learns its chain head from its peers before it sends anything new) with an audit entry, and
the directory is renamed to the target in one step. A failure on the way removes the new directory.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from node import audit
from node.config import parse_config
from node.errors import NodeError
from node.home import CONFIG_FILE, DB_FILE, KEY_FILE, PRIVATE_DIR_MODE
from node.migrations import STEPS, SchemaTooNew, applied_steps, schema_version
from node.ops.archive import BackupError, check_passphrase, decrypt, open_archive
from node.sharing.chain import mark_restored
from node.store import open_db, write, write_private
from node.users import ADMIN
from protocol.keys import NodeKey, node_id_for, public_key_from_b64


def restore_backup(source: Path, home: Path, passphrase: str) -> dict[str, Any]:
    """Restore the backup `source` into the new home `home`; return `home`, `node_id`, `name`, `schema` (of the
    backup) and `created` (when it was made). BackupError, with nothing written, if anything is wrong."""
    check_passphrase(passphrase, new=False)
    check_target(home)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise BackupError(f"cannot read {source}: {exc.strerror or exc}") from None
    manifest, files = open_archive(decrypt(data, passphrase, str(source)), str(source))
    del data
    check_contents(manifest, files, str(source))
    _write_home(home, files, manifest, source.name)
    return {
        "home": str(home),
        "node_id": manifest["node_id"],
        "name": manifest["name"],
        "schema": manifest["schema"],
        "created": manifest.get("created"),
    }


def check_target(home: Path) -> None:
    """BackupError unless `home` can take a restored node: it does not exist yet, or is an empty directory."""
    if home.is_symlink() or (home.exists() and not home.is_dir()):
        raise BackupError(f"{home} exists and is not a directory; restore into a new directory")
    if home.is_dir() and any(home.iterdir()):
        held = "a node" if (home / CONFIG_FILE).exists() or (home / DB_FILE).exists() else "files"
        raise BackupError(
            f"{home} already holds {held}; a restore never overwrites a node (running or not): "
            "restore into a new directory"
        )


def check_contents(manifest: dict[str, Any], files: dict[str, bytes], where: str) -> None:
    """BackupError unless the config, keys and database of a backup (node.ops.archive.open_archive) make a node
    this praevnet can run: a valid config, the node key of the manifest's node id and every later key the
    database lists, a database that passes SQLite's integrity check with a schema not newer than this praevnet."""
    try:
        parse_config(files[CONFIG_FILE].decode("utf-8"))
    except (UnicodeDecodeError, NodeError) as exc:
        raise BackupError(f"{where}: its {CONFIG_FILE} is not valid: {exc}") from None
    keys = {1: _key(files[KEY_FILE], KEY_FILE, where)}
    if node_id_for(keys[1].public) != manifest["node_id"]:
        raise BackupError(f"{where}: its {KEY_FILE} is not the key of node {manifest['node_id']}")
    db = _in_memory(files[DB_FILE], where)
    try:
        _check_database(db, manifest, where)
        for version, public in db.execute("SELECT version, public FROM own_keys").fetchall():
            name = KEY_FILE if version == 1 else f"keys/ed25519-{version}.key"
            if name not in files:
                raise BackupError(f"{where} holds no {name}, which the node's database lists")
            key = keys.get(version) or _key(files[name], name, where, version)
            if key.public != public_key_from_b64(public):
                raise BackupError(f"{where}: {name} is not the key version {version} its database lists")
    finally:
        db.close()


def _key(seed: bytes, name: str, where: str, version: int = 1) -> NodeKey:
    if len(seed) != 32:
        raise BackupError(f"{where}: {name} is not a praevnet key")
    return NodeKey.from_seed(seed, version)


def _in_memory(data: bytes, where: str) -> Database:
    image = bytearray(data)
    if image[:16] == b"SQLite format 3\x00" and image[18:20] == b"\x02\x02":
        image[18:20] = b"\x01\x01"  # a WAL database's header; in memory it is read as a rollback-journal one
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(image)
        conn.execute("PRAGMA query_only = ON")
        (verdict,) = conn.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise BackupError(f"{where}: its {DB_FILE} is not a readable database: {exc}") from None
    if verdict != "ok":
        conn.close()
        raise BackupError(f"{where}: its {DB_FILE} fails SQLite's integrity check: {verdict}")
    return Database(conn)


def _check_database(db: Database, manifest: dict[str, Any], where: str) -> None:
    steps = applied_steps(db)
    if steps != manifest["steps"]:
        raise BackupError(f"{where}: the schema steps of its {DB_FILE} are not those its manifest lists")
    known = {step.name for step in STEPS}
    unknown = [name for name in steps if name not in known]
    if unknown:
        newest = STEPS[-1].number
        message = str(SchemaTooNew(max(schema_version(db), newest + 1), newest, unknown))
        raise BackupError(f"{where}: a newer praevnet made this backup: {message}")
    if not steps:
        raise BackupError(f"{where}: its {DB_FILE} holds no praevnet schema")


def _write_home(home: Path, files: dict[str, bytes], manifest: dict[str, Any], source: str) -> None:
    """Write the files into a new directory beside `home` (0700, files 0600), bring the database to this
    praevnet's schema, mark it restored, and rename the directory to `home`; remove it again on any failure."""
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}.restoring-", dir=home.parent))
    try:
        staging.chmod(PRIVATE_DIR_MODE)
        for name, data in sorted(files.items()):
            path = staging / name
            if path.parent != staging and not path.parent.exists():
                path.parent.mkdir(mode=PRIVATE_DIR_MODE)
                path.parent.chmod(PRIVATE_DIR_MODE)  # whatever the umask
            write_private(path, data)
        db = open_db(staging / DB_FILE)
        try:
            with write(db) as conn:
                mark_restored(conn)
                # Pull everything again: a peer's outbox passes over what this node acknowledged by push, also
                # after the backup was made; a pull from an earlier cursor makes it serve that again (SPEC 8.3).
                conn.execute("UPDATE peers SET pull_cursor = 0, catch_up = 1")
                audit.append(
                    conn,
                    user=ADMIN.name,
                    action="node.restore",
                    detail=f"restored from {source}, made {manifest.get('created')} (schema {manifest['schema']})",
                )
        finally:
            db.close()
        _sync(staging)
        os.rename(staging, home)  # in one step; an empty directory there is replaced, any other refuses
        _sync(home.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _sync(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
