"""Typed OCI settings, parsed once from the ``oci:`` section of the config file.

:mod:`triaged.cloud.parse_config` reads them; its errors name the file, line and key
path, e.g. ``triaged.yaml:41: oci.monitoring.queries[2].resolution: ...``. Durations are
Prometheus durations with a unit (``30s``, ``5m``), as everywhere in the config. The
YAML shape::

    oci:
      auth: config_file            # instance_principal | config_file | resource_principal
      config_file: ~/.oci/config   # config_file auth only
      profile: DEFAULT             # config_file auth only
      region: ap-mumbai-1          # optional with config_file (taken from the profile)
      timeouts: {connect: 5s, read: 30s}
      auth_timeout: 10s            # wall-clock bound on instance principal start-up
      circuit_breaker: true        # one breaker per client, never the SDK's shared one
      endpoints: {monitoring: ..., telemetry_ingestion: ..., notification: ...}
      monitoring:
        max_tps: 10                # OCI allows 10 TPS per tenancy for these calls
        backoff: {initial: 30s, max: 10m}
        queries:
          - name: api_cpu
            namespace: oci_computeagent
            query: CpuUtilization[1m]{resourceId = "ocid1.instance..."}.mean()
            compartment_id: ocid1.compartment...
            interval: 1m
            resolution: 1m
            resource_group: null
            window: null           # lookback; default max(3 x res, interval + 2 x res)
            metric: null           # override the Prometheus metric name
      alarms: {enabled: true, compartment_id: ..., interval: 1m, compartment_in_subtree: false}
      notifiers:
        ons:
          topics: {P0: ocid1.onstopic..., P1: ..., default: ...}
          per_topic_per_minute: 60   # in any 60 s; 10 if a topic has an email subscription
          max_message_bytes: 65536
      heartbeat: {enabled: true, compartment_id: ..., namespace: triaged, interval: 1m}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from triaged.model import Severity

AUTH_MODES = ("instance_principal", "config_file", "resource_principal")

# The MQL metric name is everything before the interval bracket: ``CpuUtilization[1m]...``.
_MQL_METRIC = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_.\-]*)\s*\[\s*([^\]]*?)\s*\]")
_MQL_INTERVAL = re.compile(r"^(\d+)([mhd])$")
# What OCI accepts as an MQL interval and as a resolution: 1m-60m, 1h-24h or 1d.
_MQL_UNIT_RANGE = {"m": (60.0, 60), "h": (3600.0, 24), "d": (86400.0, 1)}


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
        return mql_metric(self.query)

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


def mql_metric(query: str) -> str:
    """The metric an MQL query reads; empty if the query does not start like one."""
    match = _MQL_METRIC.match(query)
    return match.group(1) if match else ""


def mql_query_interval(query: str) -> str:
    """The ``[interval]`` of an MQL query as written (``5m``); empty if there is none."""
    match = _MQL_METRIC.match(query)
    return match.group(2) if match else ""


def mql_interval_seconds(text: str) -> float | None:
    """Seconds of an MQL interval or resolution; None unless OCI accepts it."""
    match = _MQL_INTERVAL.match(text.strip())
    if not match:
        return None
    unit, most = _MQL_UNIT_RANGE[match.group(2)]
    count = int(match.group(1))
    return count * unit if 1 <= count <= most else None
