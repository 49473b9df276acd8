"""A click group whose commands are imported only when used, so `--help` and light commands start fast.

Each lazy command is named by "module:attribute" with its summary (the first paragraph of its help):
`praevnet --help` lists the summaries without importing a command module; running or asking about a
command imports that one module. tests/cli/test_lazy.py checks every summary against the command's own.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from gettext import gettext as _
from typing import Any, NamedTuple

import click


class Lazy(NamedTuple):
    """Where a command lives ("module:attribute") and its summary for the group's command list."""

    target: str
    summary: str


def load(target: str) -> click.Command:
    """Import the command named "module:attribute"."""
    module, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{target} is not a click command")
    return command


class LazyCommands(MutableMapping[str, click.Command]):
    """The group's commands by name: names are known at once, a command is imported on first lookup."""

    def __init__(self, lazy: Mapping[str, Lazy]) -> None:
        self.lazy = dict(lazy)
        self.loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self.loaded:
            self.loaded[name] = load(self.lazy[name].target)
        return self.loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self.lazy.pop(name, None)
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self.lazy.pop(name, None)
        self.loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self.lazy), **dict.fromkeys(self.loaded)})

    def __len__(self) -> int:
        return len(self.lazy.keys() | self.loaded.keys())

    def __contains__(self, name: object) -> bool:
        return name in self.lazy or name in self.loaded

    def listed(self, name: str) -> click.Command:
        """The command as the group's help lists it: the loaded one, else a stand-in carrying its summary."""
        if name in self.loaded:
            return self.loaded[name]
        return click.Command(name, help=self.lazy[name].summary)


class LazyGroup(click.Group):
    """A group whose `lazy` commands are imported when first looked up; its help imports none of them."""

    commands: LazyCommands

    def __init__(self, name: str | None = None, *, lazy: Mapping[str, Lazy], **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.commands = LazyCommands(lazy)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands with their summaries, as click.Group does, without importing any."""
        listed = [(name, self.commands.listed(name)) for name in self.list_commands(ctx)]
        listed = [(name, command) for name, command in listed if not command.hidden]
        if listed:
            limit = formatter.width - 6 - max(len(name) for name, _command in listed)
            with formatter.section(_("Commands")):  # worded as click.Group words it
                formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in listed])
