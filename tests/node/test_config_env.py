"""Settings from environment variables (PRAEVNET_SECTION__KEY), where each setting came from, and how
refused values are worded (node.config.read_config, node.settings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import ConfigError, DeliveryConfig, NodeConfig, defaults, load_config, read_config, sections
from node.errors import NodeError
from node.home import Node, init_home
from node.settings import MASK, env_name, from_environment, invalid, is_secret, shown

URL = "https://praevnet.musterstadt.de"
NODE = f'[node]\nname = "Stadt A"\nurl = "{URL}"\n'


def test_every_setting_has_a_variable_in_the_double_underscore_form() -> None:
    names = defaults()
    assert env_name("delivery.poll_interval") == "PRAEVNET_DELIVERY__POLL_INTERVAL"
    assert env_name("node.url") == "PRAEVNET_NODE__URL"
    assert env_name("node.pull_only") == "PRAEVNET_NODE__PULL_ONLY"
    assert {"node.name", "node.url", "node.pull_only", "server.port", "ui.listen", "audit.checkpoints_kept"} <= set(
        names
    )
    # generic over NodeConfig: every section's every field is a setting, and [node]'s three
    assert len(names) == 3 + sum(len(cls.__dataclass_fields__) for cls in sections().values())


@pytest.mark.parametrize(
    ("variable", "text", "attribute", "value"),
    [
        ("PRAEVNET_DELIVERY__POLL_INTERVAL", "5", ("delivery", "poll_interval"), 5.0),
        ("PRAEVNET_DELIVERY__POLL_INTERVAL", " 0.5 ", ("delivery", "poll_interval"), 0.5),
        ("PRAEVNET_DELIVERY__PULL_INTERVAL", "1e2", ("delivery", "pull_interval"), 100.0),
        ("PRAEVNET_DELIVERY__VERIFY_WORKERS", "-1", ("delivery", "verify_workers"), -1),
        ("PRAEVNET_SERVER__PORT", "9000", ("server", "port"), 9000),
        ("PRAEVNET_SERVER__HOST", "0.0.0.0", ("server", "host"), "0.0.0.0"),
        ("PRAEVNET_RELEASE__FOUR_EYES", "true", ("release", "four_eyes"), True),
        ("PRAEVNET_RELEASE__FOUR_EYES", "YES", ("release", "four_eyes"), True),
        ("PRAEVNET_RELEASE__FOUR_EYES", "1", ("release", "four_eyes"), True),
        ("PRAEVNET_UI__ENABLED", "off", ("ui", "enabled"), False),
        ("PRAEVNET_UI__ENABLED", "0", ("ui", "enabled"), False),
        ("PRAEVNET_UI__URL", "", ("ui", "url"), ""),
        ("PRAEVNET_UI__URL", "https://intern.example", ("ui", "url"), "https://intern.example"),
    ],
)
def test_a_variable_overrides_its_setting_as_the_setting_s_type(
    variable: str, text: str, attribute: tuple[str, str], value: object
) -> None:
    loaded = read_config(NODE + "[delivery]\npoll_interval = 2\n[ui]\nurl = 'https://x.example'\n", {variable: text})
    got = getattr(getattr(loaded.config, attribute[0]), attribute[1])
    assert got == value
    assert type(got) is type(value)
    assert loaded.sources[".".join(attribute)] == f"env {variable}"


def test_the_node_s_own_settings_come_from_the_environment_too() -> None:
    loaded = read_config(NODE, {"PRAEVNET_NODE__URL": "https://other.example/", "PRAEVNET_NODE__NAME": " Stadt B "})
    assert (loaded.config.name, loaded.config.url) == ("Stadt B", "https://other.example")
    # and a file without [node] at all is complete with them (a container sets everything by variables)
    config = read_config("", {"PRAEVNET_NODE__URL": URL, "PRAEVNET_NODE__NAME": "Stadt A"}).config
    assert config == NodeConfig(name="Stadt A", url=URL)


@pytest.mark.parametrize(
    ("file", "text", "value"),
    [("", "true", True), ("", " YES ", True), ("", "1", True), ("pull_only = true\n", "off", False)],
)
def test_pull_only_comes_from_the_environment_too(file: str, text: str, value: bool) -> None:
    loaded = read_config(NODE + file, {"PRAEVNET_NODE__PULL_ONLY": text})
    assert loaded.config.pull_only is value
    assert loaded.sources["node.pull_only"] == "env PRAEVNET_NODE__PULL_ONLY"
    by_name = {setting["name"]: setting for setting in loaded.settings()}
    assert by_name["node.pull_only"]["value"] is value


def test_sources_say_default_file_or_the_variable() -> None:
    loaded = read_config(NODE + "[delivery]\nconnect_timeout = 3\n", {"PRAEVNET_SERVER__PORT": "9001"})
    by_name = {setting["name"]: setting for setting in loaded.settings()}
    assert by_name["node.name"]["source"] == "file"
    assert by_name["delivery.connect_timeout"]["source"] == "file"
    assert by_name["delivery.connect_timeout"]["value"] == 3.0
    assert by_name["server.port"] == {
        "name": "server.port",
        "value": 9001,
        "source": "env PRAEVNET_SERVER__PORT",
        "env": "PRAEVNET_SERVER__PORT",
        "secret": False,
    }
    assert by_name["delivery.poll_interval"]["source"] == "default"
    assert list(by_name) == list(defaults())


@pytest.mark.parametrize(
    ("variable", "text", "message"),
    [
        ("PRAEVNET_SERVER__PORT", "abc", 'config: server.port = "abc" (from PRAEVNET_SERVER__PORT): must be a whole'),
        ("PRAEVNET_SERVER__PORT", "80.5", 'server.port = "80.5" (from PRAEVNET_SERVER__PORT): must be a whole number'),
        ("PRAEVNET_SERVER__PORT", "", 'server.port = "" (from PRAEVNET_SERVER__PORT): must be a whole number'),
        (
            "PRAEVNET_SERVER__PORT",
            "0",
            "server.port = 0 (from PRAEVNET_SERVER__PORT): must be a whole number from 1",
        ),
        ("PRAEVNET_DELIVERY__POLL_INTERVAL", "nan", 'poll_interval = "nan" (from PRAEVNET_DELIVERY__POLL_INTERVAL)'),
        ("PRAEVNET_DELIVERY__POLL_INTERVAL", "inf", "must be a number"),
        ("PRAEVNET_DELIVERY__POLL_INTERVAL", "1_0", "must be a number"),
        (
            "PRAEVNET_DELIVERY__POLL_INTERVAL",
            "-1",
            "config: delivery.poll_interval = -1 (from PRAEVNET_DELIVERY__POLL_INTERVAL): must be a number from 0.01 "
            "to 3600 seconds",
        ),
        (
            "PRAEVNET_RELEASE__FOUR_EYES",
            "maybe",
            'four_eyes = "maybe" (from PRAEVNET_RELEASE__FOUR_EYES): must be',
        ),
        ("PRAEVNET_NODE__URL", "ftp://x.example", 'node.url = "ftp://x.example" (from PRAEVNET_NODE__URL): must be'),
        (
            "PRAEVNET_NODE__PULL_ONLY",
            "vielleicht",
            'config: node.pull_only = "vielleicht" (from PRAEVNET_NODE__PULL_ONLY): must be true or false',
        ),
        (
            "PRAEVNET_NODE__PULL_ONLY",
            "3",
            'config: node.pull_only = "3" (from PRAEVNET_NODE__PULL_ONLY): must be true or false',
        ),
        ("PRAEVNET_UI__LISTEN", "8471", 'ui.listen = "8471" (from PRAEVNET_UI__LISTEN): must be host:port'),
        ("PRAEVNET_DELIVERY__MAX_BACKOFF", "1", "max_backoff = 1 (from PRAEVNET_DELIVERY__MAX_BACKOFF): must be at"),
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_what_is_allowed(variable: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read_config(NODE, {variable: text})
    assert message in str(caught.value)
    assert len(caught.value.problems) == 1


@pytest.mark.parametrize(
    "variable",
    ["PRAEVNET_DELIVERY__POLL", "PRAEVNET_COLOUR__RED", "PRAEVNET_delivery__poll_interval", "PRAEVNET___X"],
)
def test_an_unknown_setting_variable_is_refused_by_name(variable: str) -> None:
    with pytest.raises(ConfigError, match=f"environment variable {variable} names no setting"):
        read_config(NODE, {variable: "1"})


def test_praevnet_variables_that_are_no_settings_are_left_alone() -> None:
    environ = {
        "PRAEVNET_HOME": "/srv/praevnet",
        "PRAEVNET_TOKEN": "t0ken",
        "PRAEVNET_DEBUG": "1",
        "PRAEVNET_BACKUP_PASSPHRASE": "secret words",
        "HOME": "/root",
    }
    assert read_config(NODE, environ).config == NodeConfig(name="Stadt A", url=URL)


def test_every_problem_is_named_at_once() -> None:
    text = NODE + "[server]\nport = 0\ncolour = 1\n[delivery]\npoll_interval = 'f'\n[extra]\n"
    with pytest.raises(ConfigError) as caught:
        read_config(text, {"PRAEVNET_UI__IDLE_TIMEOUT": "5", "PRAEVNET_X__Y": "1"})
    problems = caught.value.problems
    assert len(problems) == 6, problems
    for part in ("[extra]", "server.colour", 'poll_interval = "f"', "PRAEVNET_X__Y", "server.port = 0", "idle_timeout"):
        assert any(part in problem for problem in problems), part
    assert str(caught.value) == "\n".join(problems)


def test_the_environment_wins_over_a_bad_file_value_but_the_file_s_problem_is_still_named() -> None:
    with pytest.raises(ConfigError) as caught:
        read_config(NODE + "[delivery]\npoll_interval = 'f'\n", {"PRAEVNET_DELIVERY__POLL_INTERVAL": "-1"})
    assert caught.value.problems[:1] == ['config: delivery.poll_interval = "f": must be a number']
    assert "= -1 (from PRAEVNET_DELIVERY__POLL_INTERVAL)" in caught.value.problems[1]


def test_node_open_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    init_home(home, name="Stadt A", url=URL)
    monkeypatch.setenv("PRAEVNET_DELIVERY__PULL_INTERVAL", "60")
    node = Node.open(home)
    try:
        assert node.config.delivery == DeliveryConfig(pull_interval=60.0)
    finally:
        node.close()
    monkeypatch.setenv("PRAEVNET_DELIVERY__PULL_INTERVAL", "-60")
    with pytest.raises(NodeError, match=r"delivery.pull_interval = -60 \(from PRAEVNET_DELIVERY__PULL_INTERVAL\)"):
        Node.open(home)
    assert load_config(home / "praevnet.toml", {}).delivery == DeliveryConfig()


@pytest.mark.parametrize("name", ["admin.token", "admin.api_key", "log.secret_file", "x.password", "x.passphrase"])
def test_secret_settings_are_masked_when_shown(name: str) -> None:
    assert is_secret(name)
    assert shown(name, "hunter2") == MASK
    assert "hunter2" not in invalid(name, "hunter2", "must be text")
    assert shown(name, "") == '""'  # an empty one shows that it is not set


@pytest.mark.parametrize("name", ["ui.listen", "audit.checkpoints_kept", "delivery.pull_max_pages", "node.url"])
def test_other_settings_are_shown(name: str) -> None:
    assert not is_secret(name)
    assert shown(name, "x") == '"x"'


def test_a_secret_from_the_environment_is_not_repeated_in_the_error() -> None:
    _, _, problems = from_environment({"PRAEVNET_ADMIN__TOKEN": "s3cr3t-value"}, {"admin.token": 0})
    assert problems == [f"config: admin.token = {MASK} (from PRAEVNET_ADMIN__TOKEN): must be a whole number"]
