"""The node's configuration file (praevnet.toml): what it is called, where it is reached, how it behaves."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from node.errors import NodeError
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
    verify_workers: int = -1  # processes that verify pulled pages: -1 one per CPU core, 0 none (verify inline)
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
class NodeConfig:
    """Everything in praevnet.toml."""

    name: str
    url: str
    server: ServerConfig = field(default_factory=ServerConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    release: ReleaseConfig = field(default_factory=ReleaseConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    ui: UiConfig = field(default_factory=UiConfig)

    @property
    def ui_url(self) -> str:
        """Where officers open the web interface: `[ui] url` if set, else the listen address."""
        return self.ui.url or f"http://{self.ui.listen}/"

    def to_toml(self) -> str:
        """Serialize for writing praevnet.toml."""
        data = asdict(self)
        return tomli_w.dumps({"node": {"name": data.pop("name"), "url": data.pop("url")}, **data})


def _section(raw: dict[str, Any], name: str, cls: type[Any]) -> Any:
    values = raw.get(name, {})
    if not isinstance(values, dict):
        raise NodeError(f"config: [{name}] must be a table")
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise NodeError(f"config: unknown setting {name}.{unknown[0]}")
    defaults = cls()
    for key, value in values.items():
        expected = type(getattr(defaults, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise NodeError(f"config: {name}.{key} must be a {expected.__name__}")
        values[key] = value
    return cls(**values)


def parse_config(text: str) -> NodeConfig:
    """Parse praevnet.toml text; raise NodeError naming the bad setting."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise NodeError(f"config: {exc}") from None
    unknown = sorted(set(raw) - {"node", "server", "delivery", "release", "alerts", "audit", "ui"})
    if unknown:
        raise NodeError(f"config: unknown section [{unknown[0]}]")
    node = raw.get("node")
    if not isinstance(node, dict) or not isinstance(node.get("name"), str) or not node["name"].strip():
        raise NodeError("config: [node] needs a name")
    unknown = sorted(set(node) - {"name", "url"})
    if unknown:
        raise NodeError(f"config: unknown setting node.{unknown[0]}")
    try:
        url = normalize_base_url(node.get("url"))
    except ProtocolError as exc:
        raise NodeError(f"config: node.url: {exc}") from None
    server = _section(raw, "server", ServerConfig)
    alerts = _section(raw, "alerts", AlertsConfig)
    try:
        check_threshold(alerts.small_number_threshold)
    except ProtocolError as exc:
        raise NodeError(f"config: alerts.small_number_threshold: {exc}") from None
    if not 0 <= alerts.retention_days <= 3650:
        raise NodeError("config: alerts.retention_days must be between 0 and 3650")
    if not 0 < server.port < 65536:
        raise NodeError("config: server.port must be between 1 and 65535")
    delivery = _section(raw, "delivery", DeliveryConfig)
    if not -1 <= delivery.verify_workers <= 64:
        raise NodeError("config: delivery.verify_workers must be -1 (one per CPU core), 0 (none) or up to 64")
    if not 1 <= delivery.pull_max_pages <= 1_000_000:
        raise NodeError("config: delivery.pull_max_pages must be between 1 and 1000000")
    if not 0 < delivery.pull_timeout <= 86400:
        raise NodeError("config: delivery.pull_timeout must be more than 0 and at most 86400 seconds")
    audit = _section(raw, "audit", AuditConfig)
    if not 60 <= audit.checkpoint_interval <= 31 * 86400:
        raise NodeError("config: audit.checkpoint_interval must be between 60 and 2678400 seconds (31 days)")
    if not 1 <= audit.checkpoint_entries <= 1_000_000_000:
        raise NodeError("config: audit.checkpoint_entries must be between 1 and 1000000000")
    if not 1 <= audit.checkpoints_kept <= 100_000:
        raise NodeError("config: audit.checkpoints_kept must be between 1 and 100000")
    ui = _check_ui(_section(raw, "ui", UiConfig))
    return NodeConfig(
        name=node["name"].strip(),
        url=url,
        server=server,
        delivery=delivery,
        release=_section(raw, "release", ReleaseConfig),
        alerts=alerts,
        audit=audit,
        ui=ui,
    )


def split_listen(text: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) as a host and a port; raise NodeError naming what is wrong."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise NodeError(f"config: ui.listen must be host:port, e.g. 127.0.0.1:8471, not {text!r}")
    return host, int(port)


def _check_ui(ui: UiConfig) -> UiConfig:
    split_listen(ui.listen)
    if ui.url:
        try:
            normalize_base_url(ui.url)
        except ProtocolError as exc:
            raise NodeError(f"config: ui.url: {exc}") from None
    if not 60 <= ui.idle_timeout <= 86400:
        raise NodeError("config: ui.idle_timeout must be between 60 and 86400 seconds")
    if not 1 <= ui.login_attempts <= 1000:
        raise NodeError("config: ui.login_attempts must be between 1 and 1000")
    if not 1 <= ui.login_window <= 86400:
        raise NodeError("config: ui.login_window must be between 1 and 86400 seconds")
    return ui


def load_config(path: Path) -> NodeConfig:
    """Read and parse the config file."""
    return parse_config(path.read_text(encoding="utf-8"))
