"""Reading deploy/compose.yaml: its node services and the commands the compose setup runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
SETUP_SCRIPT = DEPLOY / "compose_setup.py"
SETUP_IN_IMAGE = "/usr/local/share/praevnet/compose_setup.py"
FEDERATE = "federate"


def load() -> dict[str, Any]:
    """compose.yaml as data (YAML merge keys resolved)."""
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@dataclass(frozen=True)
class NodeService:
    """A node service: its name, the arguments of `compose_setup.py node` and the command it then runs."""

    service: str
    name: str
    url: str
    then: list[str]


def node_services(data: dict[str, Any] | None = None) -> list[NodeService]:
    """Every service that starts a node through `compose_setup.py node --name N --url U -- COMMAND`."""
    found = []
    for service, spec in (data or load())["services"].items():
        if service == FEDERATE:
            continue
        assert spec["entrypoint"] == ["python3", SETUP_IN_IMAGE, "node"], f"{service} starts through the script"
        args = list(spec["command"])
        split = args.index("--")
        options = dict(zip(args[:split:2], args[1:split:2], strict=True))
        assert set(options) == {"--name", "--url"}, f"{service}: node takes --name and --url"
        found.append(NodeService(service, options["--name"], options["--url"], args[split + 1 :]))
    return found


def federate_args(data: dict[str, Any] | None = None) -> list[str]:
    """The arguments of `compose_setup.py federate` in the federate service."""
    spec = (data or load())["services"][FEDERATE]
    assert spec["entrypoint"] == ["python3", SETUP_IN_IMAGE, FEDERATE]
    return [str(arg) for arg in spec["command"]]
