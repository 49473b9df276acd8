"""Issue 13: `[admin]` in praevnet.toml - loopback by default, never the federation port nor the web interface's."""

from __future__ import annotations

import ipaddress

import pytest

from node.config import ConfigError, parse_config, read_config, split_listen

NODE = '[node]\nname = "Bonn"\nurl = "https://praevnet.bonn.example"\n'


def test_the_admin_address_is_on_loopback_by_default() -> None:
    admin = parse_config(NODE).admin
    assert admin.enabled is True
    assert admin.listen == "127.0.0.1:8472"
    assert ipaddress.ip_address(split_listen(admin.listen)[0]).is_loopback


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (
            '[admin]\nlisten = "127.0.0.1:8470"\n',
            'config: admin.listen = "127.0.0.1:8470": must not use the port of server.port (8470)',
        ),
        (
            '[server]\nport = 9000\n[admin]\nlisten = "0.0.0.0:9000"\n',
            'config: admin.listen = "0.0.0.0:9000": must not use the port of server.port (9000)',
        ),
        (
            '[admin]\nlisten = "127.0.0.1:8471"\n',
            'config: admin.listen = "127.0.0.1:8471": must not use the port of ui.listen (8471)',
        ),
        (
            '[admin]\nlisten = "localhost"\n',
            'config: admin.listen = "localhost": must be host:port, e.g. 127.0.0.1:8472',
        ),
        ('[admin]\nlisten = "127.0.0.1:0"\n', "must be host:port"),
        ("[admin]\nlisten = 8472\n", "config: admin.listen = 8472: must be text"),
        ('[admin]\nenabled = "yes"\n', 'config: admin.enabled = "yes": must be true or false'),
        ("[admin]\nport = 8472\n", "config: unknown setting admin.port in [admin]"),
    ],
)
def test_a_bad_admin_setting_is_refused_by_name(settings: str, named: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(NODE + settings)
    assert named in str(refused.value)


def test_the_ui_port_is_free_for_the_admin_address_when_the_ui_is_off_and_any_port_when_admin_is() -> None:
    config = parse_config(NODE + '[ui]\nenabled = false\n[admin]\nlisten = "127.0.0.1:8471"\n')
    assert config.admin.listen == "127.0.0.1:8471"
    assert parse_config(NODE + '[admin]\nenabled = false\nlisten = "127.0.0.1:8470"\n').admin.enabled is False


def test_an_admin_address_from_the_environment_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as refused:
        read_config(NODE, {"PRAEVNET_SERVER__PORT": "8472"})
    assert 'config: admin.listen = "127.0.0.1:8472": must not use the port of server.port (8472)' in str(refused.value)
    with pytest.raises(ConfigError) as refused:
        read_config(NODE, {"PRAEVNET_ADMIN__LISTEN": "127.0.0.1:8471"})
    assert "(from PRAEVNET_ADMIN__LISTEN): must not use the port of ui.listen (8471)" in str(refused.value)
