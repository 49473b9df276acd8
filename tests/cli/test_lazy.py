"""`praevnet --help` lists the commands without importing them, and says exactly what they say of themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from cli.lazy import Lazy, LazyGroup, load
from cli.main import COMMANDS, main

# What a command that only prints help, or only shows the node's identity, must not load.
SERVER_MODULES = ("aiohttp", "jinja2", "aiohttp_jinja2", "babel", "prometheus_client", "pyrage", "web")


def loaded_modules(*args: str) -> list[str]:
    """The modules a fresh interpreter holds after running `praevnet ARGS` through cli.main."""
    code = (
        "import json, sys\nfrom cli.main import main\n"
        f"try:\n    main({list(args)!r}, prog_name='praevnet')\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(done.stderr.splitlines()[-1]))


def commands_section(group: click.Group, width: int) -> str:
    """The Commands section of `group`'s help at a terminal `width` columns wide."""
    formatter = click.HelpFormatter(width=width)
    group.format_commands(click.Context(group, info_name="praevnet"), formatter)
    return formatter.getvalue()


def test_help_imports_no_command_and_nothing_heavy() -> None:
    modules = loaded_modules("--help")
    assert [name for name in modules if name.startswith("cli.")] == ["cli.lazy", "cli.main"]
    assert [name for name in modules if name.startswith("node.")] == ["node.errors"]
    assert not [name for name in modules if name.split(".")[0] in ("sqlite_utils", "cryptography")]
    assert not [name for name in modules if name.split(".")[0] in SERVER_MODULES]


def test_id_imports_no_server(tmp_path: Path) -> None:
    modules = loaded_modules(
        "init", "--home", f"{tmp_path}/home", "--name", "Stadt Ulm", "--url", "https://ulm.example"
    )
    assert "cli.identity" in modules
    modules = loaded_modules("id", "--home", f"{tmp_path}/home")
    assert "cli.identity" in modules
    assert not [name for name in modules if name.split(".")[0] in SERVER_MODULES]
    assert "cli.serve_cmd" not in modules


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_summary_is_the_commands_own(name: str) -> None:
    command = load(COMMANDS[name].target)
    assert command.name == name
    assert not command.short_help, "a short_help of its own would not be the summary shown"
    assert not command.deprecated
    stand_in = click.Command(name, help=COMMANDS[name].summary)
    for limit in range(10, 160):
        assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit), limit


@pytest.mark.parametrize("width", [40, 80, 120, 200])
def test_the_command_list_is_what_click_would_print(width: int) -> None:
    lazy = LazyGroup("praevnet", lazy=COMMANDS)
    eager = click.Group("praevnet", commands=[load(entry.target) for entry in COMMANDS.values()])
    assert commands_section(lazy, width) == commands_section(eager, width)
    assert not lazy.commands.loaded, "listing the commands imported one"
    assert commands_section(main, width) == commands_section(eager, width)


def test_a_command_is_imported_once_and_can_be_replaced() -> None:
    group = LazyGroup("praevnet", lazy={"id": Lazy("cli.identity:show_id", "Show.")})
    assert list(group.commands) == ["id"]
    assert "id" in group.commands
    first = group.get_command(click.Context(group), "id")
    assert first is load("cli.identity:show_id")
    assert group.get_command(click.Context(group), "id") is first
    replacement = click.Command("id", help="Another.")
    group.add_command(replacement)
    assert group.commands["id"] is replacement
    assert len(group.commands) == 1
    del group.commands["id"]
    assert group.get_command(click.Context(group), "id") is None
    with pytest.raises(KeyError):
        del group.commands["id"]


def test_a_target_that_is_no_command_is_refused() -> None:
    with pytest.raises(TypeError, match=r"cli\.main:PROGRESS_FROM is not a click command"):
        load("cli.main:PROGRESS_FROM")


def test_serve_loads_the_web_interface_only_when_it_starts() -> None:
    modules = loaded_modules("serve", "--help")
    assert "cli.serve_cmd" in modules
    assert not [name for name in modules if name.split(".")[0] in ("web", "jinja2", "aiohttp_jinja2", "babel")]


def test_serve_loads_no_cryptography_and_the_schema_validator_only_on_first_use() -> None:
    """What `serve` imports before it is ready (the web interface's pages included) signs with libsodium alone,
    and jsonschema_rs comes with the first record content checked."""
    code = (
        "import json, sys\nfrom cli.main import main\nmain.get_command(None, 'serve')\n"
        "import web.app, web.pages\nweb.pages.routes()\nprint(json.dumps(sorted(sys.modules)))\n"
        "from protocol.records import validate_content\n"
        "validate_content('experience', {'title': 't', 'summary': 's'}, allow_local=False)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    ready, checked = (json.loads(line) for line in done.stdout.splitlines()[-2:])
    assert "web.pages.records" in ready
    assert not [name for name in ready if name.split(".")[0] in ("cryptography", "jsonschema_rs")]
    assert "jsonschema_rs" in checked
