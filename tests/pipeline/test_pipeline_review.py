"""On-call review of the alert pipeline after rule evaluation: routing, muting,
flapping, escalation, re-pages and reopen, driven through a real daemon on a fake
clock (real SQLite file, real rule evaluation, real webhook on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.harness import BASE, T0, Harness, Metrics, webhook
from triaged.app import Daemon, build
from triaged.config import parse_config
from triaged.model import Severity
from triaged.store import incidents as rows
from triaged.testing.clock import FakeClock
from triaged.testing.crashloop import ScriptedSource
from triaged.testing.receiver import RecordingReceiver
from triaged.yamlfile import load_yaml_text

MakeDaemon = Callable[[str, str], Harness]


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[MakeDaemon]:
    """Like ``make_harness``, with the rule file given by the test."""
    made: list[Daemon] = []

    def make(rules_text: str, extra: str) -> Harness:
        rules = tmp_path / "review.rules.yml"
        rules.write_text(rules_text)
        text = BASE.format(db=tmp_path / "triaged.db", rules=rules) + extra
        path = str(tmp_path / "triaged.yaml")
        cfg = parse_config(load_yaml_text(text, path), path)
        metrics = Metrics()
        clock = FakeClock(T0)
        daemon = build(cfg, clock=clock, sources=[ScriptedSource("scripted", 1.0, metrics.samples)])
        made.append(daemon)
        return Harness(daemon, clock, metrics)

    yield make
    for d in made:
        d.close()
        d.store.close()


def keys(r: RecordingReceiver) -> list[str]:
    return [p["dedupKey"] for p in r.payloads()]


TWO_LEVELS = """
groups:
  - name: latency
    rules:
      - alert: HighLatency
        expr: svc_latency > 1
        labels: {severity: warning}
      - alert: HighLatency
        expr: svc_latency > 5
        labels: {severity: critical}
"""


def test_a_critical_returning_while_its_warning_flaps_is_paged(
    make_daemon: MakeDaemon, receiver: RecordingReceiver
) -> None:
    """HighLatency at warning (P2) flaps, so its reopens stop paging; then the latency
    reaches the critical HighLatency (P0) of the same name. That reopen raises the
    incident to P0 and must page: before, it was swallowed as one more flap."""
    flap = "flap: {window: 1h, threshold: 3}\n"
    h = make_daemon(TWO_LEVELS, "notifiers:\n" + webhook("pager", receiver.url) + flap)
    for _ in range(4):
        h.metrics.set("svc_latency", "api", 2)
        h.run(20, step=2)
        h.metrics.set("svc_latency", "api", 0)
        h.run(20, step=2)
    assert keys(receiver)[-1] == "triaged-1-resolve-1"  # the flapping warning went quiet
    h.metrics.set("svc_latency", "api", 9)
    h.run(10, step=2)
    (incident,) = rows.list_incidents(h.store)
    assert incident.severity is Severity.P0 and incident.is_open
    assert keys(receiver)[-1] == "triaged-1-reopen-4"
    assert receiver.payloads()[-1]["title"].startswith("[P0]")
    h.metrics.set("svc_latency", "api", 0)
    h.run(20, step=2)
    assert keys(receiver)[-1] == "triaged-1-resolve-4"  # its end is told as well
