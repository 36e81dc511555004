"""Typed OCI settings, parsed once from the ``oci:`` section of the config file.

Every ``parse_*`` function takes plain dicts (as loaded from YAML) and raises
:class:`~triaged.errors.ConfigError` naming the key path, e.g.
``oci.monitoring.queries[2].resolution: ...``. The YAML shape::

    oci:
      auth: config_file            # instance_principal | config_file | resource_principal
      config_file: ~/.oci/config   # config_file auth only
      profile: DEFAULT             # config_file auth only
      region: ap-mumbai-1          # optional with config_file (taken from the profile)
      timeouts: {connect: 5, read: 30}
      auth_timeout: 10             # wall-clock bound on instance principal start-up
      circuit_breaker: true        # one breaker per client, never the SDK's shared one
      endpoints: {monitoring: ..., telemetry_ingestion: ..., notification: ...}
      monitoring:
        max_tps: 10                # OCI allows 10 TPS per tenancy for these calls
        backoff: {initial: 30, max: 600}
        queries:
          - name: api_cpu
            namespace: oci_computeagent
            query: CpuUtilization[1m]{resourceId = "ocid1.instance..."}.mean()
            compartment_id: ocid1.compartment...
            interval: 60           # seconds, or "1m"
            resolution: 1m
            resource_group: null
            window: null           # lookback; default max(3 x res, interval + 2 x res)
            metric: null           # override the Prometheus metric name
      alarms: {enabled: true, compartment_id: ..., interval: 60, compartment_in_subtree: false}
      notifiers:
        ons:
          topics: {P0: ocid1.onstopic..., P1: ..., default: ...}
          per_topic_per_minute: 60
          max_message_bytes: 65536
      heartbeat: {enabled: true, compartment_id: ..., namespace: triaged, interval: 60}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from triaged.errors import ConfigError
from triaged.model import Severity

AUTH_MODES = ("instance_principal", "config_file", "resource_principal")

# The MQL metric name is everything before the interval bracket: ``CpuUtilization[1m]...``.
_MQL_METRIC = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_.\-]*)\s*\[")
_MQL_INTERVAL = re.compile(r"^(\d+)([mhd])$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_CUSTOM_NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# OCI caps the time range of one summarizeMetricsData call by resolution.
_MAX_RANGE_DAYS = {60: 7, 300: 30, 3600: 90, 86400: 90}


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 30.0


@dataclass(frozen=True)
class Endpoints:
    """Service endpoint overrides (tests, private endpoints). ``None`` = derive from region."""

    monitoring: str | None = None
    telemetry_ingestion: str | None = None
    notification: str | None = None


@dataclass(frozen=True)
class MonitoringQuery:
    name: str
    namespace: str
    query: str
    compartment_id: str
    interval: float = 60.0
    resolution: str = "1m"
    resource_group: str | None = None
    window: float | None = None
    metric: str | None = None
    compartment_in_subtree: bool = False

    @property
    def mql_metric(self) -> str:
        match = _MQL_METRIC.match(self.query)
        return match.group(1) if match else ""

    @property
    def resolution_seconds(self) -> float:
        return mql_interval_seconds(self.resolution) or 60.0

    @property
    def lookback(self) -> float:
        """Seconds queried per poll. Overlaps the previous poll so late datapoints are
        picked up; re-sending a stored timestamp is harmless (the tsdb refuses it)."""
        if self.window is not None:
            return self.window
        res = self.resolution_seconds
        return max(3 * res, self.interval + 2 * res)


@dataclass(frozen=True)
class Backoff:
    initial: float = 30.0
    max: float = 600.0


@dataclass(frozen=True)
class MonitoringConfig:
    queries: tuple[MonitoringQuery, ...] = ()
    max_tps: float = 10.0
    backoff: Backoff = Backoff()
    max_series_per_query: int = 2000


@dataclass(frozen=True)
class AlarmsConfig:
    enabled: bool = False
    compartment_id: str = ""
    interval: float = 60.0
    compartment_in_subtree: bool = False
    page_limit: int = 1000
    max_pages: int = 10


@dataclass(frozen=True)
class OnsConfig:
    # Keys are Severity members or the string "default".
    topics: Mapping[Severity | str, str] = field(default_factory=dict)
    per_topic_per_minute: int = 60
    max_message_bytes: int = 65536


@dataclass(frozen=True)
class HeartbeatConfig:
    enabled: bool = False
    compartment_id: str = ""
    namespace: str = "triaged"
    interval: float = 60.0


@dataclass(frozen=True)
class OciConfig:
    auth: str = "config_file"
    config_file: str = "~/.oci/config"
    profile: str = "DEFAULT"
    region: str | None = None
    timeouts: Timeouts = Timeouts()
    auth_timeout: float = 10.0
    circuit_breaker: bool = True
    endpoints: Endpoints = Endpoints()
    monitoring: MonitoringConfig = MonitoringConfig()
    alarms: AlarmsConfig = AlarmsConfig()
    ons: OnsConfig | None = None
    heartbeat: HeartbeatConfig = HeartbeatConfig()


# -- helpers ---------------------------------------------------------------------------


def mql_interval_seconds(text: str) -> float | None:
    match = _MQL_INTERVAL.match(text.strip())
    if not match:
        return None
    unit = {"m": 60.0, "h": 3600.0, "d": 86400.0}[match.group(2)]
    return int(match.group(1)) * unit


def _fail(path: str, message: str, file: str | None) -> ConfigError:
    return ConfigError(f"{path}: {message}", file=file)


class _Reader:
    """Typed access to one mapping, raising ConfigError with the key path."""

    def __init__(self, raw: object, path: str, file: str | None) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise _fail(path, f"expected a mapping, got {type(raw).__name__}", file)
        self.raw: Mapping[str, Any] = raw
        self.path = path
        self.file = file

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def error(self, key: str, message: str) -> ConfigError:
        return _fail(self.at(key), message, self.file)

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.raw:
            if key not in allowed:
                raise self.error(str(key), f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.raw.get(key, default)
        if value is None:
            raise self.error(key, "required")
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "expected a non-empty string")
        return value.strip()

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

    def duration(self, key: str, default: float | None) -> float | None:
        value = self.raw.get(key, default)
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds is None or seconds <= 0:
            raise self.error(key, f"expected a duration like 60, 30s, 5m or 1h, got {value!r}")
        return seconds

    def sub(self, key: str) -> _Reader:
        return _Reader(self.raw.get(key), self.at(key), self.file)


def parse_duration(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match:
            return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    return None


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
    ons = notifiers.raw.get("ons")
    return OciConfig(
        auth=auth,
        config_file=r.text("config_file", "~/.oci/config"),
        profile=r.text("profile", "DEFAULT"),
        region=r.opt_text("region"),
        timeouts=parse_timeouts(r.sub("timeouts")),
        auth_timeout=r.duration("auth_timeout", 10.0) or 10.0,
        circuit_breaker=r.boolean("circuit_breaker", True),
        endpoints=parse_endpoints(r.sub("endpoints")),
        monitoring=parse_monitoring(r.raw.get("monitoring"), path=r.at("monitoring"), file=file),
        alarms=parse_alarms(r.raw.get("alarms"), path=r.at("alarms"), file=file),
        ons=None if ons is None else parse_ons(ons, path=notifiers.at("ons"), file=file),
        heartbeat=parse_heartbeat(r.raw.get("heartbeat"), path=r.at("heartbeat"), file=file),
    )


def parse_timeouts(r: _Reader) -> Timeouts:
    r.check_keys({"connect", "read"})
    return Timeouts(connect=r.duration("connect", 5.0) or 5.0, read=r.duration("read", 30.0) or 30.0)


def parse_endpoints(r: _Reader) -> Endpoints:
    r.check_keys({"monitoring", "telemetry_ingestion", "notification"})
    return Endpoints(
        monitoring=r.opt_text("monitoring"),
        telemetry_ingestion=r.opt_text("telemetry_ingestion"),
        notification=r.opt_text("notification"),
    )


def parse_monitoring(raw: object, *, path: str, file: str | None = None) -> MonitoringConfig:
    r = _Reader(raw, path, file)
    r.check_keys({"queries", "max_tps", "backoff", "max_series_per_query"})
    backoff = r.sub("backoff")
    backoff.check_keys({"initial", "max"})
    queries_raw = r.raw.get("queries") or []
    if not isinstance(queries_raw, list):
        raise r.error("queries", "expected a list")
    queries = tuple(
        parse_query(q, path=f"{r.at('queries')}[{i}]", file=file) for i, q in enumerate(queries_raw)
    )
    seen: set[str] = set()
    for i, q in enumerate(queries):
        if q.name in seen:
            raise _fail(f"{r.at('queries')}[{i}].name", f"duplicate query name {q.name!r}", file)
        seen.add(q.name)
    return MonitoringConfig(
        queries=queries,
        max_tps=r.number("max_tps", 10.0),
        backoff=Backoff(
            initial=backoff.duration("initial", 30.0) or 30.0,
            max=backoff.duration("max", 600.0) or 600.0,
        ),
        max_series_per_query=r.integer("max_series_per_query", 2000),
    )


def parse_query(raw: object, *, path: str, file: str | None = None) -> MonitoringQuery:
    r = _Reader(raw, path, file)
    r.check_keys(
        {"name", "namespace", "query", "compartment_id", "interval", "resolution",
         "resource_group", "window", "metric", "compartment_in_subtree"}
    )  # fmt: skip
    namespace = r.text("namespace")
    if not _CUSTOM_NAMESPACE.match(namespace):
        raise r.error("namespace", "must match ^[A-Za-z][A-Za-z0-9_]*$")
    query = r.text("query")
    if not _MQL_METRIC.match(query):
        raise r.error("query", "expected MQL like CpuUtilization[1m]{...}.mean()")
    resolution = r.text("resolution", "1m")
    res_seconds = mql_interval_seconds(resolution)
    if res_seconds is None or not 60 <= res_seconds <= 86400:
        raise r.error("resolution", f"expected 1m-60m, 1h-24h or 1d, got {resolution!r}")
    window = r.duration("window", None)
    max_days = max(d for s, d in _MAX_RANGE_DAYS.items() if s <= res_seconds)
    if window is not None and window > max_days * 86400:
        raise r.error("window", f"OCI allows at most {max_days} days at resolution {resolution}")
    return MonitoringQuery(
        name=r.text("name"),
        namespace=namespace,
        query=query,
        compartment_id=r.text("compartment_id"),
        interval=r.duration("interval", 60.0) or 60.0,
        resolution=resolution,
        resource_group=r.opt_text("resource_group"),
        window=window,
        metric=r.opt_text("metric"),
        compartment_in_subtree=r.boolean("compartment_in_subtree", False),
    )


def parse_alarms(raw: object, *, path: str, file: str | None = None) -> AlarmsConfig:
    r = _Reader(raw, path, file)
    r.check_keys(
        {"enabled", "compartment_id", "interval", "compartment_in_subtree", "page_limit",
         "max_pages"}
    )  # fmt: skip
    enabled = r.boolean("enabled", bool(r.raw))
    return AlarmsConfig(
        enabled=enabled,
        compartment_id=r.text("compartment_id") if enabled else "",
        interval=r.duration("interval", 60.0) or 60.0,
        compartment_in_subtree=r.boolean("compartment_in_subtree", False),
        page_limit=min(r.integer("page_limit", 1000), 1000),
        max_pages=r.integer("max_pages", 10),
    )


def parse_ons(raw: object, *, path: str, file: str | None = None) -> OnsConfig:
    r = _Reader(raw, path, file)
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


def parse_heartbeat(raw: object, *, path: str, file: str | None = None) -> HeartbeatConfig:
    r = _Reader(raw, path, file)
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
        interval=r.duration("interval", 60.0) or 60.0,
    )
