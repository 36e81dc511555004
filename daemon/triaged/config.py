"""Typed configuration: YAML parsed once into frozen dataclasses.

Every error names the file, line and key. Relative paths (rule files, the database)
are resolved against the config file's directory, so the daemon behaves the same
whatever its working directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from triaged.alerting_config import TOP_KEYS as ALERTING_KEYS
from triaged.alerting_config import AlertingConfig, event_set, match_map, parse_alerting, severity_set
from triaged.alerts.route import DEFAULT_EVENTS
from triaged.confnode import (
    DEFAULT_DB,
    Problems,
    expand_env,
    flag,
    get_str,
    label_name_problem,
    load_config_doc,
    positive_int,
    req_str,
    rule_files_warnings,
    section,
    storage_db,
    storage_warnings,
    str_list,
    str_map,
)
from triaged.durations import format_duration
from triaged.errors import ConfigError, public_url
from triaged.lifecycle_config import TOP_KEYS as LIFECYCLE_KEYS
from triaged.lifecycle_config import LifecycleConfig, parse_lifecycle
from triaged.messages import Event
from triaged.model import Severity
from triaged.service_config import HeartbeatConfig, HttpConfig, parse_heartbeat, parse_http
from triaged.sources.base import instance_of
from triaged.yamlfile import Node

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
    follow_redirects: bool = True
    new_counters_from_zero: bool = True


@dataclass(frozen=True)
class ProbeConfig:
    job: str
    url: str
    interval_s: float
    timeout_s: float
    labels: dict[str, str] = field(default_factory=dict)
    expect_status: tuple[int, int] = (200, 299)
    follow_redirects: bool = True


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
    events: frozenset[Event] = DEFAULT_EVENTS  # all but reminders unless named
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
    max_retry_after_s: float = 900.0  # a receiver's Retry-After is honoured up to this


@dataclass(frozen=True)
class Config:
    path: str
    db_path: str
    rule_files: tuple[str, ...]
    rule_files_line: int | None = None  # where they are listed, for "matches no file"
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
    external_url: str = ""  # rule templates' $externalURL, as Prometheus's --web.external-url
    log_level: str = "info"
    log_format: str = "auto"
    oci: dict[str, Any] | None = None
    http: HttpConfig = field(default_factory=HttpConfig)
    heartbeat: HeartbeatConfig | None = None
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)  # slos, postmortem, actions…
    alerting: AlertingConfig = field(default_factory=AlertingConfig)  # route tree, inhibit, silences…
    # Located "file:line: warning: …" lines: worth a look, not worth refusing the config.
    warnings: tuple[str, ...] = ()

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
    "external_url",
    "log",
    "oci",
    "http",
    "heartbeat",
    *LIFECYCLE_KEYS,
    *ALERTING_KEYS,
}


class InvalidConfigError(ConfigError):
    """Every problem found in one config file, in file order (one per line when
    printed). ``partial`` is the config with defaults standing in for the broken
    parts, so `triaged check` can still check the rule files."""

    def __init__(self, errors: list[ConfigError], partial: Config | None = None) -> None:
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line)
        self.errors = errors
        self.partial = partial

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def load_config(path: str | Path) -> Config:
    """Parse ``path``. Raises :class:`ConfigError` if the file cannot be read or is not
    YAML, else :class:`InvalidConfigError` with every problem found, each located."""
    return parse_config(load_config_doc(path), str(path))


def parse_config(doc: Node, path: str) -> Config:
    """The typed config of a loaded YAML document. Sections and list items are checked
    independently, so one mistake does not hide the next; all are raised together."""
    p = Problems()
    p.only_keys(doc, _TOP_KEYS, "top level")
    base = Path(path).resolve().parent
    no_storage: tuple[str, float | None, int] = (str(base / DEFAULT_DB), None, 1_000_000)
    db_path, retention_s, max_series = p.attempt(lambda: _storage(doc, base, p), no_storage)
    no_warnings: list[str] = []
    warnings = p.attempt(lambda: storage_warnings(doc, base) + rule_files_warnings(doc), no_warnings)
    default_interval, default_timeout = p.attempt(lambda: _scrape(doc, p), (15.0, 10.0))
    log_level, log_format = p.attempt(lambda: _log(doc, p), ("info", "auto"))
    notifier_nodes = p.nodes(doc, "notifiers")
    notifiers = tuple(p.each(notifier_nodes, lambda n: _notifier(n, p)))
    p.attempt(lambda: _unique([n.name for n in notifiers], doc, "notifiers", "notifier name"), None)
    # Broken notifiers keep their name, so routes naming them are not reported too.
    names = {n.name for n in notifiers} | {
        str(n["name"]) for n in notifier_nodes if isinstance(n.get("name"), str)
    }
    route_nodes = p.nodes(doc, "routes")
    routes = tuple(p.each(route_nodes, lambda n: _route(n, names, p)))
    no_files: list[str] = []
    cfg = Config(
        path=path,
        db_path=db_path,
        rule_files=tuple(expand_env(f) for f in p.attempt(lambda: str_list(doc, "rule_files"), no_files)),
        rule_files_line=doc.line_of("rule_files"),
        evaluation_interval_s=p.duration(doc, "evaluation_interval", default_interval, positive=True),
        retention_s=retention_s,
        max_series=max_series,
        targets=_distinct(doc, "targets", lambda n: _target(n, default_interval, default_timeout, p), p),
        probes=_distinct(doc, "probes", lambda n: _probe(n, default_interval, default_timeout, p), p),
        notifiers=notifiers,
        routes=routes or _implicit_routes(notifiers),
        incidents=p.attempt(lambda: _incidents(section(doc, "incidents"), p), IncidentConfig()),
        outbox=p.attempt(lambda: _outbox(section(doc, "outbox"), p), OutboxConfig()),
        external_labels=p.labels(doc, "external_labels"),
        external_url=p.attempt(lambda: _external_url(doc), ""),
        log_level=log_level,
        log_format=log_format,
        oci=doc["oci"] if isinstance(doc.get("oci"), Node) else None,
        http=p.attempt(lambda: parse_http(doc, base, p), HttpConfig()),
        heartbeat=p.attempt(
            lambda: parse_heartbeat(
                doc, names, p, pagers={n.name for n in notifiers if n.type == "pagerduty"}
            ),
            None,
        ),
        lifecycle=parse_lifecycle(doc, str(base), p),
        alerting=parse_alerting(doc, names, p),
        warnings=tuple(warnings),
    )
    if p.errors:
        raise InvalidConfigError(p.ordered(), partial=cfg)
    return cfg


# -- sections --------------------------------------------------------------------------
# Each parser checks every key of its section or list item through ``p``, so a broken
# key does not hide the next one; a cross-key check runs only when both keys parsed.
def _storage(doc: Node, base: Path, p: Problems) -> tuple[str, float | None, int]:
    storage = section(doc, "storage")
    p.only_keys(storage, {"db", "retention", "max_series"}, "storage")
    return (
        p.attempt(lambda: storage_db(doc, base).path, str(base / DEFAULT_DB)),
        p.duration(storage, "retention", None),
        p.attempt(lambda: positive_int(storage, "max_series", 1_000_000), 1_000_000),
    )


def _scrape(doc: Node, p: Problems) -> tuple[float, float]:
    """The default interval and timeout of targets and probes."""
    scrape = section(doc, "scrape")
    p.only_keys(scrape, {"interval", "timeout"}, "scrape")
    before = len(p.errors)
    interval = p.duration(scrape, "interval", 15.0, positive=True)
    timeout = p.duration(scrape, "timeout", min(10.0, interval), positive=True)
    if len(p.errors) == before:  # as Prometheus's global section: compared only when both are valid
        _within(scrape, interval, timeout, p)
    return interval, timeout


def _within(n: Node, interval: float, timeout: float, p: Problems) -> None:
    if timeout > interval:
        longer = f"timeout {format_duration(timeout)} is longer than the interval {format_duration(interval)}"
        p.errors.append(n.error("timeout", longer))


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _log(doc: Node, p: Problems) -> tuple[str, str]:
    output = section(doc, "log")
    p.only_keys(output, {"level", "format"}, "log")
    level = p.attempt(lambda: _log_level(output), "info")
    return level, p.attempt(lambda: _log_format(output), "auto")


def _log_level(output: Node) -> str:
    level = get_str(output, "level", "info")
    normal = {"warn": "warning"}.get(level.lower(), level.lower())
    if normal not in LOG_LEVELS:
        raise output.error("level", f"log.level {level!r} is not a level: use {', '.join(LOG_LEVELS)}")
    return normal


def _log_format(output: Node) -> str:
    log_format = get_str(output, "format", "auto")
    if log_format not in ("auto", "json", "console"):
        raise output.error("format", "log.format must be auto, json or console")
    return log_format


# What targets and probes both take.
_SOURCE_KEYS = {"job", "url", "interval", "timeout", "labels", "follow_redirects"}


def _target(n: Node, interval: float, timeout: float, p: Problems) -> TargetConfig:
    p.only_keys(n, _SOURCE_KEYS | {"max_body_bytes", "max_samples", "new_counters_from_zero"}, "target")
    every, wait = _timing(n, interval, timeout, p)
    labels = p.labels(n, "labels")
    return TargetConfig(
        # As in Prometheus, a `job` (or `instance`) target label wins over the default.
        job=labels.get("job") or p.attempt(lambda: req_str(n, "job"), ""),
        url=p.attempt(lambda: _url(n), ""),
        interval_s=every,
        timeout_s=wait,
        labels=labels,
        max_body_bytes=p.attempt(lambda: positive_int(n, "max_body_bytes", 10 * 1024 * 1024), 0),
        max_samples=p.attempt(lambda: positive_int(n, "max_samples", 100_000), 0),
        follow_redirects=p.attempt(lambda: flag(n, "follow_redirects", True), True),
        new_counters_from_zero=p.attempt(lambda: flag(n, "new_counters_from_zero", True), True),
    )


def _timing(n: Node, interval: float, timeout: float, p: Problems) -> tuple[float, float]:
    """A target's or probe's ``interval`` and ``timeout`` (by default ``timeout``, or the
    interval if shorter), the timeout checked against the interval when both parse."""
    before = len(p.errors)
    every = p.duration(n, "interval", interval, positive=True)
    wait = p.duration(n, "timeout", min(timeout, every), positive=True)
    if len(p.errors) == before:
        _within(n, every, wait, p)
    return every, wait


def _probe(n: Node, interval: float, timeout: float, p: Problems) -> ProbeConfig:
    p.only_keys(n, _SOURCE_KEYS | {"expect_status"}, "probe")
    every, wait = _timing(n, interval, min(timeout, 5.0), p)
    labels = p.labels(n, "labels")
    return ProbeConfig(
        job=labels.get("job") or p.attempt(lambda: req_str(n, "job"), ""),
        url=p.attempt(lambda: _url(n), ""),
        interval_s=every,
        timeout_s=wait,
        labels=labels,
        expect_status=p.attempt(lambda: _expect_status(n), (200, 299)),
        follow_redirects=p.attempt(lambda: flag(n, "follow_redirects", True), True),
    )


def _expect_status(n: Node) -> tuple[int, int]:
    status = n.get("expect_status", [200, 299])
    if not (isinstance(status, list) and len(status) == 2 and all(isinstance(s, int) for s in status)):
        raise n.error("expect_status", "expect_status must be [low, high], e.g. [200, 299]")
    return status[0], status[1]


def _notifier(n: Node, p: Problems) -> NotifierConfig:
    kind = p.attempt(lambda: _notifier_type(n), "")
    if kind == "webhook":
        p.attempt(lambda: _url(n), "")
    return NotifierConfig(
        name=p.attempt(lambda: req_str(n, "name"), ""),
        type=kind,
        url=p.attempt(lambda: get_str(n, "url", ""), ""),
        timeout_s=p.duration(n, "timeout", 5.0, positive=True),
        headers=p.attempt(lambda: str_map(n, "headers"), {}),
        raw=dict(n),
    )


def _notifier_type(n: Node) -> str:
    kind = req_str(n, "type")
    if kind not in ("log", "webhook", "ons", "pagerduty"):
        raise n.error("type", f"unknown notifier type {kind!r} (log, webhook, ons, pagerduty)")
    return kind


def _route(n: Node, receivers: set[str], p: Problems) -> RouteConfig:
    p.only_keys(n, {"receiver", "severities", "events", "match"}, "route")
    return RouteConfig(
        receiver=p.attempt(lambda: _receiver(n, receivers), ""),
        severities=p.attempt(lambda: severity_set(n, "severities", frozenset(Severity)), frozenset(Severity)),
        events=p.attempt(lambda: event_set(n, "events"), DEFAULT_EVENTS),
        match=p.attempt(lambda: match_map(n, "match"), {}),
    )


def _implicit_routes(notifiers: tuple[NotifierConfig, ...]) -> tuple[RouteConfig, ...]:
    """No routes written: every notifier gets everything, reminders included (nobody
    wrote a paging route to keep them out of) — except PagerDuty, which only pages."""
    return tuple(
        RouteConfig(n.name, events=DEFAULT_EVENTS if n.type == "pagerduty" else frozenset(Event))
        for n in notifiers
    )


def _receiver(n: Node, receivers: set[str]) -> str:
    receiver = req_str(n, "receiver")
    if receiver not in receivers:
        raise n.error("receiver", f"route receiver {receiver!r} is not a configured notifier")
    return receiver


def _incidents(n: Node, p: Problems) -> IncidentConfig:
    p.only_keys(n, {"group_by", "resolve_hold", "reopen_window"}, "incidents")
    return IncidentConfig(
        group_by=p.attempt(lambda: _group_by(n), ()) or ("service",),
        resolve_hold_s=p.duration(n, "resolve_hold", 300.0),
        reopen_window_s=p.duration(n, "reopen_window", 1800.0),
    )


def _group_by(n: Node) -> tuple[str, ...]:
    """Label names, each once; or ``['...']`` alone (every label), as Alertmanager
    checks a route's ``group_by``."""
    names = str_list(n, "group_by")
    if "..." in names and len(names) > 1:
        raise n.error("group_by", "group_by: '...' (every label) stands alone; drop the other names")
    for name in names:
        problem = None if name == "..." else label_name_problem(name)
        if problem is not None:
            raise n.error("group_by", f"group_by: {problem}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise n.error("group_by", f"group_by: {', '.join(repeated)} given twice")
    return tuple(names)


def _outbox(n: Node, p: Problems) -> OutboxConfig:
    p.only_keys(
        n, {"interval", "base_backoff", "max_backoff", "max_attempts", "lease", "max_retry_after"}, "outbox"
    )
    return OutboxConfig(
        interval_s=p.duration(n, "interval", 1.0, positive=True),
        base_backoff_s=p.duration(n, "base_backoff", 2.0),
        max_backoff_s=p.duration(n, "max_backoff", 300.0),
        max_attempts=p.attempt(lambda: positive_int(n, "max_attempts", 50), 50),
        lease_s=p.duration(n, "lease", 60.0, positive=True),
        max_retry_after_s=p.duration(n, "max_retry_after", 900.0),
    )


Source = TypeVar("Source", TargetConfig, ProbeConfig)


def _distinct(doc: Node, key: str, parse: Callable[[Node], Source], p: Problems) -> tuple[Source, ...]:
    """Every target (or probe), each parsed on its own. Two with the same job, instance
    and labels would write the same series, overwriting each other: refused, naming both."""
    items = p.each(enumerate(p.nodes(doc, key)), lambda item: (item[0], item[1], parse(item[1])))
    first: dict[tuple[str, str, frozenset[tuple[str, str]]], tuple[int, Node]] = {}
    for i, n, item in items:
        instance = _instance(item)
        others = frozenset((k, v) for k, v in item.labels.items() if v and k not in ("job", "instance"))
        j, seen = first.setdefault((item.job, instance, others), (i, n))
        if seen is not n:
            same = f"job {item.job!r}, instance {instance!r}" + (" and labels" if others else "")
            message = f"{key}[{i}] has the same {same} as {key}[{j}] (line {seen.line}): both would write"
            p.errors.append(n.error(None, f"{message} the same series; remove one or give one another label"))
    return tuple(item for _, _, item in items)


def _instance(item: TargetConfig | ProbeConfig) -> str:
    default = item.url if isinstance(item, ProbeConfig) else instance_of(item.url)
    return item.labels.get("instance") or default


# -- typed getters ---------------------------------------------------------------------
def _unique(names: list[str], doc: Node, key: str, what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise doc.error(key, f"duplicate {what} {name!r}")
        seen.add(name)


def _url(n: Node) -> str:
    url = req_str(n, "url")
    if not url.startswith(("http://", "https://")):
        raise n.error("url", f"url must start with http:// or https://: {public_url(url)!r}")
    return url


def _external_url(doc: Node) -> str:
    """Where people reach this system's links from (templates' ``$externalURL``): an
    absolute http(s) URL, kept without a trailing slash as Prometheus keeps it."""
    text = doc.text("external_url")
    if text is None or not text.strip():
        if doc.get("external_url") not in (None, ""):
            raise doc.error("external_url", "external_url must be a URL string")
        return ""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise doc.error("external_url", f"external_url: expected an http(s) URL, got {text!r}")
    return text.strip().rstrip("/")
