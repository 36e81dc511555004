"""The whole path through the real daemon: OCI Monitoring query → series → rule →
incident → page published to an ONS topic, all with the real SDK against the fake."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from triaged.app import build
from triaged.cli import cli
from triaged.config import parse_config
from triaged.runner import Runner
from triaged.service.selfmetrics import SelfMetrics, ServiceStats
from triaged.simulator import Simulator
from triaged.store import incidents as incident_rows
from triaged.testing.clock import FakeClock
from triaged.testing.fake_oci import FakeCredentials, FakeOci
from triaged.yamlfile import load_yaml_text

COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaatriagedtest"
PAGER = "ocid1.onstopic.oc1.ap-mumbai-1.aaaaaaaapager"
TEAM = "ocid1.onstopic.oc1.ap-mumbai-1.aaaaaaaateam"

RULES = """
groups:
  - name: oci
    rules:
      - alert: ApiCpuHigh
        expr: max by (resourceDisplayName) (oci_computeagent_cpu_utilization{query="api_cpu"}) > 90
        labels: {severity: P1, service: bharatmart-api}
        annotations:
          summary: "BharatMart: CPU {{ $value }}% on {{ $labels.resourceDisplayName }}"
"""


def query(name: str, resource: str = "api-1") -> str:
    return f"""
      - name: {name}
        namespace: oci_computeagent
        query: 'CpuUtilization[1m]{{resourceDisplayName = "{resource}"}}.mean()'
        compartment_id: {COMPARTMENT}
        interval: 60s"""


def daemon_config(
    tmp_path: Path,
    fake: FakeOci,
    creds: FakeCredentials,
    *,
    queries: str = "",
    extra: str = "",
    read: str = "2s",
    per_topic: int = 60,
) -> Any:
    (tmp_path / "oci.rules.yml").write_text(RULES)
    text = f"""
storage: {{db: triaged.db}}
rule_files: [oci.rules.yml]
evaluation_interval: 60s
notifiers:
  - {{name: pager, type: ons}}
{extra}
oci:
  auth: config_file
  config_file: {creds.config_file}
  profile: {creds.profile}
  timeouts: {{connect: 2s, read: {read}}}
  endpoints: {{monitoring: "{fake.url}", notification: "{fake.url}"}}
  monitoring:
    queries:{queries or query("api_cpu")}
  notifiers:
    ons:
      topics: {{P0: {PAGER}, P1: {PAGER}, default: {TEAM}}}
      per_topic_per_minute: {per_topic}
"""
    path = tmp_path / "triaged.yaml"
    path.write_text(text)
    return parse_config(load_yaml_text(text, str(path)), str(path))


def test_oci_metric_crossing_a_threshold_pages_through_ons(
    tmp_path: Path, fake: FakeOci, creds: FakeCredentials
) -> None:
    clock = FakeClock(1_790_000_000.0)
    now = clock.now()
    fake.add_stream(
        "oci_computeagent", "CpuUtilization", {"resourceDisplayName": "api-1"},
        [(now - 120, 55.0), (now - 60, 97.5)], compartment_id=COMPARTMENT,
    )  # fmt: skip
    daemon = build(daemon_config(tmp_path, fake, creds), clock=clock)
    try:
        report = daemon.cycle(now)
        assert report.errors == {}
        (incident,) = incident_rows.list_incidents(daemon.store)
        assert incident.severity.name == "P1"
        assert incident.service == "bharatmart-api"
        assert report.delivered == 1
        (published,) = fake.published
        assert published.topic_id == PAGER
        assert published.title.startswith("[P1] BharatMart: CPU 97.5% on api-1")
        assert f"triaged incidents ack {incident.id}" in published.body
        assert all(r.verified for r in fake.requests)
    finally:
        daemon.close()
        daemon.store.close()


def test_the_ons_topic_limit_counts_on_the_daemons_clock(
    tmp_path: Path, fake: FakeOci, creds: FakeCredentials
) -> None:
    """One page a minute to the pager topic: the open page at T fills the window, and
    the resolve page, due minutes later on the daemon's clock, goes out at once. On a
    clock of its own (wall time, milliseconds later) the topic would still look full."""
    clock = FakeClock(1_790_000_000.0)
    now = clock.now()
    stream = fake.add_stream(
        "oci_computeagent", "CpuUtilization", {"resourceDisplayName": "api-1"},
        [(now - 120, 55.0), (now - 60, 97.5)], compartment_id=COMPARTMENT,
    )  # fmt: skip
    cfg = daemon_config(tmp_path, fake, creds, per_topic=1, extra="incidents: {resolve_hold: 60s}")
    daemon = build(cfg, clock=clock)
    try:
        assert daemon.cycle(now).delivered == 1
        fake.add_points(stream, [(now + 60 * i, 12.0) for i in range(6)])
        for _ in range(5):
            clock.advance(60.0)
            daemon.cycle(clock.now())
        opened, resolved = fake.published
        assert opened.title.startswith("[P1] BharatMart") and resolved.title.startswith("[P1][RESOLVED]")
    finally:
        daemon.close()
        daemon.store.close()


def test_building_a_daemon_without_oci_config_never_imports_the_sdk(tmp_path: Path) -> None:
    """The oci SDK takes seconds to import; a daemon without OCI must not pay for it."""
    import subprocess

    (tmp_path / "t.yaml").write_text("storage: {db: t.db}\nrule_files: []\n")
    code = (
        "import sys; from triaged.app import build; from triaged.config import load_config;"
        f"build(load_config({str(tmp_path / 't.yaml')!r})).close();"
        "assert 'oci' not in sys.modules, 'oci imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_more_queries_than_max_tps_are_all_polled_within_seconds_not_starved(
    tmp_path: Path, fake: FakeOci, creds: FakeCredentials
) -> None:
    """OCI allows 10 calls a second; 25 queries due at once take three cycles. Before,
    a query skipped by the limit waited a whole interval and lost again: forever."""
    clock = FakeClock(1_790_000_000.0)
    queries = "".join(query(f"q{i:02d}", f"api-{i}") for i in range(25))
    daemon = build(daemon_config(tmp_path, fake, creds, queries=queries), clock=clock)
    try:
        for step in range(3):
            daemon.cycle(clock.now() + step)
        asked = [json.loads(r.body)["query"] for r in fake.calls("summarizeMetricsData")]
        assert len(asked) == 25 and len(set(asked)) == 25
        daemon.cycle(clock.now() + 30)  # and not again before their interval
        assert len(fake.calls("summarizeMetricsData")) == 25
    finally:
        daemon.close()
        daemon.store.close()


def test_a_hung_oci_call_does_not_hold_up_scrapes_and_rules(
    tmp_path: Path, fake: FakeOci, creds: FakeCredentials
) -> None:
    with Simulator(seed=3) as sim:
        target = f"targets:\n  - {{job: bharatmart, url: '{sim.url}/metrics', interval: 15s, timeout: 2s}}"
        cfg = daemon_config(tmp_path, fake, creds, extra=target, read="6s")
        fake.hang_next(1, path_contains="summarizeMetricsData")
        clock = FakeClock(1_790_000_000.0)
        daemon = build(cfg, clock=clock)
        try:
            started = time.monotonic()
            report = daemon.cycle(clock.now())
            assert time.monotonic() - started < 4  # not the 6 s read timeout
            assert [k for k in report.scraped if k.startswith("scrape/")] != []
            assert report.evaluated
            (oci_source,) = [s for s in daemon.sources if s.key == "oci/monitoring/api_cpu"]
            again = daemon.cycle(clock.now() + 1)  # still running: not asked twice
            assert oci_source.polls == 1  # type: ignore[attr-defined]
            assert not any(k.startswith("oci/") for k in again.scraped)
            time.sleep(max(0.0, started + 6.5 - time.monotonic()))
            late = daemon.cycle(clock.now() + 2)  # the timed-out call is stored now
            assert "oci/monitoring/api_cpu" in late.errors
            assert "timed out" in late.errors["oci/monitoring/api_cpu"]
        finally:
            daemon.close()
            daemon.store.close()


def test_revised_and_late_datapoints_replace_and_fill_in_the_stored_series(
    tmp_path: Path, fake: FakeOci, creds: FakeCredentials
) -> None:
    """OCI answers a minute still being ingested with a partial value, then the final
    one at the same time; a minute whose window was empty appears a poll later, older
    than the newest point held. The tsdb ends up holding what OCI holds."""
    clock = FakeClock(1_790_000_000.0)
    now = clock.now()
    stream = fake.add_stream(
        "oci_computeagent", "CpuUtilization", {"resourceDisplayName": "api-1"},
        [(now - 180, 30.0), (now - 60, 50.0)], compartment_id=COMPARTMENT,
    )  # fmt: skip
    daemon = build(daemon_config(tmp_path, fake, creds), clock=clock)
    cpu = 'oci_computeagent_cpu_utilization{query="api_cpu"}'
    try:
        assert daemon.cycle(now).errors == {}
        fake.set_point(stream, now - 60, 95.5)  # the partial minute, complete now
        fake.set_point(stream, now - 120, 40.0)  # ingested late: was an empty window
        fake.set_point(stream, now, 60.0)
        later = now + 60
        assert daemon.cycle(later).errors == {}
        assert len(fake.calls("summarizeMetricsData")) == 2

        (series,) = [s for s in daemon.storage if s.labels.name == "oci_computeagent_cpu_utilization"]
        assert series.timestamps == [int(t * 1000) for t in (now - 180, now - 120, now - 60, now)]
        assert series.values == [30.0, 40.0, 95.5, 60.0]
        storage = daemon.storage
        assert (storage.revised_samples, storage.inserted_samples, storage.rejected_samples) == (1, 1, 0)
        shown = SelfMetrics(Runner(daemon), ServiceStats()).render().decode()
        assert "triaged_tsdb_samples_revised_total 1.0" in shown
        assert "triaged_tsdb_samples_inserted_total 1.0" in shown
        peak = daemon.query(f"max_over_time({cpu}[5m])", later)
        assert [value for _, value in peak] == [95.5]
        assert [value for _, value in daemon.query(f"count_over_time({cpu}[5m])", later)] == [4]
    finally:
        daemon.close()
        daemon.store.close()


def test_query_cli_with_the_config_sees_oci_datapoints(
    tmp_path: Path, fake: FakeOci, creds: FakeCredentials
) -> None:
    now = time.time()
    fake.add_stream(
        "oci_computeagent", "CpuUtilization", {"resourceDisplayName": "api-1"},
        [(now - 120, 30.0), (now - 60, 87.5)], compartment_id=COMPARTMENT,
    )  # fmt: skip
    daemon_config(tmp_path, fake, creds)
    expr = 'max_over_time(oci_computeagent_cpu_utilization{query="api_cpu"}[5m])'
    got = CliRunner().invoke(cli, ["query", expr, "--config", str(tmp_path / "triaged.yaml"), "--json"])
    assert got.exit_code == 0, got.output
    (row,) = json.loads(got.output)
    assert float(row["value"][1] if isinstance(row["value"], list) else row["value"]) == 87.5
