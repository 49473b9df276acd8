"""The README's quick start and .ci/run stay in step, the shipped examples stay valid, and README's links resolve."""

from __future__ import annotations

import posixpath
import re
import subprocess
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
    assert commands[1].endswith("pytest -n auto")  # the whole suite, one worker per core (pytest-xdist)


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


LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
HTML_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")
SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")


def repository_paths() -> set[str]:
    """Every file of the repository and every directory holding one, relative to its root."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
        ).stdout.decode()
        files = [name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: what is on disk
        files = [str(path.relative_to(ROOT)) for path in ROOT.rglob("*") if path.is_file()]
    paths = set(files)
    for name in files:
        parts = name.split("/")
        paths.update("/".join(parts[:end]) for end in range(1, len(parts)))
    return paths


def readme_references(text: str) -> list[str]:
    """The relative targets README refers to: its links and images, and paths into the repository named in code."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    targets = LINK.findall(prose) + REFERENCE.findall(prose) + HTML_LINK.findall(prose)
    top = {path.split("/")[0] for path in repository_paths()}
    for span in re.findall(r"`([^`\s]+)`", prose):
        first = span.split("/")[0]
        if "/" in span and (first in top or first == ".."):
            targets.append(span)
    return [target for target in targets if not SCHEME.match(target) and not target.startswith(("#", "/"))]


def test_readme_refers_only_to_files_in_the_repository() -> None:
    paths = repository_paths()
    references = readme_references((ROOT / "README.md").read_text(encoding="utf-8"))
    assert references, "README refers to files in the repository"
    missing = []
    for target in references:
        relative = posixpath.normpath(target.split("#")[0].split("?")[0])
        if relative.startswith("../") or relative.rstrip("/") not in paths:
            missing.append(target)
    assert not missing, f"README refers to what is not in the repository: {missing}"
