"""One setting of praevnet.toml: its name, how it is written, read from an environment variable, and shown.

A setting is named `section.key` (`delivery.poll_interval`; the node's own are `node.name` and
`node.url`). Its environment variable is `PRAEVNET_SECTION__KEY` (`PRAEVNET_DELIVERY__POLL_INTERVAL`),
which overrides the file: containers set it instead of editing praevnet.toml. Only variables with
the double underscore are settings; PRAEVNET_HOME, PRAEVNET_TOKEN and the like are not.

Every refused value is worded the same way, `config: NAME = VALUE: what is allowed`, with the
variable it came from where it came from the environment. A setting whose name says it holds a
secret (token, secret, password, passphrase, key) is never shown, neither by `config show` nor in
an error message.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

ENV_PREFIX = "PRAEVNET_"
MASK = "********"
_SECRET_WORDS = ("token", "secret", "password", "passphrase")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class Verbatim(str):
    """A value shown as it was written, without quotes: a number or true/false read from an environment variable."""

    __slots__ = ()


def env_name(name: str) -> str:
    """The environment variable that overrides the setting `section.key`: PRAEVNET_SECTION__KEY."""
    return ENV_PREFIX + name.replace(".", "__").upper()


def is_secret(name: str) -> bool:
    """Whether the setting `section.key` holds a secret by its name (token, secret, password, passphrase, key)."""
    key = name.rpartition(".")[2].lower()
    return any(word in key for word in _SECRET_WORDS) or "key" in key.split("_")


def shown(name: str, value: object) -> str:
    """A value as written in praevnet.toml (strings quoted), or masked if the setting holds a secret."""
    if is_secret(name) and value not in ("", None, []):
        return MASK
    if isinstance(value, Verbatim):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def invalid(name: str, value: object, allowed: str, origin: str | None = None) -> str:
    """The message for a refused value: `config: NAME = VALUE (from VARIABLE): ALLOWED`."""
    where = f" (from {origin})" if origin else ""
    return f"config: {name} = {shown(name, value)}{where}: {allowed}"


def kind(default: object) -> str:
    """What a setting of the type of `default` must be, in words: `must be a whole number`, ..."""
    if isinstance(default, bool):
        return "must be true or false"
    if isinstance(default, int):
        return "must be a whole number"
    if isinstance(default, float):
        return "must be a number"
    if isinstance(default, list):
        return "must be a list"
    return "must be text"


def typed(value: object, default: object) -> tuple[object, bool]:
    """`value` (from the TOML file) as the type of `default`, and whether it is of that type.

    A whole number is taken for a number (seconds = 3 means 3.0); true is not a number, 1 is not true.
    """
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value), True
    if isinstance(default, bool) or isinstance(value, bool):
        return value, isinstance(value, bool) and isinstance(default, bool)
    return value, isinstance(value, type(default))


def from_text(text: str, default: object) -> tuple[object, bool]:
    """An environment variable's text as the type of `default`, and whether it could be read as one.

    true/false (also 1/0, yes/no, on/off), whole numbers, numbers (finite), text as it is, and lists
    as comma-separated text.
    """
    word = text.strip()
    if isinstance(default, bool):
        if word.lower() in _TRUE | _FALSE:
            return word.lower() in _TRUE, True
        return text, False
    if isinstance(default, int):
        return (int(word), True) if _INTEGER.fullmatch(word) else (text, False)
    if isinstance(default, float):
        if not _NUMBER.fullmatch(word) or not math.isfinite(float(word)):
            return text, False
        return float(word), True
    if isinstance(default, list):
        return [part.strip() for part in text.split(",") if part.strip()], True
    return text, True


def from_environment(
    environ: Mapping[str, str], defaults: Mapping[str, object]
) -> tuple[dict[str, object], dict[str, str], list[str]]:
    """The settings the environment overrides: (values by name, variable by name, problems).

    `defaults` holds every setting's default by name (its type). A PRAEVNET_X__Y variable that names
    no setting is a problem, as is a value that cannot be read as its setting's type.
    """
    names = {env_name(name): name for name in defaults}
    values: dict[str, object] = {}
    origins: dict[str, str] = {}
    problems: list[str] = []
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX) or "__" not in variable[len(ENV_PREFIX) :]:
            continue
        name = names.get(variable)
        if name is None:
            problems.append(
                f"config: the environment variable {variable} names no setting; they are PRAEVNET_SECTION__KEY "
                "for a setting section.key of praevnet.toml (see `praevnet config show`)"
            )
            continue
        value, ok = from_text(environ[variable], defaults[name])
        if not ok:
            problems.append(invalid(name, environ[variable], kind(defaults[name]), variable))
            continue
        values[name] = value
        origins[name] = variable
    return values, origins, problems
