"""The node's configuration file (praevnet.toml): what it is called, where it is reached, how it behaves."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from node.errors import NodeError
from node.logs import FORMATS, LEVELS
from node.settings import MASK, Verbatim, env_name, from_environment, invalid, is_secret, kind, typed
from protocol.descriptor import normalize_base_url
from protocol.errors import ProtocolError
from protocol.records import check_threshold


@dataclass(frozen=True)
class ServerConfig:
    """Where `praevnet serve` listens (behind the operator's reverse proxy)."""

    host: str = "127.0.0.1"
    port: int = 8470


@dataclass(frozen=True)
class DeliveryConfig:
    """Timeouts and intervals for talking to peers (in seconds), and how pulled pages are verified."""

    connect_timeout: float = 5.0
    request_timeout: float = 20.0
    poll_interval: float = 0.05
    pull_interval: float = 300.0
    min_backoff: float = 5.0
    max_backoff: float = 14400.0
    verify_workers: int = -1  # processes that check signatures of pulled pages and pushed batches: -1 per core, 0 none
    pull_max_pages: int = 1000  # outbox pages one pull from one peer fetches at most; the next pull goes on
    pull_timeout: float = 600.0  # seconds one pull from one peer may take; what it stored by then is kept


@dataclass(frozen=True)
class ReleaseConfig:
    """Who must agree before something leaves: with four_eyes, a second user releases every share."""

    four_eyes: bool = False


@dataclass(frozen=True)
class AlertsConfig:
    """How alerts are handled: the small-number threshold k for case bands, and content retention."""

    small_number_threshold: int = 5
    retention_days: int = 30


@dataclass(frozen=True)
class AuditConfig:
    """When the running node signs a checkpoint of its audit log (node.checkpoints), and how many it keeps."""

    checkpoint_interval: float = 86400.0  # seconds after the last checkpoint, if the log has grown since
    checkpoint_entries: int = 1000  # entries since the last checkpoint that call for the next one at once
    checkpoints_kept: int = 400  # the newest ones kept in the database; copies belong outside the node


@dataclass(frozen=True)
class UiConfig:
    """The officers' web interface: its own address (never the federation port) and its sessions."""

    enabled: bool = True
    listen: str = "127.0.0.1:8471"  # host:port; loopback by default, the office network behind a proxy
    url: str = ""  # the address officers open, if a proxy serves it (https:// makes session cookies Secure)
    idle_timeout: float = 1800.0  # seconds without a request after which a session ends
    login_attempts: int = 5  # failed logins per user and per client address within login_window
    login_window: float = 900.0  # seconds


@dataclass(frozen=True)
class AdminConfig:
    """The admin address for IT (node.ops.admin): Prometheus metrics, /healthz and /readyz. Never the federation
    port nor the web interface's; loopback by default, as nothing on it asks who is calling."""

    enabled: bool = True
    listen: str = "127.0.0.1:8472"  # host:port


@dataclass(frozen=True)
class LogConfig:
    """How `praevnet serve` logs to stderr (node.logs): JSON or text lines (auto: text on a terminal), and how much."""

    format: str = "auto"
    level: str = "info"


@dataclass(frozen=True)
class NodeConfig:
    """Everything in praevnet.toml: [node] holds name, url and pull_only, each other section its dataclass."""

    name: str
    url: str
    pull_only: bool = False  # nobody can reach this node at url (peers add it --pull-only): doctor does not check url
    server: ServerConfig = field(default_factory=ServerConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    release: ReleaseConfig = field(default_factory=ReleaseConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    log: LogConfig = field(default_factory=LogConfig)

    @property
    def ui_url(self) -> str:
        """Where officers open the web interface: `[ui] url` if set, else the listen address."""
        return self.ui.url or f"http://{self.ui.listen}/"

    def to_toml(self) -> str:
        """Serialize for writing praevnet.toml."""
        data = asdict(self)
        own = {item.name: data.pop(item.name) for item in fields(self) if item.default_factory is MISSING}
        return tomli_w.dumps({"node": own, **data})


Check = Callable[[Any], str | None]
"""A check of one setting's value: None if it is allowed, else what is allowed (`must be ...`)."""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def between(low: float, high: float, unit: str = "") -> Check:
    """A check that a number lies from `low` to `high`, both included; `unit` follows them (` seconds`)."""

    def check(value: Any) -> str | None:
        if low <= value <= high:
            return None
        what = "a whole number" if isinstance(value, int) else "a number"
        return f"must be {what} from {_number(low)} to {_number(high)}{unit}"

    return check


def one_of(choices: tuple[str, ...]) -> Check:
    """A check that a text is one of `choices`."""

    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _name(value: Any) -> str | None:
    return None if 0 < len(value.strip()) <= 200 else "must be the node's name, 1 to 200 characters"


def _base_url(value: Any) -> str | None:
    try:
        normalize_base_url(value)
    except ProtocolError as exc:
        return f"must be a base URL such as https://praevnet.example.de ({exc})"
    return None


def _optional_url(value: Any) -> str | None:
    return None if value == "" else _base_url(value)


def _host(value: Any) -> str | None:
    return None if value and not any(c.isspace() for c in value) else "must be a host name or address to listen on"


def _listen(value: Any) -> str | None:
    try:
        split_listen(value)
    except NodeError:
        return "must be host:port, e.g. 127.0.0.1:8471"
    return None


def _threshold(value: Any) -> str | None:
    try:
        check_threshold(value)
    except ProtocolError as exc:
        return f"{exc}"
    return None


CHECKS: dict[str, Check] = {
    "node.name": _name,
    "node.url": _base_url,
    "server.host": _host,
    "server.port": between(1, 65535),
    "delivery.connect_timeout": between(0.1, 600.0, " seconds"),
    "delivery.request_timeout": between(0.1, 3600.0, " seconds"),
    "delivery.poll_interval": between(0.01, 3600.0, " seconds"),
    "delivery.pull_interval": between(0.1, 604800.0, " seconds (a week)"),
    "delivery.min_backoff": between(0.1, 86400.0, " seconds"),
    "delivery.max_backoff": between(0.1, 604800.0, " seconds (a week)"),
    "delivery.verify_workers": lambda v: (
        None if -1 <= v <= 64 else "must be -1 (one per CPU core), 0 (none) or up to 64"
    ),
    "delivery.pull_max_pages": between(1, 1_000_000),
    "delivery.pull_timeout": lambda v: None if 0 < v <= 86400 else "must be more than 0 and at most 86400 seconds",
    "alerts.small_number_threshold": _threshold,
    "alerts.retention_days": between(0, 3650),
    "audit.checkpoint_interval": between(60.0, 31 * 86400.0, " seconds (31 days)"),
    "audit.checkpoint_entries": between(1, 1_000_000_000),
    "audit.checkpoints_kept": between(1, 100_000),
    "ui.listen": _listen,
    "ui.url": _optional_url,
    "ui.idle_timeout": between(60.0, 86400.0, " seconds"),
    "ui.login_attempts": between(1, 1000),
    "ui.login_window": between(1.0, 86400.0, " seconds"),
    "admin.listen": lambda v: None if _listen(v) is None else "must be host:port, e.g. 127.0.0.1:8472",
    "log.format": one_of(FORMATS),
    "log.level": one_of(LEVELS),
}
"""What each setting may be beyond its type, by name; a section added to NodeConfig adds its checks here."""


class ConfigError(NodeError):
    """praevnet.toml or the environment holds settings that are not allowed; `problems` names every one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class LoadedConfig:
    """A parsed configuration and where each setting came from: `file`, `env PRAEVNET_...`, else the default."""

    config: NodeConfig
    sources: dict[str, str]

    def settings(self) -> list[dict[str, Any]]:
        """Every setting in order: name, value (masked if it holds a secret), source and environment variable."""
        values = asdict(self.config)
        result = []
        for name in defaults():
            section, _, key = name.partition(".")
            value = values[key] if section == "node" else values[section][key]
            result.append(
                {
                    "name": name,
                    "value": MASK if is_secret(name) and value not in ("", None, []) else value,
                    "source": self.sources.get(name, "default"),
                    "env": env_name(name),
                    "secret": is_secret(name),
                }
            )
        return result


def sections() -> dict[str, type[Any]]:
    """The sections of praevnet.toml after [node], by name, and the dataclass each one is read into."""
    return {
        item.name: type(item.default_factory()) for item in fields(NodeConfig) if item.default_factory is not MISSING
    }


def defaults() -> dict[str, object]:
    """Every setting's default value by name (`node.name` and `node.url` have none: empty text)."""
    result: dict[str, object] = {"node.name": "", "node.url": "", "node.pull_only": NodeConfig.pull_only}
    for section, cls in sections().items():
        blank = cls()
        result.update({f"{section}.{item.name}": getattr(blank, item.name) for item in fields(cls)})
    return result


def _tables(raw: dict[str, Any], problems: list[str]) -> dict[str, dict[str, Any]]:
    """The file's settings by section, the unknown ones and the ones that are no table named in `problems`."""
    known = ["node", *sections()]
    for name in raw:
        if name not in known:
            problems.append(f"config: unknown section [{name}]; the sections are {', '.join(f'[{s}]' for s in known)}")
    tables: dict[str, dict[str, Any]] = {}
    for name in known:
        table = raw.get(name, {})
        if not isinstance(table, dict):
            problems.append(f"config: [{name}] must be a table (a [{name}] line followed by its settings)")
            table = {}
        tables[name] = table
    return tables


def read_config(text: str, environ: Mapping[str, str]) -> LoadedConfig:
    """Parse praevnet.toml text with the settings `environ` overrides (PRAEVNET_SECTION__KEY).

    Raises ConfigError naming every unknown section, setting or variable and every value that is not
    allowed, as `config: NAME = VALUE: what is allowed`.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"config: praevnet.toml is not valid TOML: {exc}"]) from None
    problems: list[str] = []
    tables = _tables(raw, problems)
    blank = defaults()
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    written: dict[str, object] = {}  # as in the file or the variable, for messages
    broken: set[str] = set()  # settings of the wrong type or refused: not checked further
    for section, table in tables.items():
        for key, value in table.items():
            name = f"{section}.{key}"
            if name not in blank:
                problems.append(f"config: unknown setting {name} in [{section}]")
                continue
            values[name], ok = typed(value, blank[name])
            sources[name], written[name] = "file", value
            if not ok:
                problems.append(invalid(name, value, kind(blank[name])))
                broken.add(name)
    overrides, variables, bad = from_environment(environ, blank)
    problems += bad
    values.update(overrides)
    sources.update({name: f"env {variable}" for name, variable in variables.items()})
    broken -= set(overrides)  # what the environment sets is checked, whatever the file holds
    for name, variable in variables.items():
        text = environ[variable]
        written[name] = text if isinstance(blank[name], str) else Verbatim(text.strip())
    for required in ("node.name", "node.url"):
        if required not in values:
            problems.append(f"config: [node] needs a {required[5:]} ({required}, or {env_name(required)})")
    for name, check in CHECKS.items():
        if name in broken or (name not in values and name.startswith("node.")):
            continue
        allowed = check(values.get(name, blank[name]))
        if allowed is not None:
            problems.append(invalid(name, written.get(name, blank[name]), allowed, variables.get(name)))
            broken.add(name)
    problems += _together({**blank, **values}, written, variables, broken)
    if problems:
        raise ConfigError(problems)
    return LoadedConfig(_build(values, blank), sources)


def _together(
    chosen: Mapping[str, Any], written: Mapping[str, object], variables: Mapping[str, str], refused: set[str]
) -> list[str]:
    """What settings allowed one by one (not `refused`) may not be together."""
    problems: list[str] = []
    low, high = chosen["delivery.min_backoff"], chosen["delivery.max_backoff"]
    if high < low and not {"delivery.min_backoff", "delivery.max_backoff"} & refused:
        allowed = f"must be at least delivery.min_backoff ({_number(low)})"
        shown = written.get("delivery.max_backoff", high)
        problems.append(invalid("delivery.max_backoff", shown, allowed, variables.get("delivery.max_backoff")))
    return problems + _admin_apart(chosen, written, variables, refused)


def _admin_apart(
    chosen: Mapping[str, Any], written: Mapping[str, object], variables: Mapping[str, str], refused: set[str]
) -> list[str]:
    """The admin address may not use the federation port, nor the web interface's port while it runs."""
    if chosen["admin.enabled"] is not True or {"admin.listen", "admin.enabled"} & refused:
        return []
    port = split_listen(chosen["admin.listen"])[1]
    taken = {} if "server.port" in refused else {"server.port": chosen["server.port"]}
    if chosen["ui.enabled"] is True and not {"ui.listen", "ui.enabled"} & refused:
        taken["ui.listen"] = split_listen(chosen["ui.listen"])[1]
    for name, other in taken.items():
        if port == other:
            allowed = f"must not use the port of {name} ({port}): metrics and health are served on their own port"
            return [
                invalid(
                    "admin.listen",
                    written.get("admin.listen", chosen["admin.listen"]),
                    allowed,
                    variables.get("admin.listen"),
                )
            ]
    return []


def _build(values: Mapping[str, object], blank: Mapping[str, object]) -> NodeConfig:
    chosen = {**blank, **values}
    built = {
        section: cls(**{item.name: chosen[f"{section}.{item.name}"] for item in fields(cls)})
        for section, cls in sections().items()
    }
    name, url = str(chosen["node.name"]).strip(), normalize_base_url(chosen["node.url"])
    return NodeConfig(name=name, url=url, pull_only=bool(chosen["node.pull_only"]), **built)


def parse_config(text: str) -> NodeConfig:
    """Parse praevnet.toml text (without environment overrides); raise ConfigError naming every bad setting."""
    return read_config(text, {}).config


def split_listen(text: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) as a host and a port; raise NodeError naming what is wrong."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise NodeError(f"config: ui.listen must be host:port, e.g. 127.0.0.1:8471, not {text!r}")
    return host, int(port)


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> NodeConfig:
    """Read and parse the config file with the environment's overrides (`environ`, default os.environ)."""
    return read_loaded(path, environ).config


def read_loaded(path: Path, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """The config file's settings with the environment's overrides and where each came from (`config show`)."""
    return read_config(path.read_text(encoding="utf-8"), os.environ if environ is None else environ)
