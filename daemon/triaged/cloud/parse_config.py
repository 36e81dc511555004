"""Reading the ``oci:`` section of the config file into :mod:`triaged.cloud.config`.

Errors name the file and line (when the section comes from a YAML file, as in the
daemon) and the key path: ``triaged.yaml:41: oci.monitoring.queries[2].resolution: ...``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from triaged.cloud.config import (
    AUTH_MODES,
    AlarmsConfig,
    Backoff,
    Endpoints,
    HeartbeatConfig,
    MonitoringConfig,
    MonitoringQuery,
    OciConfig,
    OnsConfig,
    Timeouts,
    mql_interval_seconds,
    mql_metric,
    mql_query_interval,
)
from triaged.confnode import seconds_of
from triaged.errors import ConfigError
from triaged.model import Severity
from triaged.yamlfile import Node

T = TypeVar("T")

_CUSTOM_NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# OCI caps the time range of one summarizeMetricsData call by resolution.
_MAX_RANGE_DAYS = {60: 7, 300: 30, 3600: 90, 86400: 90}


class _Reader:
    """Typed access to one mapping. Errors name the key path, and the file and line
    when the mapping came from a YAML file (a :class:`Node`, as in the daemon)."""

    def __init__(self, raw: object, path: str, file: str | None, line: int | None = None) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {type(raw).__name__}", file=file, line=line)
        self.raw: Mapping[str, Any] = raw
        self.path = path
        self.file = file or (raw.file if isinstance(raw, Node) else None) or None
        self.line = raw.line if isinstance(raw, Node) and raw.line else line

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def line_of(self, key: str) -> int | None:
        return self.raw.line_of(key) if isinstance(self.raw, Node) else self.line

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.at(key)}: {message}", file=self.file, line=self.line_of(key))

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.raw:
            if key not in allowed:
                raise self.error(str(key), f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.raw.get(key)
        if value is None:
            if default is None:
                raise self.error(key, "required")
            return default
        # As for every string in the config: a plain scalar reads as written (`no`, `1.10`).
        text = self.raw.text(key) if isinstance(self.raw, Node) else value if isinstance(value, str) else None
        if text is None or not text.strip():
            raise self.error(key, "expected a non-empty string")
        return text.strip()

    def opt_text(self, key: str) -> str | None:
        return self.text(key) if self.raw.get(key) is not None else None

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "expected true or false")
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, "expected a number")
        if value <= minimum:
            raise self.error(key, f"must be greater than {minimum:g}")
        return float(value)

    def integer(self, key: str, default: int) -> int:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.error(key, "expected a positive integer")
        return value

    def duration(self, key: str, default: T) -> float | T:
        """A duration with a unit (``30s``, ``5m``, ``1h30m``), longer than zero, read
        as everywhere in the config (:func:`triaged.confnode.seconds_of`)."""
        value = self.raw.get(key)
        if value is None:
            return default
        try:
            return seconds_of(value, positive=True)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def sub(self, key: str) -> _Reader:
        return _Reader(self.raw.get(key), self.at(key), self.file, self.line_of(key))


# -- parsers ---------------------------------------------------------------------------


def parse_oci_config(raw: object, *, path: str = "oci", file: str | None = None) -> OciConfig:
    r = _Reader(raw, path, file)
    r.check_keys(
        {"auth", "config_file", "profile", "region", "timeouts", "auth_timeout",
         "circuit_breaker", "endpoints", "monitoring", "alarms", "notifiers", "heartbeat"}
    )  # fmt: skip
    auth = r.text("auth", "config_file")
    if auth not in AUTH_MODES:
        raise r.error("auth", f"must be one of {', '.join(AUTH_MODES)}, got {auth!r}")
    notifiers = r.sub("notifiers")
    notifiers.check_keys({"ons"})
    return OciConfig(
        auth=auth,
        config_file=r.text("config_file", "~/.oci/config"),
        profile=r.text("profile", "DEFAULT"),
        region=r.opt_text("region"),
        timeouts=parse_timeouts(r.sub("timeouts")),
        auth_timeout=r.duration("auth_timeout", 10.0),
        circuit_breaker=r.boolean("circuit_breaker", True),
        endpoints=parse_endpoints(r.sub("endpoints")),
        monitoring=parse_monitoring(r.sub("monitoring")),
        alarms=parse_alarms(r.sub("alarms")),
        ons=None if notifiers.raw.get("ons") is None else parse_ons(notifiers.sub("ons")),
        heartbeat=parse_heartbeat(r.sub("heartbeat")),
    )


def parse_timeouts(r: _Reader) -> Timeouts:
    r.check_keys({"connect", "read"})
    return Timeouts(connect=r.duration("connect", 5.0), read=r.duration("read", 30.0))


def parse_endpoints(r: _Reader) -> Endpoints:
    r.check_keys({"monitoring", "telemetry_ingestion", "notification"})
    return Endpoints(
        monitoring=r.opt_text("monitoring"),
        telemetry_ingestion=r.opt_text("telemetry_ingestion"),
        notification=r.opt_text("notification"),
    )


def parse_monitoring(r: _Reader) -> MonitoringConfig:
    r.check_keys({"queries", "max_tps", "backoff", "max_series_per_query"})
    backoff = r.sub("backoff")
    backoff.check_keys({"initial", "max"})
    queries_raw = r.raw.get("queries") or []
    if not isinstance(queries_raw, list):
        raise r.error("queries", "expected a list")
    seen: set[str] = set()
    queries: list[MonitoringQuery] = []
    for i, raw_query in enumerate(queries_raw):
        item = _Reader(raw_query, f"{r.at('queries')}[{i}]", r.file, r.line_of("queries"))
        query = parse_query(item)
        if query.name in seen:
            raise item.error("name", f"duplicate query name {query.name!r}")
        seen.add(query.name)
        queries.append(query)
    return MonitoringConfig(
        queries=tuple(queries),
        max_tps=r.number("max_tps", 10.0),
        backoff=Backoff(
            initial=backoff.duration("initial", 30.0),
            max=backoff.duration("max", 600.0),
        ),
        max_series_per_query=r.integer("max_series_per_query", 2000),
    )


def parse_query(r: _Reader) -> MonitoringQuery:
    r.check_keys(
        {"name", "namespace", "query", "compartment_id", "interval", "resolution",
         "resource_group", "window", "metric", "compartment_in_subtree"}
    )  # fmt: skip
    namespace = r.text("namespace")
    if not _CUSTOM_NAMESPACE.match(namespace):
        raise r.error("namespace", "must match ^[A-Za-z][A-Za-z0-9_]*$")
    query = r.text("query")
    if not mql_metric(query):
        raise r.error("query", "expected MQL like CpuUtilization[1m]{...}.mean()")
    resolution = r.text("resolution", "1m")
    res_seconds = mql_interval_seconds(resolution)
    if res_seconds is None:
        raise r.error("resolution", f"expected 1m-60m, 1h-24h or 1d, got {resolution!r}")
    interval = mql_query_interval(query)
    interval_seconds = mql_interval_seconds(interval)
    if interval_seconds is None:
        raise r.error("query", f"the interval [{interval}] must be 1m-60m, 1h-24h or 1d")
    if res_seconds > interval_seconds:
        # OCI refuses it with a 400 on every poll: say so at `triaged check`.
        raise r.error("resolution", f"{resolution} is longer than the query's interval [{interval}]")
    window = r.duration("window", None)
    max_days = max(d for s, d in _MAX_RANGE_DAYS.items() if s <= res_seconds)
    if window is not None and window > max_days * 86400:
        raise r.error("window", f"OCI allows at most {max_days} days at resolution {resolution}")
    return MonitoringQuery(
        name=r.text("name"),
        namespace=namespace,
        query=query,
        compartment_id=r.text("compartment_id"),
        interval=r.duration("interval", 60.0),
        resolution=resolution,
        resource_group=r.opt_text("resource_group"),
        window=window,
        metric=r.opt_text("metric"),
        compartment_in_subtree=r.boolean("compartment_in_subtree", False),
    )


def parse_alarms(r: _Reader) -> AlarmsConfig:
    r.check_keys(
        {"enabled", "compartment_id", "interval", "compartment_in_subtree", "page_limit",
         "max_pages"}
    )  # fmt: skip
    enabled = r.boolean("enabled", bool(r.raw))
    return AlarmsConfig(
        enabled=enabled,
        compartment_id=r.text("compartment_id") if enabled else "",
        interval=r.duration("interval", 60.0),
        compartment_in_subtree=r.boolean("compartment_in_subtree", False),
        page_limit=min(r.integer("page_limit", 1000), 1000),
        max_pages=r.integer("max_pages", 10),
    )


def parse_ons(r: _Reader) -> OnsConfig:
    r.check_keys({"topics", "per_topic_per_minute", "max_message_bytes"})
    topics_r = r.sub("topics")
    topics: dict[Severity | str, str] = {}
    for key in topics_r.raw:
        name = str(key)
        target: Severity | str
        if name.lower() == "default":
            target = "default"
        else:
            try:
                target = Severity.parse(name)
            except ValueError as exc:
                raise topics_r.error(name, str(exc)) from None
        topics[target] = topics_r.text(name)
    if not topics:
        raise r.error("topics", "at least one topic (a severity or 'default') is required")
    return OnsConfig(
        topics=topics,
        per_topic_per_minute=r.integer("per_topic_per_minute", 60),
        max_message_bytes=min(r.integer("max_message_bytes", 65536), 65536),
    )


def parse_heartbeat(r: _Reader) -> HeartbeatConfig:
    r.check_keys({"enabled", "compartment_id", "namespace", "interval"})
    enabled = r.boolean("enabled", bool(r.raw))
    namespace = r.text("namespace", "triaged")
    if not _CUSTOM_NAMESPACE.match(namespace) or namespace.lower().startswith(("oci_", "oracle_")):
        raise r.error("namespace", "custom namespaces match ^[A-Za-z][A-Za-z0-9_]*$ "
                      "and must not start with oci_ or oracle_")  # fmt: skip
    return HeartbeatConfig(
        enabled=enabled,
        compartment_id=r.text("compartment_id") if enabled else "",
        namespace=namespace,
        interval=r.duration("interval", 60.0),
    )
