"""Builds the OCI parts (Monitoring and alarm sources, ONS notifier, heartbeat) from
the ``oci:`` config section. Kept apart from app.py so that a config without OCI never
imports any of it, and the ``oci`` SDK itself is imported only when a client is made.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from triaged.clock import Clock
from triaged.cloud.clients import ClientFactory
from triaged.cloud.config import OciConfig
from triaged.cloud.heartbeat import Heartbeat
from triaged.cloud.parse_config import parse_oci_config
from triaged.config import Config, NotifierConfig
from triaged.errors import ConfigError
from triaged.notifiers.oci_ons import OnsNotifier
from triaged.sources.base import Source
from triaged.sources.oci_alarms import OciAlarmsSource
from triaged.sources.oci_monitoring import build_sources


@dataclass
class OciParts:
    cfg: OciConfig
    factory: ClientFactory
    sources: list[Source] = field(default_factory=list)
    heartbeat: Callable[[float], str | None] | None = None


def oci_config(cfg: Config) -> OciConfig | None:
    if cfg.oci is None:
        return None
    return parse_oci_config(cfg.oci, file=cfg.path)


def build_oci(cfg: Config, open_incidents: Callable[[], int]) -> OciParts | None:
    oci_cfg = oci_config(cfg)
    if oci_cfg is None:
        return None
    factory = ClientFactory(oci_cfg)
    mon = oci_cfg.monitoring
    sources: list[Source] = list(
        build_sources(
            mon.queries,
            factory.monitoring,
            max_tps=mon.max_tps,
            backoff_initial=mon.backoff.initial,
            backoff_max=mon.backoff.max,
            max_series=mon.max_series_per_query,
        )
    )
    if oci_cfg.alarms.enabled:
        sources.append(OciAlarmsSource(oci_cfg.alarms, factory.monitoring))
    parts = OciParts(cfg=oci_cfg, factory=factory, sources=sources)
    if oci_cfg.heartbeat.enabled:
        beat = Heartbeat(
            oci_cfg.heartbeat, factory.ingestion, host=socket.gethostname(), open_incidents=open_incidents
        )
        parts.heartbeat = beat.beat
    return parts


def ons_notifier(
    n: NotifierConfig, parts: OciParts | None, file: str, *, clock: Clock | None = None
) -> OnsNotifier:
    """A ``type: ons`` notifier publishes to the topics of ``oci.notifiers.ons``."""
    if parts is None or parts.cfg.ons is None:
        raise ConfigError(
            f"notifier {n.name!r} is type ons, but oci.notifiers.ons.topics is not set", file=file
        )
    ons = parts.cfg.ons
    return OnsNotifier(
        n.name,
        ons.topics,
        parts.factory.notification,
        per_topic_per_minute=ons.per_topic_per_minute,
        max_message_bytes=ons.max_message_bytes,
        clock=clock,
    )
