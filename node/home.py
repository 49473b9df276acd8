"""A node's home directory: config, private key and database, and the Node that ties them together.

Layout: praevnet.toml (config), node.key (the first Ed25519 seed, mode 0600), keys/ed25519-N.key
(keys after rotations), praevnet.db (SQLite).
`init_home` creates them and refuses to overwrite an existing node; `Node.open` loads them.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from node.config import NodeConfig, load_config, parse_config
from node.errors import NodeError
from node.store import now, now_text, open_db
from protocol.descriptor import build_descriptor, normalize_base_url
from protocol.errors import ProtocolError
from protocol.keys import NodeKey, fingerprint, node_id_for, safety_number

CONFIG_FILE = "praevnet.toml"
KEY_FILE = "node.key"
DB_FILE = "praevnet.db"
KEYS_DIR = "keys"
DESCRIPTOR_LIFETIME = timedelta(days=7)


def default_home() -> Path:
    """$PRAEVNET_HOME, else ./praevnet-home."""
    return Path(os.environ.get("PRAEVNET_HOME") or "praevnet-home")


def init_home(home: Path, *, name: str, url: str) -> None:
    """Create a new node in `home`: key (0600), config and database. Refuses if a node is there."""
    name = name.strip()
    if not name or len(name) > 200:
        raise NodeError("the node name must be 1 to 200 characters")
    try:
        url = normalize_base_url(url)
    except ProtocolError as exc:
        raise NodeError(f"--url: {exc}") from None
    for existing in (CONFIG_FILE, KEY_FILE, DB_FILE):
        if (home / existing).exists():
            raise NodeError(f"{home} already holds a node ({existing} exists); refusing to overwrite it")
    home.mkdir(parents=True, exist_ok=True)
    config = NodeConfig(name=name, url=url)
    parse_config(config.to_toml())
    write_key(home / KEY_FILE, NodeKey.generate())
    (home / CONFIG_FILE).write_text(config.to_toml(), encoding="utf-8")
    open_db(home / DB_FILE).close()


def _load_key(path: Path, version: int = 1) -> NodeKey:
    if not path.exists():
        raise NodeError(f"no node key at {path}; run `praevnet init` first")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise NodeError(f"{path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")
    seed = path.read_bytes()
    if len(seed) != 32:
        raise NodeError(f"{path} is not a praevnet node key")
    return NodeKey.from_seed(seed, version)


def key_path(home: Path, version: int) -> Path:
    """Where the private key of a version lives: node.key for the first, keys/ed25519-N.key after rotations."""
    return home / KEY_FILE if version == 1 else home / KEYS_DIR / f"ed25519-{version}.key"


def write_key(path: Path, key: NodeKey) -> None:
    """Write a private key seed with mode 0600, durably, never over an existing file."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.seed)
        handle.flush()
        os.fsync(handle.fileno())


@dataclass
class Node:
    """An opened node: its config, its keys (`key` is the current one), identity and database connection."""

    home: Path
    config: NodeConfig
    key: NodeKey
    db: Database
    keys: dict[int, NodeKey] = field(default_factory=dict)

    @classmethod
    def open(cls, home: Path) -> Node:
        """Open the node in `home`; raise NodeError if there is none."""
        config_path = home / CONFIG_FILE
        if not config_path.exists():
            raise NodeError(f"no praevnet node in {home}; run `praevnet init --home {home} ...` first")
        config = load_config(config_path)
        first = _load_key(home / KEY_FILE)
        db = open_db(home / DB_FILE)
        versions = db.execute("SELECT version, revoked_since FROM own_keys ORDER BY version").fetchall()
        if not versions:
            db.execute(
                "INSERT INTO own_keys (version, public, created) VALUES (1, ?, ?)", (first.public_b64, now_text())
            )
            versions = [(1, None)]
        node = cls(home=home, config=config, key=first, db=db, keys={1: first})
        node.reload_keys()
        return node

    def reload_keys(self) -> None:
        """Load every key version from disk and make the newest unrevoked one current."""
        versions = self.db.execute("SELECT version, revoked_since FROM own_keys ORDER BY version").fetchall()
        for version, _ in versions:
            if version not in self.keys:
                self.keys[version] = _load_key(key_path(self.home, version), version)
        self.key = self.keys[max(v for v, revoked in versions if revoked is None)]

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

    @property
    def node_id(self) -> str:
        """This node's self-certifying id, derived from its first key for good."""
        return node_id_for(self.keys[1].public if self.keys else self.key.public)

    @property
    def fingerprint(self) -> str:
        """The current key's fingerprint, for people to compare."""
        return fingerprint(self.key.public)

    def identity(self) -> dict[str, Any]:
        """Name, node id, URL, fingerprint and safety number, as `praevnet id` shows them."""
        return {
            "name": self.config.name,
            "node_id": self.node_id,
            "url": self.config.url,
            "fingerprint": self.fingerprint,
            "safety_number": safety_number(self.key.public),
            "key_id": self.key.key_id,
        }

    def descriptor(self) -> dict[str, Any]:
        """A freshly signed descriptor, valid for seven days, with old and revoked keys.

        After a rotation the key it replaced signs too, so that peers can follow the change.
        """
        rows = self.db.execute("SELECT version, public, expired, revoked_since FROM own_keys").fetchall()
        old = {
            f"ed25519:{v}": {"key": public, "expired": expired or now_text()}
            for v, public, expired, revoked in rows
            if v != self.key.version
        }
        revoked = {f"ed25519:{v}": {"since": since} for v, _, _, since in rows if since is not None}
        previous = [self.keys[v] for v in sorted(self.keys) if v < self.key.version][-1:]
        return build_descriptor(
            [self.key],
            node_id=self.node_id,
            name=self.config.name,
            url=self.config.url,
            valid_until=now() + DESCRIPTOR_LIFETIME,
            old_keys=old,
            revoked=revoked,
            revocation_version=len(revoked),
            also_signed_by=previous,
        )
