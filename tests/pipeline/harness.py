"""A real daemon on a fake clock: real SQLite file, real rule evaluation, real HTTP
receivers on 127.0.0.1. Only the metrics source is scripted (set values by hand)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from triaged.app import Daemon, build
from triaged.config import parse_config
from triaged.model import Labels
from triaged.testing.clock import FakeClock
from triaged.testing.crashloop import ScriptedSource
from triaged.testing.receiver import RecordingReceiver
from triaged.yamlfile import load_yaml_text

T0 = 1_700_000_000.0

RULES = """
groups:
  - name: svc
    rules:
      - alert: ServiceDown
        expr: svc_down > 0
        labels: {severity: P0}
        annotations: {summary: "{{ $labels.service }} is down"}
      - alert: HighLatency
        expr: svc_latency > 1
        labels: {severity: P1}
        annotations: {summary: "{{ $labels.service }} is slow"}
      - alert: ErrorsRising
        expr: svc_errors > 0
        labels: {severity: P2}
      - alert: DiskFilling
        expr: svc_disk > 0.9
        labels: {severity: P3}
"""

BASE = """
storage: {{db: "{db}"}}
evaluation_interval: 1s
rule_files: ["{rules}"]
incidents: {{group_by: [service], resolve_hold: 10s, reopen_window: 60s}}
outbox: {{base_backoff: 2s, max_backoff: 60s, lease: 30s}}
"""


class Metrics:
    """What the scripted source reports: ``set("svc_down", "api", 1)``."""

    def __init__(self) -> None:
        self.values: dict[Labels, float] = {}

    def set(self, metric: str, service: str, value: float, **labels: str) -> None:
        self.values[Labels.of(__name__=metric, service=service, **labels)] = value

    def samples(self, now: float) -> list[tuple[Labels, float]]:
        return list(self.values.items())


class Harness:
    def __init__(self, daemon: Daemon, clock: FakeClock, metrics: Metrics) -> None:
        self.daemon = daemon
        self.clock = clock
        self.metrics = metrics

    @property
    def store(self) -> Any:
        return self.daemon.store

    def run(self, seconds: float, step: float = 1.0) -> None:
        """Cycle every ``step`` seconds of fake time for ``seconds``."""
        end = self.clock.t + seconds
        while self.clock.t < end:
            self.clock.advance(step)
            self.daemon.cycle(self.clock.t)

    def timeline_kinds(self, incident_id: int) -> list[str]:
        from triaged.store import incidents as rows

        return [r["kind"] for r in rows.timeline(self.store, incident_id)]


MakeHarness = Callable[..., Harness]


@pytest.fixture
def receiver() -> Iterator[RecordingReceiver]:
    with RecordingReceiver() as r:
        yield r


@pytest.fixture
def make_harness(tmp_path: Path) -> Iterator[MakeHarness]:
    made: list[Daemon] = []

    def make(
        extra: str = "", *, db: Path | None = None, clock: FakeClock | None = None, rules_text: str = RULES
    ) -> Harness:
        rules = tmp_path / "svc.rules.yml"
        rules.write_text(rules_text)
        text = BASE.format(db=db or tmp_path / "triaged.db", rules=rules) + extra
        cfg = parse_config(
            load_yaml_text(text, str(tmp_path / "triaged.yaml")), str(tmp_path / "triaged.yaml")
        )
        metrics = Metrics()
        clock = clock or FakeClock(T0)
        daemon = build(cfg, clock=clock, sources=[ScriptedSource("scripted", 1.0, metrics.samples)])
        made.append(daemon)
        return Harness(daemon, clock, metrics)

    yield make
    for d in made:
        d.close()
        d.store.close()


def webhook(name: str, url: str) -> str:
    return f'  - {{name: {name}, type: webhook, url: "{url}", timeout: 2s}}\n'
