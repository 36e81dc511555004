"""A counter that appears between two scrapes starts from zero at the earlier one.

Real scrapes of a real HTTP server on 127.0.0.1 into the real tsdb, read back through
the PromQL engine, as a rule would read them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from triaged.promql import Engine, Vector
from triaged.sources.scrape import Scraper, ScrapeTarget
from triaged.tsdb.storage import Storage

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "bharatmart"
T0 = 1_800_000_000.0
STEP = 15.0
HEAD = "# HELP payments Payments\n# TYPE payments_processed_total counter\n"
CARD_OK = 'payments_processed_total{status="completed",payment_method="card"} 40\n'
CARD_FAILED = 'payments_processed_total{status="failed",payment_method="card"} 3\n'
FAILED_RATE = 'sum(rate(payments_processed_total{status="failed"}[1m]))'
FAILED_INCREASE = 'sum(increase(payments_processed_total{status="failed"}[1m]))'


class Target:
    """One scrape target whose /metrics answer the test sets before each scrape."""

    def __init__(self, httpserver: HTTPServer, **kw: object) -> None:
        self.server = httpserver
        self.scraper = Scraper(ScrapeTarget(job="bharatmart", url=httpserver.url_for("/metrics"), **kw))  # type: ignore[arg-type]
        self.storage = Storage()
        self.engine = Engine(self.storage)

    def scrape(self, t: float, body: str, status: int = 200) -> None:
        self.server.clear()
        self.server.expect_request("/metrics").respond_with_data(body, status=status)
        got = self.scraper.collect(t)
        self.storage.append_batch(
            self.scraper.key, got.samples, got.t_ms, cumulative=got.cumulative, zero_at_ms=got.zero_at_ms
        )

    def failed_card_points(self) -> list[tuple[float, float]]:
        """The stored points of the failed card payments series, (seconds, value)."""
        (series,) = [s for s in self.storage if s.labels.get("status") == "failed"]
        return [
            (t / 1000, v) for t, v in zip(series.timestamps, series.values, strict=True) if not math.isnan(v)
        ]

    def value(self, expr: str, t: float) -> float | None:
        result = self.engine.instant(expr, int(t * 1000))
        assert isinstance(result, Vector)
        return result[0].value if result else None


@pytest.fixture
def target(httpserver: HTTPServer) -> Target:
    return Target(httpserver)


def test_first_failures_of_a_new_kind_count_at_the_first_scrape_that_shows_them(
    target: Target, httpserver: HTTPServer
) -> None:
    target.scrape(T0, HEAD + CARD_OK)
    target.scrape(T0 + STEP, HEAD + CARD_OK + CARD_FAILED)
    # 3 failures within one 15 s scrape interval: the rule sees them now, not a scrape later.
    assert target.value(FAILED_INCREASE, T0 + STEP) == pytest.approx(3.0)
    assert target.failed_card_points() == [(T0, 0.0), (T0 + STEP, 3.0)]
    # Exactly what the rule would read had the app exposed the series at 0 beforehand.
    truth = Target(httpserver)
    truth.scrape(T0, HEAD + CARD_OK + CARD_FAILED.replace(" 3", " 0"))
    truth.scrape(T0 + STEP, HEAD + CARD_OK + CARD_FAILED)
    for expr in (FAILED_RATE, FAILED_INCREASE):
        assert target.value(expr, T0 + STEP) == truth.value(expr, T0 + STEP)
        assert target.value(expr, T0 + 2 * STEP) == truth.value(expr, T0 + 2 * STEP)
    assert target.storage.zeroed_series == 1


def test_the_real_bharatmart_page_zeroes_only_its_counters_and_histograms(target: Target) -> None:
    normal = (FIXTURES / "metrics-normal.txt").read_text()
    # The first scrape knows none of the series; the second sees every one of them appear.
    target.scrape(T0, "# TYPE up_before gauge\nup_before 1\n")
    target.scrape(T0 + STEP, normal)
    zeroed = {s.labels.name for s in target.storage if len(s.timestamps) == 2 and s.values[0] == 0.0}
    assert "payments_processed_total" in zeroed
    assert "http_request_duration_seconds_bucket" in zeroed
    assert "http_request_duration_seconds_count" in zeroed
    gauges = [
        line.split()[2]
        for line in normal.splitlines()
        if line.startswith("# TYPE") and line.endswith(" gauge")
    ]
    assert gauges and not zeroed & set(gauges), "a gauge never starts from an assumed zero"


def test_nothing_is_assumed_on_the_first_scrape(target: Target) -> None:
    target.scrape(T0, HEAD + CARD_OK + CARD_FAILED)
    # The 3 failures may be from last week: no rate until a second scrape.
    assert target.value(FAILED_RATE, T0) is None
    assert target.storage.zeroed_series == 0


def test_nothing_is_assumed_after_a_failed_scrape(target: Target) -> None:
    target.scrape(T0, HEAD + CARD_OK)
    target.scrape(T0 + STEP, "busy", status=503)
    target.scrape(T0 + 2 * STEP, HEAD + CARD_OK + CARD_FAILED)
    # The series may have been born any time since T0: not placed at the failed scrape.
    assert target.value(FAILED_RATE, T0 + 2 * STEP) is None
    target.scrape(T0 + 3 * STEP, HEAD + CARD_OK + CARD_FAILED.replace(" 3", " 5"))
    assert target.failed_card_points() == [(T0 + 2 * STEP, 3.0), (T0 + 3 * STEP, 5.0)]
    assert target.value(FAILED_RATE, T0 + 3 * STEP)


def test_a_counter_that_comes_back_continues_instead_of_restarting(target: Target) -> None:
    target.scrape(T0, HEAD + CARD_OK + CARD_FAILED)
    target.scrape(T0 + STEP, HEAD + CARD_OK)  # the failed series vanishes (stale)
    target.scrape(T0 + 2 * STEP, HEAD + CARD_OK + CARD_FAILED)  # back, still 3
    # No invented jump from 0 to 3: the tsdb still holds the series.
    assert target.value(FAILED_INCREASE, T0 + 2 * STEP) in (None, 0.0)
    assert target.storage.zeroed_series == 0


def test_a_label_that_changes_on_running_counters_is_no_burst(target: Target) -> None:
    """The app relabels its counters (an environment or version label): the old series
    vanish as the new ones appear with the running totals, which are no new failures."""
    staging = (
        HEAD
        + CARD_OK.replace("}", ',environment="staging"}')
        + CARD_FAILED.replace("}", ',environment="staging"}')
    )
    target.scrape(T0, staging)
    target.scrape(T0 + STEP, staging.replace("staging", "production"))
    assert target.value(FAILED_INCREASE, T0 + STEP) is None
    assert target.storage.zeroed_series == 0
    # A new kind of failure beside a series that stays is still counted at once.
    target.scrape(
        T0 + 2 * STEP, staging.replace("staging", "production") + CARD_FAILED.replace("card", "upi")
    )
    assert target.value('increase(payments_processed_total{payment_method="upi"}[1m])', T0 + 2 * STEP) == 3.0
    assert target.storage.zeroed_series == 1


def test_untyped_and_gauge_series_are_never_zeroed(target: Target) -> None:
    target.scrape(T0, "# TYPE queue gauge\nqueue 1\n")
    target.scrape(T0 + STEP, "# TYPE queue gauge\nqueue 1\nqueue_depth_total 9\nother_total 4\n")
    assert target.value("rate(queue_depth_total[1m])", T0 + STEP) is None
    assert target.storage.zeroed_series == 0


def test_a_negative_or_nan_first_value_is_not_zeroed(target: Target) -> None:
    head = "# TYPE weird counter\n"
    target.scrape(T0, head)
    target.scrape(T0 + STEP, head + "weird -1\nweird_total NaN\n")
    assert target.storage.zeroed_series == 0


def test_the_target_can_keep_prometheus_behaviour(httpserver: HTTPServer) -> None:
    target = Target(httpserver, new_counters_from_zero=False)
    target.scrape(T0, HEAD + CARD_OK)
    target.scrape(T0 + STEP, HEAD + CARD_OK + CARD_FAILED)
    assert target.value(FAILED_RATE, T0 + STEP) is None
    target.scrape(T0 + 2 * STEP, HEAD + CARD_OK + CARD_FAILED.replace(" 3", " 6"))
    assert target.failed_card_points() == [(T0 + STEP, 3.0), (T0 + 2 * STEP, 6.0)]
    assert target.value(FAILED_RATE, T0 + 2 * STEP)


def test_openmetrics_counters_are_read_from_their_family_name(target: Target) -> None:
    head = "# TYPE orders counter\n"
    created = "orders_created 1.8e9\n"
    target.server.clear()

    def scrape(t: float, body: str) -> None:
        target.server.clear()
        target.server.expect_request("/metrics").respond_with_data(
            body + "# EOF\n", content_type="application/openmetrics-text; version=1.0.0"
        )
        got = target.scraper.collect(t)
        target.storage.append_batch(
            target.scraper.key, got.samples, got.t_ms, cumulative=got.cumulative, zero_at_ms=got.zero_at_ms
        )

    scrape(T0, "# TYPE up_before gauge\nup_before 1\n")
    scrape(T0 + STEP, head + 'orders_total{kind="gift"} 2\n' + created)
    assert target.value("sum(increase(orders_total[1m]))", T0 + STEP) == pytest.approx(2.0)
    assert target.value("orders_created", T0 + STEP) == pytest.approx(1.8e9), "a created time is no counter"
