"""Every command and group documents itself and takes the common options."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from cli.main import main
from tests.cli.conftest import invoke


def walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command below `group`, groups included, with the words that invoke it."""
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from walk(command, (*path, name))


ALL = list(walk(main))
LEAVES = [(path, command) for path, command in ALL if not isinstance(command, click.Group)]
# commands that list or show something: scripts read them, so they must offer --json
JSON_COMMANDS = [
    (path, command) for path, command in LEAVES if path[-1] in ("list", "show", "id", "pending", "history")
]


def ids(entries: list[tuple[tuple[str, ...], click.Command]]) -> list[str]:
    """Test ids: the command as typed."""
    return [" ".join(path) for path, _ in entries]


def option_names(command: click.Command) -> set[str]:
    """Every option string a command accepts."""
    return {name for param in command.params if isinstance(param, click.Option) for name in param.opts}


def test_the_walk_finds_every_command() -> None:
    found = set(ids(ALL))
    expected = {"init", "serve", "id", "sync", "demo", "peers", "records", "alerts", "inbox"}
    expected |= {"peers add", "peers list", "peers remove", "records add", "records list", "records show"}
    expected |= {"records share", "alerts send", "alerts list", "inbox list"}
    expected |= {"shares", "records edit", "records preview", "records unshare", "records retract"}
    expected |= {"shares pending", "shares release", "inbox history"}
    assert expected <= found
    listing = {"id", "peers list", "records list", "records show", "alerts list", "inbox list"}
    listing |= {"shares pending", "inbox history"}
    assert listing <= set(ids(JSON_COMMANDS))


def test_main_help() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert main.help
    for name in main.commands:
        assert name in result.output


@pytest.mark.parametrize(("path", "command"), ALL, ids=ids(ALL))
def test_every_command_has_help(path: tuple[str, ...], command: click.Command) -> None:
    assert command.help, f"{' '.join(path)} has no help text"
    assert command.help.strip(), f"{' '.join(path)} has no help text"
    assert command.get_short_help_str().strip()
    for flag in ("--help", "-h"):
        result = invoke(*path, flag)
        assert result.exit_code == 0, result.output
        assert result.exception is None
        assert "Usage:" in result.output
        assert " ".join(command.help.split())[:40] in " ".join(result.output.split())
    for param in command.params:
        if isinstance(param, click.Option) and "--help" not in param.opts:
            assert param.help, f"{' '.join(path)} {param.opts[0]} has no help text"


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=ids(LEAVES))
def test_every_command_takes_home(path: tuple[str, ...], command: click.Command) -> None:
    options = option_names(command)
    if path == ("demo",):
        assert "--dir" in options
        assert "--home" not in options
    else:
        assert "--home" in options
        assert "--home" in invoke(*path, "--help").output


@pytest.mark.parametrize(("path", "command"), JSON_COMMANDS, ids=ids(JSON_COMMANDS))
def test_list_show_and_id_take_json(path: tuple[str, ...], command: click.Command) -> None:
    assert "--json" in option_names(command)
    assert "--json" in invoke(*path, "--help").output
