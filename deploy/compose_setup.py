#!/usr/bin/env python3
"""Initialise and federate the praevnet nodes of deploy/compose.yaml with plain `praevnet` commands.

`node` initialises a node's home when it holds none yet (`praevnet init`), then runs the node's
command; every node service of compose.yaml starts through it. `federate` runs once all nodes
serve: the operator creates the network, admits each city by its URL and fingerprint, each city
joins with its code, and the cities given as --pair pair directly by invitation code. Run again,
it does only what is still missing. CI runs the same script against real `praevnet serve` processes
on loopback (tests/e2e/test_compose_commands.py). Standard library only: it runs in the image.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CONFIG_FILE = "praevnet.toml"
SECRET_COMMANDS = {("invite", "accept"), ("network", "join")}  # their argument is a code: never printed


class SetupError(Exception):
    """A step failed; the message names the step and what the node said."""


def praevnet_path() -> str:
    """The `praevnet` command on PATH."""
    found = shutil.which("praevnet")
    if found is None:
        raise SetupError("the praevnet command is not on PATH")
    return found


def shown(args: Sequence[str]) -> str:
    """A command line as printed: the code of `invite accept` and `network join` replaced by CODE."""
    words = list(args)
    if tuple(words[:2]) in SECRET_COMMANDS and len(words) > 2:
        words[2] = "CODE"
    return "praevnet " + " ".join(words)


def praevnet(*args: str) -> Any:
    """Run `praevnet ARGS --json` (printed first, codes masked) and return its parsed answer."""
    command = [*args, "--json"]
    print(f"+ {shown(command)}", file=sys.stderr, flush=True)
    proc = subprocess.run(  # noqa: S603 - the arguments are this script's own, not a shell line
        [praevnet_path(), *command], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SetupError(f"{shown(command)} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise SetupError(f"{shown(command)} printed no JSON ({exc})") from None


def home_of(value: str | None) -> Path:
    """The node's home: the given path, else $PRAEVNET_HOME."""
    text = value or os.environ.get("PRAEVNET_HOME", "")
    if not text:
        raise SetupError("give --home or set PRAEVNET_HOME")
    return Path(text)


def node(home: Path, name: str, url: str, command: Sequence[str]) -> None:
    """Initialise `home` unless it holds a node already; then become `command` (if any) with PRAEVNET_HOME set."""
    if (home / CONFIG_FILE).exists():
        print(f"{home} holds a node already; not initialised again", file=sys.stderr, flush=True)
    else:
        print(f"+ praevnet init --home {home} --name {name!r} --url {url}", file=sys.stderr, flush=True)
        proc = subprocess.run(  # noqa: S603 - init's report goes to stderr: stdout is the command's
            [praevnet_path(), "init", "--home", str(home), "--name", name, "--url", url], stdout=sys.stderr, check=False
        )
        if proc.returncode != 0:
            raise SetupError(f"praevnet init --home {home} failed (exit {proc.returncode})")
    if not command:
        return
    os.environ["PRAEVNET_HOME"] = str(home)
    os.execvp(command[0], list(command))  # noqa: S606 - the node's own command, from compose.yaml


def identity(home: Path) -> dict[str, Any]:
    """`praevnet id` of the node in `home`: name, node id, URL, fingerprint."""
    found = praevnet("id", "--home", str(home))
    if not isinstance(found, dict):
        raise SetupError(f"praevnet id --home {home} answered no object")
    return found


def serves(url: str) -> bool:
    """Whether the node at `url` answers its descriptor now."""
    try:
        with urllib.request.urlopen(f"{url}/.well-known/praevnet", timeout=5) as answer:  # noqa: S310 - http(s) URL
            return bool(answer.status == 200)
    except (OSError, ValueError):
        return False


def wait_serving(nodes: Sequence[dict[str, Any]], seconds: float) -> None:
    """Wait until every node answers at its URL; fail naming those that did not within `seconds`."""
    deadline = time.monotonic() + seconds
    waiting = list(nodes)
    while waiting:
        waiting = [item for item in waiting if not serves(str(item["url"]))]
        if not waiting:
            return
        if time.monotonic() >= deadline:
            names = ", ".join(f"{item['name']} at {item['url']}" for item in waiting)
            raise SetupError(f"no answer within {seconds:g} s from {names}; nothing was changed")
        time.sleep(1.0)


def pair(inviter: Path, invitee: Path, ids: dict[Path, dict[str, Any]]) -> None:
    """Pair two nodes by invitation code, unless `invitee` already trusts `inviter` as a paired peer."""
    peers = praevnet("peers", "list", "--home", str(invitee))
    if any(peer["node_id"] == ids[inviter]["node_id"] and peer.get("network") is None for peer in peers):
        print(f"{ids[invitee]['name']} and {ids[inviter]['name']} are paired already", file=sys.stderr)
        return
    code = praevnet("invite", "create", "--home", str(inviter), "--expires", "30m")["code"]
    praevnet("invite", "accept", str(code), "--home", str(invitee))


def network_id(home: Path, name: str, role: str | None = None) -> str | None:
    """The id of the network `name` the node in `home` belongs to (with `role`, only in that role)."""
    for item in praevnet("network", "list", "--home", str(home)):
        if item["name"] == name and role in (None, item["role"]):
            return str(item["id"])
    return None


def federate(
    operator: Path, network: str, members: Sequence[Path], pairs: Sequence[tuple[Path, Path]], wait: float
) -> None:
    """Wait for every node to serve; then create `network` on `operator`, admit and join every member and pair each
    pair: whatever is still missing."""
    homes = dict.fromkeys([operator, *members, *(home for pair_ in pairs for home in pair_)])
    ids = {home: identity(home) for home in homes}
    wait_serving(list(ids.values()), wait)
    for inviter, invitee in pairs:
        pair(inviter, invitee, ids)
    if network_id(operator, network, "operator") is None:
        praevnet("network", "create", network, "--home", str(operator))
    for member in members:
        if network_id(member, network) is not None:
            print(f"{ids[member]['name']} is a member of {network} already", file=sys.stderr)
            continue
        who = ids[member]
        admitted = praevnet(
            "network", "admit", str(who["url"]), "--fingerprint", str(who["fingerprint"]), "--home", str(operator)
        )
        praevnet("network", "join", str(admitted["code"]), "--home", str(member))


def pair_argument(text: str) -> tuple[Path, Path]:
    """INVITER_HOME:INVITEE_HOME, two different homes."""
    inviter, sep, invitee = text.partition(":")
    if not sep or not inviter or not invitee or inviter == invitee:
        raise argparse.ArgumentTypeError(f"{text!r} is not INVITER_HOME:INVITEE_HOME with two different homes")
    return Path(inviter), Path(invitee)


def parser() -> argparse.ArgumentParser:
    """The command line: `node` and `federate`."""
    main = argparse.ArgumentParser(prog="compose_setup.py", description=__doc__.split("\n\n")[0])
    commands = main.add_subparsers(dest="step", required=True)
    node_ = commands.add_parser("node", help="Initialise the node's home if it holds no node, then run COMMAND.")
    node_.add_argument("--home", help="The node's home directory (default: $PRAEVNET_HOME).")
    node_.add_argument("--name", required=True, help="The node's display name, for `praevnet init`.")
    node_.add_argument("--url", required=True, help="The base URL peers reach the node at, for `praevnet init`.")
    node_.add_argument("command", nargs=argparse.REMAINDER, help="After --: the command to run then (praevnet serve).")
    fed = commands.add_parser("federate", help="Create the network, admit and join the members, pair by invitation.")
    fed.add_argument("--operator", required=True, type=Path, help="Home of the network operator's node.")
    fed.add_argument("--network", required=True, help="Name of the network the operator runs.")
    fed.add_argument("--member", action="append", default=[], type=Path, help="Home of a member city (repeat).")
    fed.add_argument(
        "--pair", action="append", default=[], type=pair_argument, help="INVITER_HOME:INVITEE_HOME to pair directly."
    )
    fed.add_argument("--wait", type=float, default=120.0, help="Seconds to wait for every node to serve (120).")
    return main


def main(argv: Sequence[str] | None = None) -> int:
    """Run one step; a failed step prints what failed and exits 1."""
    args = parser().parse_args(argv)
    try:
        if args.step == "node":
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            node(home_of(args.home), args.name, args.url, command)
        else:
            federate(args.operator, args.network, args.member, args.pair, args.wait)
            print(f"{args.network}: operator and {len(args.member)} members ready", file=sys.stderr)
    except SetupError as exc:
        print(f"compose_setup.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
