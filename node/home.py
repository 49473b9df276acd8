"""A node's home directory: config, private key and database, and the Node that ties them together.

Layout: praevnet.toml (config), node.key (the Ed25519 seed, mode 0600), praevnet.db (SQLite).
`init_home` creates them and refuses to overwrite an existing node; `Node.open` loads them.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from node.config import NodeConfig, load_config, parse_config
from node.errors import NodeError
from node.store import now, open_db
from protocol.descriptor import build_descriptor, normalize_base_url
from protocol.errors import ProtocolError
from protocol.keys import NodeKey, fingerprint, node_id_for, safety_number

CONFIG_FILE = "praevnet.toml"
KEY_FILE = "node.key"
DB_FILE = "praevnet.db"
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
    key = NodeKey.generate()
    fd = os.open(home / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.seed)
        handle.flush()
        os.fsync(handle.fileno())
    (home / CONFIG_FILE).write_text(config.to_toml(), encoding="utf-8")
    open_db(home / DB_FILE).close()


def _load_key(path: Path) -> NodeKey:
    if not path.exists():
        raise NodeError(f"no node key at {path}; run `praevnet init` first")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise NodeError(f"{path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")
    seed = path.read_bytes()
    if len(seed) != 32:
        raise NodeError(f"{path} is not a praevnet node key")
    return NodeKey.from_seed(seed)


@dataclass
class Node:
    """An opened node: its config, key, identity and database connection."""

    home: Path
    config: NodeConfig
    key: NodeKey
    db: Database

    @classmethod
    def open(cls, home: Path) -> Node:
        """Open the node in `home`; raise NodeError if there is none."""
        config_path = home / CONFIG_FILE
        if not config_path.exists():
            raise NodeError(f"no praevnet node in {home}; run `praevnet init --home {home} ...` first")
        config = load_config(config_path)
        key = _load_key(home / KEY_FILE)
        return cls(home=home, config=config, key=key, db=open_db(home / DB_FILE))

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

    @property
    def node_id(self) -> str:
        """This node's self-certifying id."""
        return node_id_for(self.key.public)

    @property
    def fingerprint(self) -> str:
        """This node's key fingerprint for people to compare."""
        return fingerprint(self.key.public)

    def identity(self) -> dict[str, Any]:
        """Name, node id, URL, fingerprint and safety number, as `praevnet id` shows them."""
        return {
            "name": self.config.name,
            "node_id": self.node_id,
            "url": self.config.url,
            "fingerprint": self.fingerprint,
            "safety_number": safety_number(self.key.public),
        }

    def descriptor(self) -> dict[str, Any]:
        """A freshly signed descriptor, valid for seven days."""
        return build_descriptor(
            [self.key],
            node_id=self.node_id,
            name=self.config.name,
            url=self.config.url,
            valid_until=now() + DESCRIPTOR_LIFETIME,
        )
