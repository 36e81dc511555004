"""The expressions the shipped rules rely on, evaluated over a real in-memory tsdb."""

from __future__ import annotations

import math

import pytest

from triaged.model import STALE_NAN, Labels
from triaged.promql import (
    Engine,
    ExprError,
    InstantSample,
    Matrix,
    Scalar,
    Vector,
    expand_series_values,
    max_range_ms,
    parse_expr,
)
from triaged.tsdb.storage import Storage, StorageLimits

STEP = 15_000
END = 600_000


def _storage() -> Storage:
    st = Storage(StorageLimits(retention_ms=None))
    for t in range(0, END + 1, STEP):
        sec = t / 1000
        for svc, slow in (("checkout", 0.3), ("catalog", 0.05)):
            for le, share in (("0.1", 1 - slow - 0.02), ("0.5", 1 - 0.02), ("+Inf", 1.0)):
                labels = Labels.of(
                    __name__="http_request_duration_seconds_bucket",
                    job="bharatmart",
                    service=svc,
                    le=le,
                )
                st.append(labels, t, sec * 10 * share)
            failed = 0.1 if svc == "checkout" else 0.01
            for status, share in (("failed", failed), ("ok", 1 - failed)):
                labels = Labels.of(__name__="payments_processed_total", service=svc, status=status)
                st.append(labels, t, sec * 2 * share)
            st.append(
                Labels.of(__name__="db_pool_connections_in_use", service=svc),
                t,
                9 if svc == "checkout" else 2,
            )
            st.append(Labels.of(__name__="db_pool_connections_max", service=svc), t, 10)
            st.append(
                Labels.of(__name__="up", job="bharatmart", instance=svc),
                t,
                1 if svc == "checkout" else 0,
            )
        st.append(Labels.of(__name__="chaos_enabled", environment="production", service="checkout"), t, 1)
    return st


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(_storage())


def _by(vec: object, label: str) -> dict[str, float]:
    assert isinstance(vec, Vector)
    return {s.labels.get(label): s.value for s in vec}


def test_selector_and_comparison(engine: Engine) -> None:
    result = engine.instant("up == 0", END)
    assert isinstance(result, Vector)
    assert [s.labels for s in result] == [Labels.of(__name__="up", job="bharatmart", instance="catalog")]
    assert _by(engine.instant("up == bool 0", END), "instance") == {"checkout": 0.0, "catalog": 1.0}


def test_matchers_of_every_kind(engine: Engine) -> None:
    assert set(_by(engine.instant('up{instance=~"check.*"}', END), "instance")) == {"checkout"}
    assert set(_by(engine.instant('up{instance!~"check.*"}', END), "instance")) == {"catalog"}
    assert set(_by(engine.instant('up{instance!="catalog"}', END), "instance")) == {"checkout"}


def test_error_ratio_rule(engine: Engine) -> None:
    expr = (
        'sum by (service)(rate(payments_processed_total{status="failed"}[1m])) '
        "/ sum by (service)(rate(payments_processed_total[1m])) > 0.05"
    )
    assert _by(engine.instant(expr, END), "service") == pytest.approx({"checkout": 0.1})


def test_histogram_quantile_rule(engine: Engine) -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, service) "
        '(rate(http_request_duration_seconds_bucket{job="bharatmart"}[1m]))) > 0.3'
    )
    got = _by(engine.instant(expr, END), "service")
    assert set(got) == {"checkout"}
    assert 0.1 < got["checkout"] <= 0.5


def test_ratio_of_gauges_and_max_by(engine: Engine) -> None:
    expr = "max by (service)(db_pool_connections_in_use / db_pool_connections_max) > 0.8"
    assert _by(engine.instant(expr, END), "service") == pytest.approx({"checkout": 0.9})
    expr = 'max by (service)(chaos_enabled{environment="production"}) == 1'
    assert _by(engine.instant(expr, END), "service") == {"checkout": 1.0}


def test_rate_and_increase_extrapolate(engine: Engine) -> None:
    rate = _by(engine.instant('rate(payments_processed_total{status="ok"}[1m])', END), "service")
    assert rate["catalog"] == pytest.approx(2 * 0.99)
    inc = engine.instant('increase(payments_processed_total{service="catalog",status="ok"}[5m])', END)
    assert isinstance(inc, Vector)
    assert inc[0].value == pytest.approx(2 * 0.99 * 300)
    assert "__name__" not in dict(inc[0].labels)


def test_aggregations(engine: Engine) -> None:
    assert engine.instant("count(up)", END) == Vector([InstantSample(Labels(), 2.0)])
    assert _by(engine.instant("sum without (instance) (up)", END), "job") == {"bharatmart": 1.0}
    assert _by(engine.instant("avg by (job) (up)", END), "job") == {"bharatmart": 0.5}
    assert _by(engine.instant("min by (job) (up)", END), "job") == {"bharatmart": 0.0}


def test_absent_and_set_operators(engine: Engine) -> None:
    assert engine.instant('absent(up{job="x"})', END) == Vector([InstantSample(Labels.of(job="x"), 1.0)])
    assert engine.instant('absent(up{job="bharatmart"})', END) == Vector()
    assert set(_by(engine.instant('up and up{instance="catalog"}', END), "instance")) == {"catalog"}
    assert set(_by(engine.instant('up unless up{instance="catalog"}', END), "instance")) == {"checkout"}
    assert len(engine.instant('up{instance="catalog"} or up', END)) == 2  # type: ignore[arg-type]


def test_offset_literals_and_parentheses(engine: Engine) -> None:
    assert engine.instant("(1 + 2) * 3", END) == Scalar(9.0)
    then = engine.instant('payments_processed_total{service="catalog",status="ok"} offset 5m', END)
    assert isinstance(then, Vector)
    assert then[0].value == pytest.approx((END - 300_000) / 1000 * 2 * 0.99)


def test_staleness_marker_hides_series() -> None:
    st = Storage(StorageLimits(retention_ms=None))
    up = Labels.of(__name__="up", job="x")
    st.append(up, 0, 1.0)
    st.append(up, 15_000, STALE_NAN)
    engine = Engine(st)
    assert engine.instant("up", 10_000) != Vector()
    assert engine.instant("up", 20_000) == Vector()
    assert engine.instant("up", 0 + 300_000) == Vector()


def test_lookback_window_is_five_minutes() -> None:
    st = Storage(StorageLimits(retention_ms=None))
    st.append(Labels.of(__name__="probe_success"), 0, 0.0)
    engine = Engine(st)
    assert len(engine.instant("probe_success == 0", 299_999)) == 1  # type: ignore[arg-type]
    assert engine.instant("probe_success == 0", 300_000) == Vector()


def test_increase_of_startup_failures() -> None:
    st = Storage(StorageLimits(retention_ms=None))
    errs = Labels.of(__name__="errors_total", error_type="startup_failure")
    for i, v in enumerate([0, 0, 1, 1, 3]):
        st.append(errs, i * 60_000, v)
    result = Engine(st).instant('increase(errors_total{error_type="startup_failure"}[5m]) > 0', 240_000)
    assert isinstance(result, Vector)
    assert result[0].labels == Labels.of(error_type="startup_failure")
    assert result[0].value == pytest.approx(3.0)


def test_range_query_and_errors(engine: Engine) -> None:
    result = engine.range('up{instance="checkout"}', 0, 60_000, 30_000)
    assert isinstance(result, Matrix)
    assert result[0].points == [(0, 1.0), (30_000, 1.0), (60_000, 1.0)]
    with pytest.raises(ExprError):
        parse_expr("sum(")
    with pytest.raises(ExprError, match="many-to-many"):
        engine.instant("up + on() up", END)


def test_helpers() -> None:
    assert max_range_ms("rate(x[5m] offset 1m)") == 360_000
    assert max_range_ms("up") == 300_000
    assert max_range_ms("max_over_time(rate(x[1m])[10m:1m])") == 660_000
    values = expand_series_values("0+10x3 _ stale 1x2 5-1x2")
    assert values[:5] == [0, 10, 20, 30, None]
    stale = values[5]
    assert stale is not None and math.isnan(stale)
    assert values[6:] == [1, 1, 1, 5, 4, 3]
    assert parse_expr("up == 0").text == "up == 0"


def test_aggregation_key_cache_survives_resets(monkeypatch: pytest.MonkeyPatch) -> None:
    from triaged.promql import aggregations

    monkeypatch.setattr(aggregations, "_MAX_CACHED_KEYS", 3)
    engine = Engine(_storage())
    expr = "sum by (service) (rate(payments_processed_total[5m]))"
    first = engine.instant(expr, END)
    for _ in range(5):
        assert engine.instant(expr, END) == first
    assert _by(first, "service") == pytest.approx({"checkout": 2.0, "catalog": 2.0})


def test_selector_cache_follows_source_generation() -> None:
    st = Storage(StorageLimits(retention_ms=None))
    st.append(Labels.of(__name__="up", job="a"), 0, 1.0)
    engine = Engine(st)
    assert len(engine.instant("up", 1000)) == 1  # type: ignore[arg-type]
    # New points in a known series need no new selection: the cached series shows them.
    st.append(Labels.of(__name__="up", job="a"), 500, 0.0)
    assert [s.value for s in engine.instant("up", 1000)] == [0.0]  # type: ignore[union-attr]
    # A new series bumps the storage's generation, so the next query sees it at once.
    st.append(Labels.of(__name__="up", job="b"), 0, 1.0)
    assert len(engine.instant("up", 1000)) == 2  # type: ignore[arg-type]
