"""The README's quick start and .ci/run stay in step, and the shipped examples stay valid."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from node.config import parse_config
from node.home import Node
from node.inputs import read_content_file
from node.sharing.records import add_record, get_record
from node.users import ADMIN
from protocol.records import Kind, validate_content

ROOT = Path(__file__).resolve().parent.parent


def _quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```sh\n(.*?)```", text, re.S)
    assert match is not None, "README.md has no sh code block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def test_readme_starts_with_exactly_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.index("```sh") < text.index("\n## "), "the two commands come before any section"
    commands = _quick_start()
    assert len(commands) == 2
    assert commands[0].endswith("praevnet demo")
    assert commands[1].endswith("pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _quick_start()[1] in ci.splitlines()


def test_example_config_parses() -> None:
    config = parse_config((ROOT / "deploy" / "praevnet.toml.example").read_text(encoding="utf-8"))
    assert config.server.port == 8470


def test_example_inputs_validate() -> None:
    record = read_content_file(ROOT / "deploy" / "examples" / "record.json")
    validate_content("experience", record, allow_local=True)
    alert = read_content_file(ROOT / "deploy" / "examples" / "alert.json")
    validate_content("alert", alert, allow_local=True)


def test_example_inputs_are_accepted_by_a_node(make_node: Callable[..., Node]) -> None:
    # an officer gives case_count, never case_band (finding 11): the example must work with `alerts send`
    node = make_node()
    examples: tuple[tuple[Kind, str], ...] = (("experience", "record.json"), ("alert", "alert.json"))
    for kind, name in examples:
        record_id = add_record(node, kind, read_content_file(ROOT / "deploy" / "examples" / name), by=ADMIN)
        assert get_record(node, record_id)["kind"] == kind
