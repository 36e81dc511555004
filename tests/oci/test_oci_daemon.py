"""The whole path through the real daemon: OCI Monitoring query → series → rule →
incident → page published to an ONS topic, all with the real SDK against the fake."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from triaged.app import build
from triaged.config import parse_config
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


def daemon_config(tmp_path: Path, fake: FakeOci, creds: FakeCredentials) -> Any:
    (tmp_path / "oci.rules.yml").write_text(RULES)
    text = f"""
storage: {{db: triaged.db}}
rule_files: [oci.rules.yml]
evaluation_interval: 60s
notifiers:
  - {{name: pager, type: ons}}
oci:
  auth: config_file
  config_file: {creds.config_file}
  profile: {creds.profile}
  timeouts: {{connect: 2s, read: 2s}}
  endpoints: {{monitoring: "{fake.url}", notification: "{fake.url}"}}
  monitoring:
    queries:
      - name: api_cpu
        namespace: oci_computeagent
        query: 'CpuUtilization[1m]{{resourceDisplayName = "api-1"}}.mean()'
        compartment_id: {COMPARTMENT}
        interval: 60s
  notifiers:
    ons:
      topics: {{P0: {PAGER}, P1: {PAGER}, default: {TEAM}}}
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
