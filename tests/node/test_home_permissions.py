"""Finding 8 (issue #11): a node's home is private to the account that runs it, whatever the umask.

`init_home` creates the home 0700 and every file in it 0600 (the database, SQLite's -wal and -shm
files, the config, the keys, the network keys); `Node.open` refuses a home, or a file of the node,
that group or others may read, write or enter, and leaves everything as it was.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from node.errors import NodeError
from node.home import CONFIG_FILE, DB_FILE, KEY_FILE, Node, init_home
from node.networks.operator import create_network
from node.networks.registry import network_key_path
from node.trust.keyring import rotate_key
from node.users import ADMIN, add_user

URL = "https://praevnet.musterstadt.de"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """Run the block under the process umask `mask`, restored afterwards."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def everything(home: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under `home` (and the home itself) with its mode and, for files, its bytes."""
    state: dict[str, tuple[int, bytes | None]] = {".": (mode(home), None)}
    for path in sorted(home.rglob("*")):
        state[str(path.relative_to(home))] = (mode(path), path.read_bytes() if path.is_file() else None)
    return state


@pytest.fixture
def full_home(tmp_path: Path) -> tuple[Path, str]:
    """A node with a rotated key and a network of its own: every kind of file a home holds; and the network id."""
    home = tmp_path / "home"
    init_home(home, name="Stadt A", url=URL)
    node = Node.open(home)
    try:
        rotate_key(node, by=ADMIN)
        network = create_network(node, "DEFUS", by=ADMIN)["id"]
    finally:
        node.close()
    return home, network


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o000, 0o077, 0o277], ids=oct)
def test_finding_8_init_and_every_write_keep_the_home_private_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    home = tmp_path / "home"
    with umask(mask):
        init_home(home, name="Stadt A", url=URL)
        assert mode(home) == 0o700
        for name in (CONFIG_FILE, KEY_FILE, DB_FILE):
            assert mode(home / name) == 0o600, name
        node = Node.open(home)
        try:
            add_user(node, "anna", "officer", "a long enough password", by=ADMIN)  # a write: the WAL holds it
            assert mode(home / f"{DB_FILE}-wal") == 0o600
            assert mode(home / f"{DB_FILE}-shm") == 0o600
            rotate_key(node, by=ADMIN)
            network = create_network(node, "DEFUS", by=ADMIN)["id"]
        finally:
            node.close()
    assert mode(home / "keys") == 0o700
    assert mode(home / "keys" / "ed25519-2.key") == 0o600
    assert mode(network_key_path(home, network).parent) == 0o700
    assert mode(network_key_path(home, network)) == 0o600
    for path in home.rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_finding_8_init_makes_an_existing_home_directory_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    init_home(home, name="Stadt A", url=URL)
    assert mode(home) == 0o700
    Node.open(home).close()


@pytest.mark.parametrize("bits", [0o755, 0o750, 0o705, 0o770, 0o710, 0o701, 0o720, 0o702], ids=oct)
def test_finding_8_open_refuses_a_home_open_to_group_or_others(full_home: tuple[Path, str], bits: int) -> None:
    home, _ = full_home
    home.chmod(bits)
    before = everything(home)
    with pytest.raises(NodeError, match="chmod 700") as caught:
        Node.open(home)
    assert f"{home} is " in str(caught.value)
    assert f"(mode {bits:o})" in str(caught.value)
    assert f"`chmod 700 {home}`" in str(caught.value)
    assert everything(home) == before  # no -wal/-shm created, nothing migrated, no mode changed


@pytest.mark.parametrize("bits", [0o644, 0o640, 0o604, 0o660, 0o606, 0o620, 0o602, 0o610], ids=oct)
def test_finding_8_open_refuses_a_database_open_to_group_or_others(full_home: tuple[Path, str], bits: int) -> None:
    home, _ = full_home
    (home / DB_FILE).chmod(bits)
    before = everything(home)
    with pytest.raises(NodeError) as caught:
        Node.open(home)
    assert f"`chmod 600 {home / DB_FILE}`" in str(caught.value)
    assert f"(mode {bits:o})" in str(caught.value)
    assert everything(home) == before


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        (CONFIG_FILE, "600"),
        (KEY_FILE, "600"),
        (f"{DB_FILE}-wal", "600"),
        (f"{DB_FILE}-shm", "600"),
        ("keys", "700"),
        ("keys/ed25519-2.key", "600"),
        ("networks", "700"),
        ("networks/NETWORK.key", "600"),
    ],
)
def test_finding_8_open_refuses_any_file_of_the_node_readable_by_others(
    full_home: tuple[Path, str], name: str, fix: str
) -> None:
    home, network = full_home
    holder = Node.open(home)  # keeps -wal and -shm in place while it is open
    try:
        add_user(holder, "anna", "officer", "a long enough password", by=ADMIN)
        target = home / name.replace("NETWORK", network)
        target.chmod(int(fix, 8) | 0o044)
        before = everything(home)
        with pytest.raises(NodeError, match="readable by others") as caught:
            Node.open(home)
        assert f"`chmod {fix} {target}`" in str(caught.value)
        assert everything(home) == before
    finally:
        holder.close()


def test_finding_8_a_private_home_opens(full_home: tuple[Path, str]) -> None:
    home, _ = full_home
    (home / KEY_FILE).chmod(0o400)
    Node.open(home).close()
