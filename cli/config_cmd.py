"""`praevnet config show` and `praevnet config check`: the effective configuration, file and environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.common import emit, home_option, json_option, print_table, resolve_home
from node.config import ConfigError, LoadedConfig, read_loaded
from node.errors import NodeError
from node.home import CONFIG_FILE
from node.settings import shown


@click.group("config")
def config_group() -> None:
    """The node's configuration: praevnet.toml in its home, overridden by PRAEVNET_SECTION__KEY variables.

    Every setting section.key of the file can be set by an environment variable instead, e.g.
    PRAEVNET_DELIVERY__POLL_INTERVAL=5 or PRAEVNET_NODE__URL=https://praevnet.example.de.
    """


def _loaded(home: Path | None) -> tuple[Path, LoadedConfig]:
    path = resolve_home(home) / CONFIG_FILE
    if not path.exists():
        raise NodeError(f"no praevnet.toml in {path.parent}; run `praevnet init --home {path.parent} ...` first")
    return path, read_loaded(path)


@config_group.command("show")
@home_option
@json_option
def show(home: Path | None, as_json: bool) -> None:
    """Print every setting's effective value and where it came from: default, file or env PRAEVNET_....

    Settings that hold secrets (tokens, passwords, keys) are masked. A configuration that is not
    allowed is not shown: the command names every problem, as `config check` does.
    """
    path, loaded = _loaded(home)
    report = {"file": str(path), "settings": loaded.settings()}

    def human(data: dict[str, Any]) -> None:
        click.echo(f"# {data['file']} with the environment's PRAEVNET_SECTION__KEY variables")
        lines = [[item["name"], shown(item["name"], item["value"]), item["source"]] for item in data["settings"]]
        print_table(["SETTING", "VALUE", "SOURCE"], lines)

    emit(report, as_json, human)


@config_group.command("check")
@home_option
def check(home: Path | None) -> None:
    """Check praevnet.toml and the PRAEVNET_SECTION__KEY variables without starting the node.

    Prints "ok" and exits 0 if `praevnet serve` would accept them; else prints every problem (the
    setting, its value and what is allowed) and exits 1.
    """
    try:
        _loaded(home)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem)
        raise click.ClickException(f"the configuration is not valid: {len(exc.problems)} problem(s)") from None
    click.echo("ok")
