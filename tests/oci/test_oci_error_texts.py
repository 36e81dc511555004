"""OCI failures read as the request and its root cause, and one outage of a query is
one `source_failed` line (plus `source_recovered`), although every attempt has its
own opc-request-id and every poll inside the backoff its own countdown."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from triaged.app import build
from triaged.cloud.clients import ClientFactory
from triaged.cloud.config import MonitoringQuery
from triaged.cloud.ratelimit import TokenBucket
from triaged.config import parse_config
from triaged.model import Severity
from triaged.notifiers.base import Event, Message, NotifyError
from triaged.notifiers.oci_ons import OnsNotifier
from triaged.sources.oci_monitoring import OciMonitoringSource
from triaged.testing.clock import FakeClock
from triaged.testing.fake_oci import FakeCredentials, FakeOci
from triaged.yamlfile import load_yaml_text

COMPARTMENT = "ocid1.compartment.oc1..aaaatest"
TOPIC = "ocid1.onstopic.oc1..aaaap1"


def closed_port() -> int:
    with socket.socket() as sock:  # free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_monitoring_call_says_so_in_full(make_cfg: Any) -> None:
    port = closed_port()
    factory = ClientFactory(make_cfg(endpoints={"monitoring": f"http://127.0.0.1:{port}"}))
    query = MonitoringQuery(name="api_cpu", namespace="ns", query="M[1m].mean()", compartment_id=COMPARTMENT)
    got = OciMonitoringSource(query, factory.monitoring, TokenBucket(10, 10)).collect(1_790_000_000.0)
    # The query string (compartment OCID) is left out; the reason is not cut off.
    assert got.error == (
        f"oci query api_cpu: POST http://127.0.0.1:{port}/20180401/metrics/actions/summarizeMetricsData:"
        " connection refused"
    )


def test_a_refused_ons_publish_names_the_request_and_the_reason(make_cfg: Any) -> None:
    port = closed_port()
    factory = ClientFactory(make_cfg(endpoints={"notification": f"http://127.0.0.1:{port}"}))
    ons = OnsNotifier("pager", {Severity.P1: TOPIC, "default": TOPIC}, factory.notification)
    page = Message(
        dedup_key="incident-1-open", event=Event.OPEN, incident_id=1, severity=Severity.P1,
        title="[P1] down", body="down", service="shop", started_at=1_790_000_000.0,
    )  # fmt: skip
    with pytest.raises(NotifyError) as info:
        ons.send(page)
    assert str(info.value) == (
        f"ons topic {TOPIC}: POST http://127.0.0.1:{port}/20181201/topics/{TOPIC}/messages: connection refused"
    )


def daemon_config(tmp_path: Path, fake: FakeOci, creds: FakeCredentials, extra: str = "") -> Any:
    (tmp_path / "r.yml").write_text("groups: []\n")
    text = f"""
storage: {{db: triaged.db}}
rule_files: [r.yml]
notifiers: [{{name: log, type: log}}]
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
        query: 'CpuUtilization[1m].mean()'
        compartment_id: {COMPARTMENT}
        interval: 10s
{extra}"""
    path = tmp_path / "triaged.yaml"
    path.write_text(text)
    return parse_config(load_yaml_text(text, str(path)), str(path))


@pytest.mark.usefixtures("default_logging")  # an earlier test may have set a higher level
def test_one_throttling_outage_is_one_source_failed_line(
    tmp_path: Path, fake: FakeOci, creds: FakeCredentials
) -> None:
    clock = FakeClock(1_790_000_000.0)
    fake.fail_next(3, 429, retry_after=15)
    daemon = build(daemon_config(tmp_path, fake, creds), clock=clock)
    errors: list[str] = []
    try:
        with capture_logs() as logs:
            for step in range(100):  # every 10 s: three 429s, polls backing off, then an answer
                report = daemon.cycle(clock.now() + 10 * step)
                errors.append(report.errors.get("oci/monitoring/api_cpu", ""))
                if len(fake.calls("summarizeMetricsData")) == 4:
                    break
    finally:
        daemon.close()
        daemon.store.close()
    assert len(fake.calls("summarizeMetricsData")) == 4  # three refused, then one answered
    assert sum("backing off" in e for e in errors) >= 2
    assert len({e for e in errors if e}) > 2, "the texts differ (request ids, countdowns)"
    events = [e for e in logs if e.get("source") == "oci/monitoring/api_cpu"]
    assert [e["event"] for e in events] == ["source_failed", "source_recovered"]
    assert "HTTP 429 TooManyRequests" in events[0]["error"]


@pytest.mark.usefixtures("default_logging")
def test_one_alarms_outage_is_one_source_failed_line(
    tmp_path: Path, fake: FakeOci, creds: FakeCredentials
) -> None:
    clock = FakeClock(1_790_000_000.0)
    alarms = f"  alarms: {{compartment_id: {COMPARTMENT}, interval: 10s}}\n"
    daemon = build(daemon_config(tmp_path, fake, creds, alarms), clock=clock)
    key = f"oci/alarms/{COMPARTMENT}"
    try:
        daemon.cycle(clock.now())  # both answer once
        fake.fail_next(6, 503, code="ServiceUnavailable")
        with capture_logs() as logs:
            for step in range(1, 100):
                report = daemon.cycle(clock.now() + 10 * step)
                if step > 3 and key not in report.errors:
                    break
    finally:
        daemon.close()
        daemon.store.close()
    events = [e["event"] for e in logs if e.get("source") == key]
    assert events == ["source_failed", "source_recovered"]
