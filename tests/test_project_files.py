"""LICENSE is the EUPL-1.2 that pyproject.toml declares; CHANGELOG.md keeps an Unreleased section with upgrade notes."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

import click

from cli.main import main

ROOT = Path(__file__).resolve().parent.parent
# SHA-256 of the official English text of the EUPL v. 1.2 as distributed by the European Commission (plain
# text, LF line ends): any edit of LICENSE, however small, changes it.
EUPL_1_2_SHA256 = "6fc9e709ccbfe0d77fbffa2427a983282be2eb88e47b1cdb49f21a83b4d1e665"


def test_license_is_the_eupl_1_2_text_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "EUPL-1.2"
    text = (ROOT / "LICENSE").read_bytes()
    assert text.decode("utf-8").split("\n")[0].strip() == "EUROPEAN UNION PUBLIC LICENCE v. 1.2"
    assert hashlib.sha256(text.replace(b"\r\n", b"\n")).hexdigest() == EUPL_1_2_SHA256


def changelog() -> str:
    return (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def upgrade_notes() -> str:
    """The 'Upgrade notes' of the Unreleased section."""
    text = changelog()
    unreleased = text[text.index("## [Unreleased]") :]
    following = re.search(r"^## ", unreleased[3:], re.M)
    section = unreleased[: following.start() + 3] if following else unreleased
    start = section.index("### Upgrade notes")
    end = section.find("\n### ", start + 1)
    return section[start : end if end > 0 else None]


def test_changelog_starts_with_an_unreleased_section_holding_the_upgrade_steps() -> None:
    versions = re.findall(r"^## \[([^\]]+)\]", changelog(), re.M)
    assert versions[:1] == ["Unreleased"], "the newest section is Unreleased"
    steps = re.findall(r"^\d+\. \*\*(\w+(?: \w+)?)\*\*", upgrade_notes(), re.M)
    assert steps[:4] == ["Stop", "Back up", "Install", "Start"]


def test_every_command_the_upgrade_notes_name_exists() -> None:
    named = re.findall(r"`(?:sudo -u praevnet )?praevnet ((?:[a-z]+ ?)+)", upgrade_notes())
    assert named, "the upgrade notes name praevnet commands"
    for words in named:
        command: click.Command = main
        context = click.Context(main)
        for word in words.split():
            assert isinstance(command, click.Group), f"`praevnet {words}`: {command.name} has no subcommands"
            found = command.get_command(context, word)
            assert found is not None, f"the upgrade notes name `praevnet {words}`, which does not exist"
            command = found
