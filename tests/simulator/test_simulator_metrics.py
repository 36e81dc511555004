"""What the simulator exposes, and how each fault moves it (deterministic: no
background traffic, time advanced by hand)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from triaged.model import Labels
from triaged.simulator import FaultError, Faults, Simulator
from triaged.sources.exposition import parse_exposition

REAL_FAMILIES = {
    "http_request_duration_seconds",
    "http_requests_total",
    "orders_created_total",
    "orders_value_total",
    "payments_processed_total",
    "payments_value_total",
    "errors_total",
    "orders_success_total",
    "orders_failed_total",
    "chaos_events_total",
    "simulated_latency_ms",
    "service_restarts_total",
    "external_call_latency_ms",
    "retry_attempts_total",
    "circuit_breaker_open_total",
}
EXTRA_FAMILIES = {"db_pool_connections_in_use", "db_pool_connections_max", "chaos_enabled"}
Samples = list[tuple[Labels, float]]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    # Not started: these tests read the exposition directly, no sockets needed.
    yield Simulator(seed=7, traffic_rps=50.0, autotick=False)


def _samples(sim: Simulator) -> Samples:
    return parse_exposition(sim.metrics_text())


def _sum(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        v for lab, v in samples if lab.name == name and all(lab.get(k) == x for k, x in labels.items())
    )


def _buckets(samples: Samples) -> dict[float, float]:
    out: dict[float, float] = {}
    for lab, v in samples:
        if lab.name == "http_request_duration_seconds_bucket":
            le = float(lab.get("le"))
            out[le] = out.get(le, 0.0) + v
    return out


def _quantile(q: float, before: Samples, after: Samples) -> float:
    """histogram_quantile(q, sum by (le) (increase(bucket[window]))) as Prometheus does."""
    old, new = _buckets(before), _buckets(after)
    cumulative = sorted((le, new[le] - old.get(le, 0.0)) for le in new)
    rank = q * cumulative[-1][1]
    lower, below = 0.0, 0.0
    for le, count in cumulative:
        if count >= rank:
            if math.isinf(le):
                return lower
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    raise AssertionError("unreachable")


def test_exposes_real_families_and_the_extras(sim: Simulator) -> None:
    sim.advance(10)
    text = sim.metrics_text()
    declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert declared == REAL_FAMILIES | EXTRA_FAMILIES
    samples = parse_exposition(text)
    theirs = [s for f in text_string_to_metric_families(text) for s in f.samples]
    assert [(lab.name, v) for lab, v in samples] == [(s.name, s.value) for s in theirs]
    for labels, _ in samples:
        assert labels.get("app") == "sre-training-platform"
        assert labels.get("environment") == "staging"


def test_label_order_matches_prom_client(sim: Simulator) -> None:
    sim.advance(2)
    lines = sim.metrics_text().splitlines()
    bucket = next(x for x in lines if x.startswith("http_request_duration_seconds_bucket"))
    assert bucket.startswith(
        'http_request_duration_seconds_bucket{le="0.01",app="sre-training-platform",'
        'environment="staging",method="'
    )
    counter = next(x for x in lines if x.startswith("http_requests_total{"))
    assert counter.startswith("http_requests_total{method=")
    assert any(x.startswith('http_request_duration_seconds_bucket{le="+Inf",') for x in lines)


def test_same_seed_same_numbers() -> None:
    a, b = Simulator(seed=3, autotick=False), Simulator(seed=3, autotick=False)
    a.advance(5)
    b.advance(5)
    assert a.metrics_text() == b.metrics_text()


def test_healthy_baseline(sim: Simulator) -> None:
    sim.advance(60)
    s = _samples(sim)
    total = _sum(s, "http_requests_total")
    assert total == pytest.approx(3000, abs=1)
    assert _sum(s, "http_requests_total", status_code="500") == 0
    assert 0 < _sum(s, "http_requests_total", status_code="404") < 0.1 * total
    payments = _sum(s, "payments_processed_total")
    assert 200 < payments < 350
    assert _sum(s, "payments_processed_total", status="failed") < 0.05 * payments
    assert {lab.get("payment_method") for lab, _ in s if lab.name == "payments_processed_total"} == {
        "card",
        "upi",
        "netbanking",
        "cod",
    }
    assert 4 <= _sum(s, "db_pool_connections_in_use") <= 8
    assert _sum(s, "db_pool_connections_max") == 20
    assert _sum(s, "chaos_events_total") == 0
    assert _sum(s, "service_restarts_total") == 1
    assert _quantile(0.95, [], s) < 0.01


def test_latency_fault_moves_p95_within_seconds(sim: Simulator) -> None:
    sim.advance(23)
    window_start = _samples(sim)
    sim.advance(7)
    sim.set_faults(latency_ms=600)
    sim.advance(3)
    after = _samples(sim)
    # rate(...[10s]) 3 s into the fault: 30 % of the window is slow, enough for P95.
    assert _quantile(0.95, window_start, after) > 0.5
    assert _sum(after, "simulated_latency_ms") == 600
    sim.set_faults(latency_ms=0)
    sim.advance(10)
    assert _quantile(0.95, after, _samples(sim)) < 0.05


def test_payment_failure_ratio(sim: Simulator) -> None:
    sim.set_faults(payment_failure_ratio=0.2)
    sim.advance(60)
    s = _samples(sim)
    ratio = _sum(s, "payments_processed_total", status="failed") / _sum(s, "payments_processed_total")
    assert 0.12 < ratio < 0.3
    assert _sum(s, "payments_value_total", status="failed") > 0


def test_db_pool_ratio(sim: Simulator) -> None:
    sim.set_faults(db_pool_in_use_ratio=0.9)
    sim.advance(1)
    assert _sum(_samples(sim), "db_pool_connections_in_use") == 18
    sim.set_faults(db_pool_in_use_ratio=None)
    sim.advance(1)
    assert _sum(_samples(sim), "db_pool_connections_in_use") <= 8


def test_chaos_and_environment(sim: Simulator) -> None:
    sim.set_faults(chaos_enabled=True, environment="production")
    sim.advance(20)
    s = _samples(sim)
    assert {lab.get("environment") for lab, _ in s} == {"production"}
    assert _sum(s, "chaos_enabled") == 1
    events, total = _sum(s, "chaos_events_total"), _sum(s, "http_requests_total")
    assert 0.05 * total < events < 0.15 * total


def test_db_down_fails_requests_and_orders(sim: Simulator) -> None:
    sim.advance(10)
    before = _samples(sim)
    sim.set_faults(db_down=True)
    sim.advance(10)
    after = _samples(sim)
    errors = _sum(after, "http_requests_total", status_code="500") - _sum(
        before, "http_requests_total", status_code="500"
    )
    assert errors > 200
    assert _sum(after, "orders_failed_total") > 10
    assert _sum(after, "orders_success_total") == _sum(before, "orders_success_total")
    assert _sum(after, "retry_attempts_total") > 0
    assert _sum(after, "http_requests_total", route="/health/ready", status_code="503") > 0
    assert _sum(after, "db_pool_connections_in_use") == 0


def test_startup_failure_counts_errors_and_restarts(sim: Simulator) -> None:
    sim.set_faults(startup_failure=True)
    s = _samples(sim)
    assert _sum(s, "errors_total", error_type="startup_failure", endpoint="startup") == 1
    sim.advance(3)
    s = _samples(sim)
    assert _sum(s, "errors_total", error_type="startup_failure", endpoint="startup") == 4
    assert _sum(s, "service_restarts_total") == 5
    sim.set_faults(startup_failure=False)
    sim.advance(3)
    assert _sum(_samples(sim), "errors_total", error_type="startup_failure") == 4


def test_reset_restores_health(sim: Simulator) -> None:
    sim.set_faults(latency_ms=600, chaos_enabled=True, db_down=True, environment="production")
    assert sim.reset() == Faults(environment="staging")
    assert sim.faults.healthy


def test_set_faults_keeps_unspecified_fields(sim: Simulator) -> None:
    sim.set_faults(latency_ms=100)
    sim.set_faults(chaos_enabled=True)
    assert (sim.faults.latency_ms, sim.faults.chaos_enabled) == (100.0, True)
    sim.set_faults(Faults(ready=False), latency_ms=5)
    assert (sim.faults.ready, sim.faults.latency_ms, sim.faults.chaos_enabled) == (
        False,
        5.0,
        False,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"latency": 5},
            "unknown fault field(s): latency; the fields are latency_ms, payment_failure_ratio,"
            " db_pool_in_use_ratio, chaos_enabled, environment, ready, db_down, health_hang, down,"
            " startup_failure",
        ),
        ({"latency_ms": "600"}, "latency_ms must be a number, not '600'"),
        ({"latency_ms": -1}, "latency_ms must be between 0 and 60000"),
        ({"chaos_enabled": 1}, "chaos_enabled must be true or false, not 1"),
        ({"payment_failure_ratio": 1.5}, "payment_failure_ratio must be between 0 and 1"),
        ({"db_pool_in_use_ratio": True}, "db_pool_in_use_ratio must be a number"),
        ({"environment": ""}, "environment must be a non-empty string"),
    ],
)
def test_invalid_fault_changes(changes: dict[str, object], message: str) -> None:
    with pytest.raises(FaultError) as info:
        Faults().updated(changes)
    assert str(info.value).startswith(message)
