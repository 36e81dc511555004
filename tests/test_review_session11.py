"""Review of the eleventh session's work: new counters from zero, SLO `down`, report
paging. Real scrapes of a real HTTP server on 127.0.0.1 into the real tsdb, read back
through the PromQL engine; real SQLite for the store."""

from __future__ import annotations

from pytest_httpserver import HTTPServer

from triaged.model import Labels
from triaged.promql import Engine, Vector
from triaged.sources.scrape import Scraper, ScrapeTarget
from triaged.tsdb.storage import Storage, StorageLimits

T0 = 1_800_000_000.0
STEP = 15.0
HEAD = "# TYPE payments_processed_total counter\n"
CARD_OK = 'payments_processed_total{status="completed",payment_method="card"} 40\n'
FAILED_INCREASE = 'sum(increase(payments_processed_total{status="failed"}[1m]))'


def card_failed(n: int) -> str:
    return f'payments_processed_total{{status="failed",payment_method="card"}} {n}\n'


class Target:
    """One scrape target whose /metrics answer the test sets before each scrape."""

    def __init__(self, httpserver: HTTPServer, storage: Storage) -> None:
        self.server = httpserver
        self.scraper = Scraper(ScrapeTarget(job="bharatmart", url=httpserver.url_for("/metrics")))
        self.storage = storage
        self.engine = Engine(storage)

    def scrape(self, t: float, body: str) -> None:
        self.server.clear()
        self.server.expect_request("/metrics").respond_with_data(body)
        got = self.scraper.collect(t)
        self.storage.append_batch(
            self.scraper.key, got.samples, got.t_ms, cumulative=got.cumulative, zero_at_ms=got.zero_at_ms
        )

    def value(self, expr: str, t: float) -> float | None:
        result = self.engine.instant(expr, int(t * 1000))
        assert isinstance(result, Vector)
        return result[0].value if result else None


# -- new counters from zero, at the tsdb's series limit ----------------------------------


def test_a_counter_refused_at_the_series_limit_is_no_burst_once_admitted(httpserver: HTTPServer) -> None:
    """The tsdb is full when the failed-payments series first shows (500 failures so
    far): it is refused. Once gc makes room it is admitted, but it existed all along:
    placing a 0 at the previous scrape would read as 500 failures in 15 s and page."""
    storage = Storage(StorageLimits(max_series=5))
    # A series of another writer that expires at the next gc, filling the last slot.
    storage.append(Labels.of({"__name__": "old_gauge"}), int((T0 - 3590) * 1000), 1.0)
    target = Target(httpserver, storage)
    target.scrape(T0, HEAD + CARD_OK)  # up, scrape_duration_seconds, scrape_samples_scraped + 1
    assert len(storage) == 5
    target.scrape(T0 + STEP, HEAD + CARD_OK + card_failed(500))
    assert storage.rejected_series == 1
    storage.gc(int((T0 + STEP + 1) * 1000))  # old_gauge expires: room for one more
    target.scrape(T0 + 2 * STEP, HEAD + CARD_OK + card_failed(501))
    assert any(s.labels.get("status") == "failed" for s in storage)
    assert target.value(FAILED_INCREASE, T0 + 2 * STEP) is None
    assert storage.zeroed_series == 0


def test_a_counter_evicted_at_the_series_limit_is_no_burst_when_it_comes_back(
    httpserver: HTTPServer,
) -> None:
    """A counter that vanished for a scrape is held (stale) and continues when it comes
    back; one the series limit evicted meanwhile is new to the tsdb, but not to the
    app: its running total is no burst."""
    storage = Storage(StorageLimits(max_series=5))
    target = Target(httpserver, storage)
    target.scrape(T0, HEAD + CARD_OK + card_failed(500))  # 5 series: full
    target.scrape(T0 + STEP, HEAD + CARD_OK)  # the failed series vanishes (stale)
    # A new gauge takes its place: the vanished counter is evicted to admit it.
    target.scrape(T0 + 2 * STEP, HEAD + CARD_OK + "queue_depth 1\n")
    assert storage.evicted_series == 1
    target.scrape(T0 + 3 * STEP, HEAD + CARD_OK)  # the gauge vanishes in turn
    target.scrape(T0 + 4 * STEP, HEAD + CARD_OK + card_failed(502))  # evicts the gauge
    assert any(s.labels.get("status") == "failed" for s in storage)
    assert (target.value(FAILED_INCREASE, T0 + 4 * STEP) or 0.0) < 10
    assert storage.zeroed_series == 0
