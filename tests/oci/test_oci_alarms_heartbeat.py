"""Firing OCI alarms as series, and triaged's own heartbeat as custom metrics."""

from __future__ import annotations

import time
from typing import Any

import pytest

from triaged.cloud.clients import ClientFactory
from triaged.cloud.config import AlarmsConfig, HeartbeatConfig
from triaged.cloud.heartbeat import Heartbeat
from triaged.cloud.ratelimit import Backoff, TokenBucket
from triaged.model import Labels
from triaged.sources.oci_alarms import OciAlarmsSource
from triaged.testing.fake_oci import FakeOci
from triaged.tsdb import Storage

COMPARTMENT = "ocid1.compartment.oc1..aaaatest"


def alarm(i: int, severity: str = "CRITICAL", status: str = "FIRING") -> dict[str, Any]:
    return {
        "id": f"ocid1.alarm.oc1..a{i}", "displayName": f"Alarm {i}", "severity": severity,
        "status": status, "ruleName": "BASE", "timestampTriggered": "2026-11-27T10:00:00Z",
    }  # fmt: skip


def firing(labels_values: list[tuple[Labels, float]]) -> dict[str, str]:
    return {
        lbl.get("alarm_id"): lbl.get("severity")
        for lbl, v in labels_values
        if lbl.name == "oci_alarm_firing" and v == 1.0
    }


@pytest.fixture
def source(factory: ClientFactory) -> OciAlarmsSource:
    cfg = AlarmsConfig(enabled=True, compartment_id=COMPARTMENT, interval=60, page_limit=2)
    return OciAlarmsSource(cfg, factory.monitoring, TokenBucket(10, 10), backoff=Backoff(30, 30))


def test_firing_alarms_across_pages_become_series(fake: FakeOci, source: OciAlarmsSource) -> None:
    fake.set_alarms([alarm(1), alarm(2, "WARNING"), alarm(3, "INFO"), alarm(4, status="OK"),
                     alarm(5, "ERROR")])  # fmt: skip
    got = source.collect(time.time())
    assert got.error is None
    assert firing(got.samples) == {
        "ocid1.alarm.oc1..a1": "critical", "ocid1.alarm.oc1..a2": "warning",
        "ocid1.alarm.oc1..a3": "info", "ocid1.alarm.oc1..a5": "error",
    }  # fmt: skip
    calls = fake.calls("/alarms/status")
    assert len(calls) == 2  # page size 2, four FIRING rows
    assert calls[0].query["status"] == ["FIRING"] and "page" not in calls[0].query
    assert calls[1].query["page"] == ["2"]
    (labels,) = [lbl for lbl, _ in got.samples if lbl.get("alarm_id") == "ocid1.alarm.oc1..a1"]
    assert labels.get("alarm") == "Alarm 1" and labels.get("compartment_id") == COMPARTMENT
    assert (Labels.of(__name__="oci_alarms_up", compartment_id=COMPARTMENT), 1.0) in got.samples


def test_cleared_alarm_goes_stale_in_the_tsdb(fake: FakeOci, source: OciAlarmsSource) -> None:
    storage = Storage()
    now = time.time()
    fake.set_alarms([alarm(1), alarm(2)])
    first = source.collect(now)
    storage.append_batch(source.key, first.samples, first.t_ms)
    fake.set_alarms([alarm(2)])
    second = source.collect(now + 60)
    storage.append_batch(source.key, second.samples, second.t_ms)
    (gone,) = [s for s in storage if s.labels.get("alarm_id") == "ocid1.alarm.oc1..a1"]
    assert gone.values[0] == 1.0 and gone.values[-1] != gone.values[-1]  # stale NaN


def test_no_sdk_retries_and_last_answer_held_on_failure(fake: FakeOci, source: OciAlarmsSource) -> None:
    now = time.time()
    fake.set_alarms([alarm(1)])
    source.collect(now)
    fake.fail_next(1, 503)
    started = time.monotonic()
    got = source.collect(now + 60)
    assert time.monotonic() - started < 1  # the SDK's default strategy would sleep
    assert len(fake.calls("/alarms/status")) == 2  # exactly one attempt
    assert got.error is not None and "503" in got.error
    # A failed poll must not look like "everything cleared".
    assert firing(got.samples) == {"ocid1.alarm.oc1..a1": "critical"}
    assert (Labels.of(__name__="oci_alarms_up", compartment_id=COMPARTMENT), 0.0) in got.samples
    held = source.collect(now + 70)  # backing off: no request, still held
    assert len(fake.calls("/alarms/status")) == 2 and firing(held.samples)
    fake.fail_next(1, 503)
    still = source.collect(now + 1800)  # a long outage: still held, no false "resolved"
    assert still.error is not None and firing(still.samples) == {"ocid1.alarm.oc1..a1": "critical"}
    fake.set_alarms([])
    cleared = source.collect(now + 1900)  # OCI answers again: now the alarm may clear
    assert cleared.error is None and firing(cleared.samples) == {}


def test_page_cap_is_reported(fake: FakeOci, factory: ClientFactory) -> None:
    fake.set_alarms([alarm(i) for i in range(7)])
    cfg = AlarmsConfig(enabled=True, compartment_id=COMPARTMENT, page_limit=2, max_pages=2)
    got = OciAlarmsSource(cfg, factory.monitoring).collect(time.time())
    assert len(firing(got.samples)) == 4
    assert got.error is not None and "max_pages" in got.error


def test_heartbeat_posts_custom_metrics(fake: FakeOci, factory: ClientFactory) -> None:
    cfg = HeartbeatConfig(enabled=True, compartment_id=COMPARTMENT, namespace="triaged")
    beat = Heartbeat(cfg, factory.ingestion, host="triaged-1", open_incidents=lambda: 3)
    now = time.time()
    assert beat.beat(now) is None
    posted = {m["name"]: m for m in fake.posted_metrics}
    assert set(posted) == {"heartbeat", "open_incidents"}
    hb = posted["heartbeat"]
    assert hb["namespace"] == "triaged" and hb["compartmentId"] == COMPARTMENT
    assert hb["dimensions"] == {"host": "triaged-1", "service": "triaged"}
    assert hb["datapoints"][0]["value"] == 1.0
    assert posted["open_incidents"]["datapoints"][0]["value"] == 3.0
    assert fake.calls("/20180401/metrics")[0].json()["batchAtomicity"] == "NON_ATOMIC"


def test_heartbeat_failure_is_reported_not_raised(fake: FakeOci, factory: ClientFactory) -> None:
    cfg = HeartbeatConfig(enabled=True, compartment_id=COMPARTMENT)
    beat = Heartbeat(cfg, factory.ingestion, host="h")
    fake.fail_next(1, 500, path_contains="/20180401/metrics")
    error = beat.beat(time.time())
    assert error is not None and "500" in error
    assert beat.errors_by_kind["server"] == 1
