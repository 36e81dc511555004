"""Typed configuration: YAML parsed once into frozen dataclasses.

Every error names the file, line and key. Relative paths (rule files, the database)
are resolved against the config file's directory, so the daemon behaves the same
whatever its working directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from triaged.alerting_config import TOP_KEYS as ALERTING_KEYS
from triaged.alerting_config import AlertingConfig, parse_alerting
from triaged.errors import ConfigError
from triaged.lifecycle_config import TOP_KEYS as LIFECYCLE_KEYS
from triaged.lifecycle_config import LifecycleConfig, parse_lifecycle
from triaged.messages import Event
from triaged.model import Severity
from triaged.yamlfile import Node, load_yaml_file, parse_duration

T = TypeVar("T")


@dataclass(frozen=True)
class TargetConfig:
    job: str
    url: str
    interval_s: float
    timeout_s: float
    labels: dict[str, str] = field(default_factory=dict)
    max_body_bytes: int = 10 * 1024 * 1024
    max_samples: int = 100_000


@dataclass(frozen=True)
class ProbeConfig:
    job: str
    url: str
    interval_s: float
    timeout_s: float
    labels: dict[str, str] = field(default_factory=dict)
    expect_status: tuple[int, int] = (200, 299)


@dataclass(frozen=True)
class NotifierConfig:
    name: str
    type: str  # log | webhook | ons
    url: str = ""
    timeout_s: float = 5.0
    headers: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteConfig:
    receiver: str
    severities: frozenset[Severity] = frozenset(Severity)
    events: frozenset[Event] = frozenset(Event)
    match: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IncidentConfig:
    group_by: tuple[str, ...] = ("service",)
    resolve_hold_s: float = 300.0
    reopen_window_s: float = 1800.0


@dataclass(frozen=True)
class OutboxConfig:
    interval_s: float = 1.0
    base_backoff_s: float = 2.0
    max_backoff_s: float = 300.0
    max_attempts: int = 50
    lease_s: float = 60.0


@dataclass(frozen=True)
class HttpConfig:
    """The daemon's own HTTP server: /metrics, /healthz, /readyz and the API.
    Off unless the ``http:`` section is present; never without a token."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9467
    token_file: str = ""
    token_env: str = ""
    max_body_bytes: int = 64 * 1024
    request_timeout_s: float = 10.0


@dataclass(frozen=True)
class HeartbeatConfig:
    """Dead-man's switch: a heartbeat to ``receiver`` every ``interval_s`` while the loop
    is healthy, so the receiver's silence means triaged is down."""

    receiver: str
    interval_s: float = 300.0


@dataclass(frozen=True)
class Config:
    path: str
    db_path: str
    rule_files: tuple[str, ...]
    evaluation_interval_s: float = 15.0
    retention_s: float | None = None
    max_series: int = 1_000_000
    targets: tuple[TargetConfig, ...] = ()
    probes: tuple[ProbeConfig, ...] = ()
    notifiers: tuple[NotifierConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    incidents: IncidentConfig = IncidentConfig()
    outbox: OutboxConfig = OutboxConfig()
    external_labels: dict[str, str] = field(default_factory=dict)
    log_level: str = "info"
    log_format: str = "auto"
    oci: dict[str, Any] | None = None
    http: HttpConfig = HttpConfig()
    heartbeat: HeartbeatConfig | None = None
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)  # slos, postmortem, actions…
    alerting: AlertingConfig = field(default_factory=AlertingConfig)  # route tree, inhibit, silences…

    @property
    def base_dir(self) -> Path:
        return Path(self.path).resolve().parent


_TOP_KEYS = {
    "storage",
    "scrape",
    "evaluation_interval",
    "rule_files",
    "targets",
    "probes",
    "notifiers",
    "routes",
    "incidents",
    "outbox",
    "external_labels",
    "log",
    "oci",
    "http",
    "heartbeat",
    *LIFECYCLE_KEYS,
    *ALERTING_KEYS,
}


def load_config(path: str | Path) -> Config:
    """Parse ``path``. Raises :class:`ConfigError` at the first problem, located."""
    doc = load_yaml_file(path)
    if doc is None:
        doc = Node()
        doc.file, doc.line, doc.key_lines = str(path), 1, {}
    if not isinstance(doc, Node):
        raise ConfigError("the config must be a mapping", file=str(path), line=1)
    return parse_config(doc, str(path))


def parse_config(doc: Node, path: str) -> Config:
    _no_unknown(doc, _TOP_KEYS, "top level")
    base = Path(path).resolve().parent
    storage = _section(doc, "storage")
    _no_unknown(storage, {"db", "retention", "max_series"}, "storage")
    scrape = _section(doc, "scrape")
    _no_unknown(scrape, {"interval", "timeout"}, "scrape")
    default_interval = _dur(scrape, "interval", 15.0)
    default_timeout = _dur(scrape, "timeout", min(10.0, default_interval))
    output = _section(doc, "log")
    _no_unknown(output, {"level", "format"}, "log")
    notifiers = tuple(_list(doc, "notifiers", _notifier))
    _unique([n.name for n in notifiers], doc, "notifiers", "notifier name")
    routes = tuple(_list(doc, "routes", _route)) or tuple(RouteConfig(n.name) for n in notifiers)
    names = {n.name for n in notifiers}
    for r in routes:
        if r.receiver not in names:
            raise doc.error("routes", f"route receiver {r.receiver!r} is not a configured notifier")
    log_format = _str(output, "format", "auto")
    if log_format not in ("auto", "json", "console"):
        raise output.error("format", "log.format must be auto, json or console")
    return Config(
        path=path,
        db_path=str(base / expand_env(_str(storage, "db", "triaged.db"))),
        rule_files=tuple(expand_env(p) for p in _str_list(doc, "rule_files")),
        evaluation_interval_s=_dur(doc, "evaluation_interval", default_interval),
        retention_s=_dur(storage, "retention", None) if "retention" in storage else None,
        max_series=_int(storage, "max_series", 1_000_000),
        targets=tuple(_list(doc, "targets", lambda n: _target(n, default_interval, default_timeout))),
        probes=tuple(_list(doc, "probes", lambda n: _probe(n, default_interval, default_timeout))),
        notifiers=notifiers,
        routes=routes,
        incidents=_incidents(_section(doc, "incidents")),
        outbox=_outbox(_section(doc, "outbox")),
        external_labels=_str_map(doc, "external_labels"),
        log_level=_str(output, "level", "info"),
        log_format=log_format,
        oci=dict(doc["oci"]) if isinstance(doc.get("oci"), dict) else None,
        http=_http(doc, base),
        heartbeat=_heartbeat(doc, names),
        lifecycle=parse_lifecycle(doc, str(base)),
        alerting=parse_alerting(doc, names),
    )


_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str) -> str:
    """``${VAR}`` and ``${VAR:-default}`` in paths, so one config serves systemd
    (``$STATE_DIRECTORY``, ``$CONFIGURATION_DIRECTORY``) and a checkout."""
    return _ENV_RE.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), text)


# -- sections --------------------------------------------------------------------------
def _target(n: Node, interval: float, timeout: float) -> TargetConfig:
    _no_unknown(n, {"job", "url", "interval", "timeout", "labels", "max_body_bytes", "max_samples"}, "target")
    t = TargetConfig(
        job=_req_str(n, "job"),
        url=_url(n),
        interval_s=_dur(n, "interval", interval),
        timeout_s=_dur(n, "timeout", min(timeout, _dur(n, "interval", interval))),
        labels=_str_map(n, "labels"),
        max_body_bytes=_int(n, "max_body_bytes", 10 * 1024 * 1024),
        max_samples=_int(n, "max_samples", 100_000),
    )
    if t.timeout_s > t.interval_s:
        raise n.error("timeout", f"timeout {t.timeout_s}s is longer than the interval {t.interval_s}s")
    return t


def _probe(n: Node, interval: float, timeout: float) -> ProbeConfig:
    _no_unknown(n, {"job", "url", "interval", "timeout", "labels", "expect_status"}, "probe")
    status = n.get("expect_status", [200, 299])
    if not (isinstance(status, list) and len(status) == 2 and all(isinstance(s, int) for s in status)):
        raise n.error("expect_status", "expect_status must be [low, high], e.g. [200, 299]")
    return ProbeConfig(
        job=_req_str(n, "job"),
        url=_url(n),
        interval_s=_dur(n, "interval", interval),
        timeout_s=_dur(n, "timeout", min(timeout, 5.0)),
        labels=_str_map(n, "labels"),
        expect_status=(status[0], status[1]),
    )


def _notifier(n: Node) -> NotifierConfig:
    kind = _req_str(n, "type")
    if kind not in ("log", "webhook", "ons", "pagerduty"):
        raise n.error("type", f"unknown notifier type {kind!r} (log, webhook, ons, pagerduty)")
    if kind == "webhook":
        _url(n)
    return NotifierConfig(
        name=_req_str(n, "name"),
        type=kind,
        url=_str(n, "url", ""),
        timeout_s=_dur(n, "timeout", 5.0),
        headers=_str_map(n, "headers"),
        raw=dict(n),
    )


def _route(n: Node) -> RouteConfig:
    _no_unknown(n, {"receiver", "severities", "events", "match"}, "route")
    try:
        sev = frozenset(Severity.parse(s) for s in _str_list(n, "severities")) or frozenset(Severity)
    except ValueError as exc:
        raise n.error("severities", str(exc)) from exc
    try:
        events = frozenset(Event(e) for e in _str_list(n, "events")) or frozenset(Event)
    except ValueError as exc:
        raise n.error("events", f"{exc} (one of {', '.join(e.value for e in Event)})") from exc
    return RouteConfig(
        receiver=_req_str(n, "receiver"), severities=sev, events=events, match=_str_map(n, "match")
    )


def _incidents(n: Node) -> IncidentConfig:
    _no_unknown(n, {"group_by", "resolve_hold", "reopen_window"}, "incidents")
    return IncidentConfig(
        group_by=tuple(_str_list(n, "group_by")) or ("service",),
        resolve_hold_s=_dur(n, "resolve_hold", 300.0),
        reopen_window_s=_dur(n, "reopen_window", 1800.0),
    )


def _outbox(n: Node) -> OutboxConfig:
    _no_unknown(n, {"interval", "base_backoff", "max_backoff", "max_attempts", "lease"}, "outbox")
    return OutboxConfig(
        interval_s=_dur(n, "interval", 1.0),
        base_backoff_s=_dur(n, "base_backoff", 2.0),
        max_backoff_s=_dur(n, "max_backoff", 300.0),
        max_attempts=_int(n, "max_attempts", 50),
        lease_s=_dur(n, "lease", 60.0),
    )


def _http(doc: Node, base: Path) -> HttpConfig:
    if "http" not in doc:
        return HttpConfig()
    n = _section(doc, "http")
    _no_unknown(n, {"enabled", "listen", "token_file", "token_env", "max_body_bytes", "timeout"}, "http")
    listen = _str(n, "listen", "127.0.0.1:9467")
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise n.error("listen", f"http.listen must be host:port, e.g. 127.0.0.1:9467, got {listen!r}")
    enabled = n.get("enabled", True)
    if not isinstance(enabled, bool):
        raise n.error("enabled", "http.enabled must be true or false")
    token_file = expand_env(_str(n, "token_file", ""))
    return HttpConfig(
        enabled=enabled,
        host=host.strip("[]"),
        port=int(port),
        token_file=str(base / token_file) if token_file else "",
        token_env=_str(n, "token_env", ""),
        max_body_bytes=_int(n, "max_body_bytes", 64 * 1024),
        request_timeout_s=_dur(n, "timeout", 10.0),
    )


def _heartbeat(doc: Node, receivers: set[str]) -> HeartbeatConfig | None:
    if "heartbeat" not in doc:
        return None
    n = _section(doc, "heartbeat")
    _no_unknown(n, {"receiver", "interval"}, "heartbeat")
    cfg = HeartbeatConfig(receiver=_req_str(n, "receiver"), interval_s=_dur(n, "interval", 300.0))
    if cfg.receiver not in receivers:
        raise n.error("receiver", f"heartbeat receiver {cfg.receiver!r} is not a configured notifier")
    if cfg.interval_s < 10:
        raise n.error("interval", "heartbeat.interval must be at least 10s")
    return cfg


# -- typed getters ---------------------------------------------------------------------
def _empty(parent: Node) -> Node:
    node = Node()
    node.file, node.line, node.key_lines = parent.file, parent.line, {}
    return node


def _section(doc: Node, key: str) -> Node:
    value = doc.get(key)
    if value is None:
        return _empty(doc)
    if not isinstance(value, Node):
        raise doc.error(key, f"'{key}' must be a mapping")
    return value


def _list(doc: Node, key: str, parse: Callable[[Node], T]) -> list[T]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Node) for v in value):
        raise doc.error(key, f"'{key}' must be a list of mappings")
    return [parse(v) for v in value]


def _no_unknown(n: Node, allowed: set[str], where: str) -> None:
    for key in n:
        if key not in allowed:
            raise n.error(key, f"unknown key {key!r} in {where} (allowed: {', '.join(sorted(allowed))})")


def _unique(names: list[str], doc: Node, key: str, what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise doc.error(key, f"duplicate {what} {name!r}")
        seen.add(name)


def _str(n: Node, key: str, default: str) -> str:
    value = n.get(key, default)
    if not isinstance(value, str):
        raise n.error(key, f"'{key}' must be a string")
    return value


def _req_str(n: Node, key: str) -> str:
    if key not in n or n[key] in (None, ""):
        raise n.error(None, f"missing required key '{key}'")
    return _str(n, key, "")


def _url(n: Node) -> str:
    url = _req_str(n, "url")
    if not url.startswith(("http://", "https://")):
        raise n.error("url", f"url must start with http:// or https://: {url!r}")
    return url


def _int(n: Node, key: str, default: int) -> int:
    value = n.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise n.error(key, f"'{key}' must be a positive integer")
    return value


def _dur(n: Node, key: str, default: T) -> float | T:
    if key not in n:
        return default
    try:
        return parse_duration(n[key])
    except ValueError as exc:
        raise n.error(key, f"{key}: {exc}") from exc


def _str_list(n: Node, key: str) -> list[str]:
    value = n.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise n.error(key, f"'{key}' must be a list of strings")
    return value


def _str_map(n: Node, key: str) -> dict[str, str]:
    value = n.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str | int | float) for v in value.values()):
        raise n.error(key, f"'{key}' must be a mapping of strings")
    return {str(k): str(v) for k, v in value.items()}
