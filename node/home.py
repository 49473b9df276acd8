"""A node's home directory: config, private key and database, and the Node that ties them together.

Layout: praevnet.toml (config), node.key (the first Ed25519 seed), keys/ed25519-N.key (keys after
rotations), praevnet.db (SQLite, with its -wal and -shm files), networks/<id>.key (network keys).
`init_home` creates them and refuses to overwrite an existing node; `Node.open` loads them.

The home holds the private keys, password hashes, internal notes and AMBER/RED records received from
peers, so it is private to the account that runs the node, whatever the umask: the home and the
directories in it are created 0700, every file 0600, and `Node.open` refuses (before touching
anything) a home or a file of the node that anyone else may read, write or enter. Group access is
refused too, not only access by others: a group that can read the database reads past the node's
users, roles and audit trail, and the key files already refused any group bit. Municipal IT that
shares a group for the service account runs `praevnet` as that account (`sudo -u praevnet ...`).
"""

from __future__ import annotations

import ipaddress
import os
import stat
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlite_utils import Database

from node.config import NodeConfig, load_config, parse_config
from node.errors import NodeError
from node.events import Events
from node.store import now, now_text, open_db, write_private
from protocol.descriptor import build_descriptor, normalize_base_url
from protocol.errors import ProtocolError
from protocol.keys import NodeKey, fingerprint, node_id_for, safety_number

CONFIG_FILE = "praevnet.toml"
KEY_FILE = "node.key"
DB_FILE = "praevnet.db"
KEYS_DIR = "keys"
PRIVATE_DIRS = (KEYS_DIR, "networks")  # networks/ holds the network keys (node.networks.registry)
PRIVATE_DIR_MODE = 0o700
DESCRIPTOR_LIFETIME = timedelta(days=7)


def default_home() -> Path:
    """$PRAEVNET_HOME, else ./praevnet-home."""
    return Path(os.environ.get("PRAEVNET_HOME") or "praevnet-home")


def loopback_port(url: str) -> int | None:
    """The port of a node URL whose host is this machine (localhost, 127.0.0.0/8, ::1), if it names one:
    nothing stands between peers and `serve` then, so `serve` must listen on it. None for any other URL
    (a reverse proxy forwards to [server] port) and for a URL without a port of its own."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    try:
        here = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address
        here = False
    return port if here else None


def init_home(home: Path, *, name: str, url: str, ui_listen: str | None = None, port: int | None = None) -> NodeConfig:
    """Create a new node in `home` (made 0700): key, config and database (0600). Refuses if a node is there.

    `ui_listen` (host:port) is written as `[ui] listen` when the web interface is not to use its default.
    `port` is written as `[server] port`; without it, the port of a loopback `url` (`loopback_port`), else
    the default. Returns the configuration written.
    """
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
    config = NodeConfig(name=name, url=url)
    if port is None:
        port = loopback_port(url)
    if port is not None:
        config = replace(config, server=replace(config.server, port=port))
    if ui_listen is not None:
        config = replace(config, ui=replace(config.ui, listen=ui_listen))
    parse_config(config.to_toml())
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(PRIVATE_DIR_MODE)  # also a directory that was there already (made by useradd, say)
    write_key(home / KEY_FILE, NodeKey.generate())
    write_private(home / CONFIG_FILE, config.to_toml().encode("utf-8"))
    open_db(home / DB_FILE).close()
    return config


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
    """Write a private key seed with mode 0600, durably, never over an existing file; a new directory gets 0700."""
    try:
        path.parent.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:
        pass
    else:
        path.parent.chmod(PRIVATE_DIR_MODE)  # whatever the umask
    write_private(path, key.seed)


@dataclass(frozen=True)
class Exposed:
    """A file or directory of the node that group or others may use: its mode, how, and the mode it needs."""

    path: Path
    mode: int
    how: str  # "readable and writable", "readable", "writable" or "accessible"
    fix: str  # "700" for a directory, "600" for a file


def exposed(home: Path) -> list[Exposed]:
    """The home and those of the node's files and directories that group or others may read, write or enter."""
    db = home / DB_FILE
    paths = [home, home / CONFIG_FILE, home / KEY_FILE, db, home / f"{DB_FILE}-wal", home / f"{DB_FILE}-shm"]
    for name in PRIVATE_DIRS:
        if (home / name).is_dir():
            paths += [home / name, *sorted((home / name).iterdir())]
    found = []
    for path in paths:
        try:
            status = path.stat()
        except FileNotFoundError:  # not made yet, or a -wal that went away as its last connection closed
            continue
        mode = stat.S_IMODE(status.st_mode)
        if mode & 0o077:
            how = " and ".join(word for word, bits in (("readable", 0o044), ("writable", 0o022)) if mode & bits)
            found.append(Exposed(path, mode, how or "accessible", "700" if stat.S_ISDIR(status.st_mode) else "600"))
    return found


def _refuse_shared(home: Path) -> None:
    """NodeError naming the first of the home and the node's files that group or others may use, and the fix."""
    for item in exposed(home)[:1]:
        raise NodeError(
            f"{item.path} is {item.how} by others (mode {item.mode:o}), but a node's home and files must be "
            f"private to the account that runs it; run `chmod {item.fix} {item.path}` (or `chmod -R go= {home}`)"
        )


@dataclass
class Node:
    """An opened node: its config, its keys (`key` is the current one), identity and database connection,
    and where it reports what it does (`events`, node.events)."""

    home: Path
    config: NodeConfig
    key: NodeKey
    db: Database
    keys: dict[int, NodeKey] = field(default_factory=dict)
    events: Events = field(default_factory=Events, compare=False, repr=False)

    @classmethod
    def open(cls, home: Path) -> Node:
        """Open the node in `home`; raise NodeError if there is none.

        Refuses, before reading or creating anything, a home that group or others may read, write or
        enter, and any file or directory of the node they may (see the module docstring).
        """
        config_path = home / CONFIG_FILE
        if not config_path.exists():
            raise NodeError(f"no praevnet node in {home}; run `praevnet init --home {home} ...` first")
        _refuse_shared(home)
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
