"""Reading deploy/Containerfile: its instructions, continuation lines joined, comments left out."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

CONTAINERFILE = Path(__file__).resolve().parents[2] / "deploy" / "Containerfile"


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case) and the rest of its line."""

    keyword: str
    rest: str

    def words(self) -> list[str]:
        """The arguments: a JSON array (exec form) as given, else split as a shell would."""
        if self.rest.startswith("["):
            return [str(word) for word in json.loads(self.rest)]
        return shlex.split(self.rest)


def instructions(text: str | None = None) -> list[Instruction]:
    """The Containerfile's instructions in order."""
    source = CONTAINERFILE.read_text(encoding="utf-8") if text is None else text
    found: list[Instruction] = []
    pending = ""
    for line in source.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment between continuation lines
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        found.append(Instruction(keyword.upper(), rest.strip()))
        pending = ""
    return found


def named(keyword: str, text: str | None = None) -> list[Instruction]:
    """The instructions with this keyword."""
    return [item for item in instructions(text) if item.keyword == keyword]


def image_env(text: str | None = None) -> dict[str, str]:
    """The ENV settings of the image."""
    values: dict[str, str] = {}
    for item in named("ENV", text):
        for word in item.words():
            key, _, value = word.partition("=")
            values[key] = value
    return values
