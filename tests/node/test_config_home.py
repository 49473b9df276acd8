"""The node's home directory (init_home, Node.open) and its configuration file (parse_config)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from node.config import DeliveryConfig, NodeConfig, ServerConfig, parse_config
from node.errors import NodeError
from node.home import CONFIG_FILE, DB_FILE, KEY_FILE, Node, init_home
from protocol.keys import node_id_for

URL = "https://praevnet.musterstadt.de"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- init_home ----------------------------------------------------------------------------------


def test_init_home_creates_a_node(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init_home(home, name="  Stadt Musterstadt ", url=URL + "/")
    assert mode(home / KEY_FILE) == 0o600
    assert len((home / KEY_FILE).read_bytes()) == 32
    assert (home / DB_FILE).exists()
    node = Node.open(home)
    try:
        assert node.config.name == "Stadt Musterstadt"
        assert node.config.url == URL
        assert node.node_id == node_id_for(node.key.public)
        assert node.identity()["fingerprint"].startswith("SHA256:")
    finally:
        node.close()


def test_init_home_key_is_private_even_with_a_lax_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        init_home(tmp_path / "home", name="Stadt A", url=URL)
    finally:
        os.umask(old)
    assert mode(tmp_path / "home" / KEY_FILE) == 0o600


@pytest.mark.parametrize("existing", [CONFIG_FILE, KEY_FILE, DB_FILE])
def test_init_home_refuses_to_overwrite(tmp_path: Path, existing: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / existing).write_bytes(b"precious")
    with pytest.raises(NodeError, match=f"already holds a node \\({existing} exists\\); refusing to overwrite"):
        init_home(home, name="Stadt A", url=URL)
    assert (home / existing).read_bytes() == b"precious"
    assert sorted(path.name for path in home.iterdir()) == [existing]


def test_init_home_twice_keeps_the_first_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init_home(home, name="Stadt A", url=URL)
    key = (home / KEY_FILE).read_bytes()
    config = (home / CONFIG_FILE).read_text()
    with pytest.raises(NodeError, match="refusing to overwrite"):
        init_home(home, name="Stadt B", url="https://b.example")
    assert (home / KEY_FILE).read_bytes() == key
    assert (home / CONFIG_FILE).read_text() == config


@pytest.mark.parametrize(
    "url",
    [
        "",
        "praevnet.musterstadt.de",
        "ftp://praevnet.musterstadt.de",
        "https://",
        "https://praevnet.musterstadt.de/?x=1",
        "https://praevnet.musterstadt.de/#top",
        "https://user:pw@praevnet.musterstadt.de",
        "https://praevnet.musterstadt.de:99999",
        "https://praevnet.musterstadt.de/" + "x" * 500,
    ],
)
def test_init_home_refuses_a_bad_url(tmp_path: Path, url: str) -> None:
    home = tmp_path / "home"
    with pytest.raises(NodeError, match="--url"):
        init_home(home, name="Stadt A", url=url)
    assert not home.exists()


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_init_home_refuses_a_bad_name(tmp_path: Path, name: str) -> None:
    home = tmp_path / "home"
    with pytest.raises(NodeError, match="name must be 1 to 200 characters"):
        init_home(home, name=name, url=URL)
    assert not home.exists()


# --- Node.open ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [0o644, 0o640, 0o604, 0o660, 0o601, 0o610])
def test_open_refuses_a_key_others_can_read(tmp_path: Path, bits: int) -> None:
    home = tmp_path / "home"
    init_home(home, name="Stadt A", url=URL)
    (home / KEY_FILE).chmod(bits)
    with pytest.raises(NodeError, match="chmod 600") as caught:
        Node.open(home)
    assert str(home / KEY_FILE) in str(caught.value)
    assert f"{bits:o}" in str(caught.value)


@pytest.mark.parametrize("bits", [0o600, 0o400, 0o700])
def test_open_accepts_a_private_key(tmp_path: Path, bits: int) -> None:
    home = tmp_path / "home"
    init_home(home, name="Stadt A", url=URL)
    (home / KEY_FILE).chmod(bits)
    Node.open(home).close()


def test_open_without_a_node(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match=r"no praevnet node in .*run `praevnet init"):
        Node.open(tmp_path)


def test_open_without_a_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init_home(home, name="Stadt A", url=URL)
    (home / KEY_FILE).unlink()
    with pytest.raises(NodeError, match="no node key at"):
        Node.open(home)


@pytest.mark.parametrize("seed", [b"", b"x" * 31, b"x" * 33])
def test_open_with_a_damaged_key(tmp_path: Path, seed: bytes) -> None:
    home = tmp_path / "home"
    init_home(home, name="Stadt A", url=URL)
    (home / KEY_FILE).write_bytes(seed)
    with pytest.raises(NodeError, match="is not a praevnet node key"):
        Node.open(home)


def test_open_with_a_broken_config(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init_home(home, name="Stadt A", url=URL)
    (home / CONFIG_FILE).write_text('[node]\nname = "Stadt A"\nurl = "https://a.example"\n[serverr]\n')
    with pytest.raises(NodeError, match=r"unknown section \[serverr\]"):
        Node.open(home)


# --- parse_config -------------------------------------------------------------------------------

NODE = f'[node]\nname = "Stadt A"\nurl = "{URL}"\n'


def test_parse_config_defaults() -> None:
    config = parse_config(NODE)
    assert config == NodeConfig(name="Stadt A", url=URL)
    assert config.pull_only is False  # a node is reached by its peers unless its operator says otherwise
    assert config.server == ServerConfig()
    assert config.delivery == DeliveryConfig()


def test_parse_config_round_trip() -> None:
    config = NodeConfig(
        name="Stadt A",
        url=URL,
        pull_only=True,
        server=ServerConfig(host="0.0.0.0", port=9000),
        delivery=DeliveryConfig(connect_timeout=2.5, pull_interval=60.0),
    )
    assert parse_config(config.to_toml()) == config


def test_parse_config_reads_pull_only_in_node() -> None:
    assert parse_config(NODE + "pull_only = true\n").pull_only is True
    assert parse_config(NODE + "pull_only = false\n").pull_only is False


def test_init_home_writes_a_node_that_is_not_pull_only(tmp_path: Path) -> None:
    config = init_home(tmp_path / "home", name="Stadt A", url=URL)
    assert config.pull_only is False
    assert parse_config((tmp_path / "home" / CONFIG_FILE).read_text()).pull_only is False


def test_parse_config_takes_integers_for_seconds() -> None:
    config = parse_config(NODE + "[delivery]\nconnect_timeout = 3\n")
    assert config.delivery.connect_timeout == 3.0
    assert isinstance(config.delivery.connect_timeout, float)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (NODE + "[extra]\nx = 1\n", r"unknown section \[extra\]"),
        ("[nodes]\n" + NODE.split("\n", 1)[1], r"unknown section \[nodes\]"),
        (NODE + "[server]\ncolour = 1\n", "unknown setting server.colour in \\[server\\]"),
        (NODE + "[delivery]\nretries = 3\n", "unknown setting delivery.retries"),
        (NODE + "colour = 'blau'\n", "unknown setting node.colour"),
        (NODE + "[server]\nport = '8470'\n", 'server.port = "8470": must be a whole number'),
        (NODE + "[server]\nport = true\n", "server.port = true: must be a whole number"),
        (NODE + "[server]\nport = 8470.0\n", "server.port = 8470.0: must be a whole number"),
        (NODE + "[server]\nhost = 127\n", "server.host = 127: must be text"),
        (NODE + "[delivery]\nconnect_timeout = '5'\n", 'delivery.connect_timeout = "5": must be a number'),
        (NODE + "[delivery]\nconnect_timeout = false\n", "delivery.connect_timeout = false: must be a number"),
        (NODE + "pull_only = 'vielleicht'\n", 'config: node.pull_only = "vielleicht": must be true or false'),
        (NODE + "pull_only = 'true'\n", 'config: node.pull_only = "true": must be true or false'),
        (NODE + "pull_only = 3\n", "config: node.pull_only = 3: must be true or false"),
        (NODE + "pull_only = 1\n", "config: node.pull_only = 1: must be true or false"),
        ("server = 5\n" + NODE, r"\[server\] must be a table"),
        ("delivery = [1]\n" + NODE, r"\[delivery\] must be a table"),
        (NODE + "server = 5\n", "unknown setting node.server"),  # after [node], the key belongs to it
        (NODE + "[server]\nport = 0\n", "server.port = 0: must be a whole number from 1 to 65535"),
        (NODE + "[server]\nport = 65536\n", "server.port = 65536: must be a whole number from 1 to 65535"),
        (NODE + "[server]\nport = -1\n", "server.port = -1: must be a whole number from 1 to 65535"),
        (NODE + "[delivery]\nverify_workers = -2\n", "delivery.verify_workers = -2: must be -1"),
        (NODE + "[delivery]\nverify_workers = 65\n", "delivery.verify_workers = 65: must be -1"),
        (NODE + "[delivery]\nverify_workers = 'auto'\n", 'delivery.verify_workers = "auto": must be a whole number'),
        (f'[node]\nurl = "{URL}"\n', r"\[node\] needs a name"),
        (f'[node]\nname = ""\nurl = "{URL}"\n', 'node.name = "": must be the node\'s name'),
        (f'[node]\nname = "  "\nurl = "{URL}"\n', 'node.name = "  ": must be the node\'s name'),
        (f'[node]\nname = 7\nurl = "{URL}"\n', "node.name = 7: must be text"),
        ("[server]\nport = 1\n", r"\[node\] needs a name"),
        ("", r"\[node\] needs a name"),
        ('node = "Stadt A"\n', r"\[node\] must be a table"),
        ('[node]\nname = "Stadt A"\n', "node.url"),
        ('[node]\nname = "Stadt A"\nurl = "ftp://x.example"\n', "node.url"),
        ('[node]\nname = "Stadt A"\nurl = 80\n', "node.url"),
        (NODE + "[server\n", "config: "),
        (NODE + NODE, "config: "),  # a section twice is a TOML error
    ],
)
def test_parse_config_refuses(text: str, problem: str) -> None:
    with pytest.raises(NodeError, match=problem):
        parse_config(text)
