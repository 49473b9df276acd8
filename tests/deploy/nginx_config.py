"""A small reader of nginx configuration files: directives and blocks as a tree, for the deploy tests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TOKEN = re.compile(r"""#[^\n]*|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[{};]|[^\s{};#"']+""")


@dataclass
class Directive:
    """One directive: its name, arguments and, for a block, the directives inside."""

    name: str
    args: list[str]
    children: list[Directive] | None = None
    line: int = 0

    def find(self, name: str) -> list[Directive]:
        """The directives called `name` directly inside this block."""
        return [child for child in self.children or [] if child.name == name]

    def walk(self, name: str) -> list[Directive]:
        """Every directive called `name` at any depth inside this block."""
        found: list[Directive] = []
        for child in self.children or []:
            if child.name == name:
                found.append(child)
            found.extend(child.walk(name))
        return found


@dataclass
class _Open:
    directive: Directive
    words: list[str] = field(default_factory=list)


def parse(text: str) -> Directive:
    """The configuration as a root block; a ValueError names the line of an unbalanced brace or unended directive."""
    root = Directive("<root>", [], [])
    stack = [_Open(root)]
    line_of = 1
    position = 0
    for match in TOKEN.finditer(text):
        line_of += text.count("\n", position, match.start())
        position = match.start()
        token = match.group()
        top = stack[-1]
        if token.startswith("#"):
            continue
        if token == "{":
            if not top.words:
                raise ValueError(f"line {line_of}: a block without a name")
            block = Directive(top.words[0], top.words[1:], [], line_of)
            assert top.directive.children is not None
            top.directive.children.append(block)
            top.words = []
            stack.append(_Open(block))
        elif token == "}":
            if top.words or len(stack) == 1:
                raise ValueError(f"line {line_of}: unexpected }}")
            stack.pop()
        elif token == ";":
            if not top.words:
                raise ValueError(f"line {line_of}: an empty directive")
            assert top.directive.children is not None
            top.directive.children.append(Directive(top.words[0], top.words[1:], None, line_of))
            top.words = []
        else:
            top.words.append(token)
    if len(stack) != 1 or stack[0].words:
        raise ValueError("the configuration ends inside a block or a directive")
    return root
