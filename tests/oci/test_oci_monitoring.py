"""OCI Monitoring queries → series in the real tsdb, through the real SDK."""

from __future__ import annotations

import math
import random
import time
from typing import Any

import pytest

from triaged.cloud.clients import ClientFactory, ingestion_endpoint
from triaged.cloud.config import Endpoints, MonitoringQuery
from triaged.cloud.ratelimit import Backoff, TokenBucket
from triaged.model import Labels
from triaged.sources.base import Collected
from triaged.sources.oci_monitoring import OciMonitoringSource, label_name, metric_name
from triaged.testing.fake_oci import FakeOci
from triaged.tsdb import Storage

COMPARTMENT = "ocid1.compartment.oc1..aaaatest"
INSTANCE = "ocid1.instance.oc1..aaaaapi"
QUERY = MonitoringQuery(
    name="api_cpu",
    namespace="oci_computeagent",
    query=f'CpuUtilization[1m]{{resourceId = "{INSTANCE}"}}.mean()',
    compartment_id=COMPARTMENT,
    resource_group="bharatmart",
)


@pytest.fixture
def now() -> float:
    return float(int(time.time()) // 60 * 60)


def make_source(
    factory: ClientFactory, query: MonitoringQuery = QUERY, bucket: TokenBucket | None = None
) -> OciMonitoringSource:
    return OciMonitoringSource(
        query,
        factory.monitoring,
        bucket or TokenBucket(10, 10),
        backoff=Backoff(30, 600, rng=random.Random(1)),
    )


def store(storage: Storage, source_key: str, got: Collected) -> None:
    """What the scrape loop does with a Collected."""
    storage.append_batch(source_key, got.samples, got.t_ms)
    storage.append_timestamped(got.timestamped, got.t_ms, revisable=got.revisable)


def cpu_stream(fake: FakeOci, points: list[tuple[float, float]]) -> Any:
    return fake.add_stream(
        "oci_computeagent", "CpuUtilization",
        {"resourceId": INSTANCE, "resourceDisplayName": "api-1", "availability.domain": "AD-1"},
        points, resource_group="bharatmart",
    )  # fmt: skip


def test_naming_rules() -> None:
    assert metric_name("oci_computeagent", "CpuUtilization") == "oci_computeagent_cpu_utilization"
    assert metric_name("bharatmart", "HttpRequests") == "oci_bharatmart_http_requests"
    assert metric_name("oci_lbaas", "HTTPRequests") == "oci_lbaas_http_requests"
    assert metric_name("My-App", "p95.Latency") == "oci_my_app_p95_latency"
    assert label_name("availability.domain") == "availability_domain"
    assert label_name("1st") == "_1st"
    assert label_name("namespace") == "dim_namespace"
    assert label_name("__name__") == "dim_name__"


def test_query_becomes_series_with_labels_and_own_timestamps(
    fake: FakeOci, factory: ClientFactory, now: float
) -> None:
    cpu_stream(fake, [(now - 120, 41.5), (now - 60, 97.25), (now - 7200, 1.0)])
    source = make_source(factory)
    storage = Storage()

    got = source.collect(now)
    store(storage, source.key, got)

    assert got.error is None
    labels = Labels.of(
        __name__="oci_computeagent_cpu_utilization", namespace="oci_computeagent",
        query="api_cpu", resource_group="bharatmart", resourceId=INSTANCE,
        resourceDisplayName="api-1", availability_domain="AD-1",
    )  # fmt: skip
    series = {s.labels: s for s in storage}
    assert series[labels].timestamps == [int((now - 120) * 1000), int((now - 60) * 1000)]
    assert series[labels].values == [41.5, 97.25]  # the 2 h old point is outside the window
    up = series[Labels.of(__name__="oci_query_up", query="api_cpu")]
    assert (up.timestamps, up.values) == ([int(now * 1000)], [1.0])
    body = fake.calls("summarizeMetricsData")[0]
    assert body.verified is True
    assert body.query["compartmentId"] == [COMPARTMENT]
    sent = body.json()
    assert (sent["resolution"], sent["resourceGroup"]) == ("1m", "bharatmart")


def test_overlapping_windows_pick_up_late_data_and_ignore_resent_points(
    fake: FakeOci, factory: ClientFactory, now: float
) -> None:
    stream = cpu_stream(fake, [(now - 60, 10.0)])
    source = make_source(factory)
    storage = Storage()
    store(storage, source.key, source.collect(now))
    # A late datapoint for the last minute arrives, plus a new one.
    fake.add_points(stream, [(now - 30, 20.0), (now + 30, 30.0)])
    second = source.collect(now + 60)
    assert len(second.timestamped) == 3  # the window overlaps: (now-60) is re-sent
    assert second.revisable
    store(storage, source.key, second)
    (cpu,) = [s for s in storage if s.labels.name == "oci_computeagent_cpu_utilization"]
    assert cpu.values == [10.0, 20.0, 30.0]
    # The re-sent point has the same value: nothing to revise, nothing refused.
    assert (storage.rejected_samples, storage.revised_samples) == (0, 0)


def test_a_partial_minute_is_replaced_by_its_final_value(
    fake: FakeOci, factory: ClientFactory, now: float
) -> None:
    stream = cpu_stream(fake, [(now - 120, 40.0), (now - 60, 12.0)])
    source = make_source(factory)
    storage = Storage()
    store(storage, source.key, source.collect(now))
    fake.set_point(stream, now - 60, 88.5)
    store(storage, source.key, source.collect(now + 60))
    (cpu,) = [s for s in storage if s.labels.name == "oci_computeagent_cpu_utilization"]
    assert cpu.values == [40.0, 88.5]
    assert storage.revised_samples == 1


def test_throttling_backs_off_then_recovers(fake: FakeOci, factory: ClientFactory, now: float) -> None:
    cpu_stream(fake, [(now - 60, 5.0)])
    fake.fail_next(2, 429, retry_after=45)
    source = make_source(factory)

    first = source.collect(now)
    assert first.error is not None and "429" in first.error and "TooManyRequests" in first.error
    assert first.samples == [(Labels.of(__name__="oci_query_up", query="api_cpu"), 0.0)]
    assert source.backoff.remaining(now) >= 45  # Retry-After honoured

    skipped = source.collect(now + 10)  # inside the backoff: no request at all
    assert "backing off" in (skipped.error or "")
    assert skipped.samples[0][1] == 0.0
    assert len(fake.calls("summarizeMetricsData")) == 1

    t = now + source.backoff.remaining(now) + 1
    assert source.collect(t).error is not None  # second 429: longer backoff
    assert source.backoff.failures == 2
    t += source.backoff.remaining(t) + 1
    recovered = source.collect(t)
    assert recovered.error is None and recovered.samples[0][1] == 1.0
    assert len(recovered.timestamped) == 1
    assert source.errors_by_kind["throttled"] == 2 and source.backoff.failures == 0


def test_server_errors_back_off_exponentially(fake: FakeOci, factory: ClientFactory, now: float) -> None:
    fake.fail_next(4, 500)
    source = make_source(factory)
    t, delays = now, []
    for _ in range(4):
        assert source.collect(t).error is not None
        delays.append(source.backoff.remaining(t))
        t += delays[-1] + 0.001
    assert delays == sorted(delays) and delays[-1] > delays[0] * 2
    assert source.collect(t).error is None
    assert source.errors_by_kind == {"server": 4}


def test_hung_endpoint_is_bounded_by_the_read_timeout(fake: FakeOci, make_cfg: Any, now: float) -> None:
    fake.hang_next(1, path_contains="summarizeMetricsData")
    source = make_source(ClientFactory(make_cfg(timeouts={"connect": "1s", "read": "500ms"})))
    started = time.monotonic()
    got = source.collect(now)
    assert time.monotonic() - started < 3
    assert got.error is not None and "timed out" in got.error
    assert source.errors_by_kind["timeout"] == 1
    assert got.samples[0][1] == 0.0


def test_wrong_credentials_are_permanent_and_clear(fake: FakeOci, factory: ClientFactory, now: float) -> None:
    fake.forget_keys()  # the fake no longer knows our key: 401 on every call
    source = make_source(factory)
    got = source.collect(now)
    assert got.error is not None and "401" in got.error and "NotAuthenticated" in got.error
    assert "\n" not in got.error
    assert source.errors_by_kind["auth"] == 1
    assert not source.backoff.blocked(now)  # not retryable: no backoff, just reported


def test_all_queries_share_one_token_bucket(fake: FakeOci, factory: ClientFactory, now: float) -> None:
    bucket = TokenBucket(rate=1, burst=2, now=now)  # as if max_tps were 1
    sources = [
        make_source(factory, MonitoringQuery(f"q{i}", "ns", "M[1m].mean()", COMPARTMENT), bucket)
        for i in range(3)
    ]
    results = [s.collect(now) for s in sources]
    assert [r.error is None for r in results] == [True, True, False]
    assert "max_tps" in (results[2].error or "")
    assert len(fake.calls("summarizeMetricsData")) == 2
    assert sources[2].collect(now + 1).error is None  # a token came back after 1 s


def test_threshold_crossing_is_seen_by_promql(fake: FakeOci, factory: ClientFactory, now: float) -> None:
    """End to end: OCI metric stream → source → tsdb → PromQL alert expression."""
    import triaged.promql.engine as engine_mod

    stream = cpu_stream(fake, [(now - 120, 40.0), (now - 60, 45.0)])
    source = make_source(factory)
    storage = Storage()
    engine = engine_mod.Engine(storage)
    expr = 'oci_computeagent_cpu_utilization{query="api_cpu"} > 90'

    store(storage, source.key, source.collect(now))
    assert list(engine.instant(expr, int(now * 1000))) == []

    fake.add_points(stream, [(now + 30, 97.5)])
    store(storage, source.key, source.collect(now + 60))
    (hit,) = engine.instant(expr, int((now + 60) * 1000))
    assert hit.value == 97.5 and hit.labels.get("resourceId") == INSTANCE
    up = engine.instant('oci_query_up{query="api_cpu"} == 0', int((now + 60) * 1000))
    assert list(up) == []
    assert not math.isnan(hit.value)


def test_collect_never_raises(now: float) -> None:
    def broken() -> Any:
        raise RuntimeError("boom")

    source = OciMonitoringSource(QUERY, broken, TokenBucket(10, 10))
    got = source.collect(now)
    assert got.error == "oci query api_cpu: RuntimeError: boom"
    assert got.samples[0][1] == 0.0 and source.errors_by_kind["other"] == 1


def test_missing_credentials_become_data(make_cfg: Any, tmp_path: Any, now: float) -> None:
    factory = ClientFactory(make_cfg(config_file=str(tmp_path / "missing")))
    got = make_source(factory).collect(now)
    assert got.error is not None and "config file" in got.error and "not found" in got.error


def test_a_resolution_longer_than_the_query_interval_is_refused_like_oci_does(
    fake: FakeOci, factory: ClientFactory, now: float
) -> None:
    """The fake checks what real OCI checks, so a test cannot pass on a query OCI
    would answer 400 (config refuses this one; built directly here)."""
    query = MonitoringQuery(
        "q", "oci_computeagent", "CpuUtilization[1m].mean()", COMPARTMENT, resolution="5m"
    )
    got = OciMonitoringSource(query, factory.monitoring, TokenBucket(10, 10)).collect(now)
    assert got.error is not None and "400 InvalidParameter" in got.error


def test_heartbeats_go_to_the_ingestion_host_of_a_monitoring_override() -> None:
    real = Endpoints(monitoring="https://telemetry.ap-mumbai-1.oraclecloud.com")
    assert ingestion_endpoint(real) == "https://telemetry-ingestion.ap-mumbai-1.oraclecloud.com"
    assert ingestion_endpoint(Endpoints(monitoring="http://127.0.0.1:5000")) == "http://127.0.0.1:5000"
    assert ingestion_endpoint(Endpoints()) is None  # from the region
    both = Endpoints(monitoring="https://m.example", telemetry_ingestion="https://i.example")
    assert ingestion_endpoint(both) == "https://i.example"


def test_a_429_holds_off_the_other_queries_sharing_the_limit(
    fake: FakeOci, factory: ClientFactory, now: float
) -> None:
    """OCI's 429 is for the tenancy's Monitoring calls, not one query: the next query
    polled at the same moment waits for the shared bucket instead of calling OCI and
    earning a 429 of its own."""
    cpu_stream(fake, [(now - 60, 5.0)])
    bucket = TokenBucket(10, 10)
    first = make_source(factory, bucket=bucket)
    other = make_source(
        factory,
        MonitoringQuery("api_mem", "oci_computeagent", "MemoryUtilization[1m].mean()", COMPARTMENT),
        bucket,
    )
    fake.fail_next(1, 429, retry_after=45)

    assert "429" in (first.collect(now).error or "")
    held = other.collect(now)

    assert "max_tps reached" in (held.error or "")
    assert len(fake.calls("summarizeMetricsData")) == 1
    assert other.collect(now + 1).error is None  # the bucket refills at its rate


def test_dimensions_that_make_the_same_label_name_stay_apart(
    fake: FakeOci, factory: ClientFactory, now: float
) -> None:
    """`a.b` and `a_b` both make the label a_b: the second one seen, in sorted order,
    is a_b_2, so two streams differing only there stay two series, every poll alike."""
    for shard in ("1", "2"):
        fake.add_stream(
            "oci_computeagent", "CpuUtilization", {"resourceId": INSTANCE, "pool.id": "p", "pool_id": shard},
            [(now - 60, float(shard))], resource_group="bharatmart",
        )  # fmt: skip
    source = make_source(factory)
    storage = Storage()

    store(storage, source.key, source.collect(now))

    cpu = {
        (s.labels.get("pool_id"), s.labels.get("pool_id_2")): s.values
        for s in storage
        if s.labels.name == "oci_computeagent_cpu_utilization"
    }
    assert cpu == {("p", "1"): [1.0], ("p", "2"): [2.0]}
