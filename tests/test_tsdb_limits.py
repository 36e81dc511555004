"""The daemon-wide series limit: a churning source cannot keep another source's new
series out, what is refused or evicted is counted on /metrics, and one warning a
minute names the sources pushing against the limit."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer
from structlog.testing import capture_logs
from werkzeug import Request, Response

from triaged.app import build
from triaged.config import parse_config
from triaged.model import Labels, Matcher, MatchOp
from triaged.runner import Runner
from triaged.service.selfmetrics import SelfMetrics, ServiceStats
from triaged.testing.clock import FakeClock
from triaged.tsdb import Storage, StorageLimits
from triaged.tsdb.pressure import WARN_EVERY_MS
from triaged.yamlfile import load_yaml_text

T0 = 1_800_000_000_000


def api(*codes: str) -> list[tuple[Labels, float]]:
    return [(Labels.of(__name__="http_requests_total", status_code=c), 1.0) for c in codes]


def churn(scrape: int, n: int = 20) -> list[tuple[Labels, float]]:
    return [(Labels.of(__name__="req_seen", request_id=f"{scrape}-{i}"), 1.0) for i in range(n)]


def names(st: Storage, name: str) -> set[str]:
    got = st.select([Matcher("__name__", MatchOp.EQ, name)], 0, 2**62)
    return {s.labels.get("status_code") or s.labels.get("request_id") for s in got}


def limit_warnings(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "tsdb_series_limit_reached"]


def test_a_churning_source_cannot_keep_another_sources_new_series_out() -> None:
    st = Storage(StorageLimits(retention_ms=None, max_series=50))
    for k in range(10):  # the churn fills the budget with series that vanish a scrape later
        t = T0 + k * 1000
        st.append_batch("scrape/api", api("200", "404"), t)
        st.append_batch("scrape/churn", churn(k), t)
    assert len(st) == 50
    t = T0 + 10_000
    st.append_batch("scrape/api", api("200", "404", "500"), t)  # the first error
    assert names(st, "http_requests_total") == {"200", "404", "500"}
    assert st.rejected_series == 0
    assert st.evicted_series > 0
    assert len(st) <= 50
    st.append_batch("scrape/churn", churn(10), t)
    assert names(st, "http_requests_total") == {"200", "404", "500"}  # live series are never evicted
    assert len(names(st, "req_seen") & {f"10-{i}" for i in range(20)}) == 20  # the live churn too
    assert "0-0" not in names(st, "req_seen")  # those gone longest went first


def test_when_every_series_is_still_reported_new_ones_are_refused_and_counted() -> None:
    st = Storage(StorageLimits(retention_ms=None, max_series=3))
    st.append_batch("scrape/api", api("200", "404", "429"), T0)
    assert st.append_batch("scrape/api", api("200", "404", "429", "500"), T0 + 1000) == 3
    assert names(st, "http_requests_total") == {"200", "404", "429"}
    assert (st.rejected_series, st.evicted_series) == (1, 0)


@pytest.mark.usefixtures("default_logging")
def test_one_warning_a_minute_names_the_sources_that_pushed() -> None:
    st = Storage(StorageLimits(retention_ms=None, max_series=2))
    with capture_logs() as logs:
        st.append_batch("scrape/full", api("200", "404"), T0)
        st.append_batch("scrape/full", api("200", "404", "500"), T0 + 1000)
        for k in range(2, 40):  # 38 more refusals within the minute: no more lines
            st.append_batch("scrape/other", api("200", "404", "502", "503", "504"), T0 + k * 1000)
    (first,) = limit_warnings(logs)
    assert first["log_level"] == "warning"
    assert (first["refused"], first["refused_total"], first["limit"], first["series"]) == (1, 1, 2, 2)
    assert first["refused_by_source"] == {"scrape/full": 1}
    with capture_logs() as logs:
        st.append_batch("scrape/other", api("200", "404", "502"), T0 + 1000 + WARN_EVERY_MS)
    (second,) = limit_warnings(logs)
    assert second["refused"] == 38 * 3 + 1  # everything since the first line, none lost
    assert second["refused_by_source"] == {"scrape/other": 115}
    assert second["top_sources"] == {"scrape/other": 115}
    with capture_logs() as logs:
        st.append_batch("scrape/other", api("200", "404", "505"), T0 + 2000 + WARN_EVERY_MS)
        st.gc(T0 + 1000 + 2 * WARN_EVERY_MS)  # gc says it if no scrape has since
    (third,) = limit_warnings(logs)
    assert third["refused"] == 1
    with capture_logs() as logs:
        st.gc(T0 + 10 * WARN_EVERY_MS)
    assert limit_warnings(logs) == []  # nothing new: nothing said


def test_the_eviction_queue_stays_bounded_when_series_flap() -> None:
    st = Storage(StorageLimits(retention_ms=None, max_series=10))
    for k in range(200):  # present one scrape, gone the next, again and again
        st.append_batch("scrape/flap", api(*(["200", "500"] if k % 2 else ["200"])), T0 + k * 1000)
    assert len(st._vanished) <= 2 * 10
    st.gc(T0 + 200_000)
    assert len(st._vanished) <= 1


# -- the daemon: real HTTP targets, the real cycle, its own /metrics -----------------------

RULES = """groups:
  - name: api
    interval: 1s
    rules:
      - alert: ApiErrors
        expr: http_requests_total{status_code="500"} > 0
        labels: {severity: P1, service: api}
        annotations: {summary: api errors}
"""

CONFIG = """storage: {{db: {db}, max_series: 120}}
scrape: {{interval: 1s, timeout: 1s}}
evaluation_interval: 1s
rule_files: [{rules}]
targets:
  - {{job: api, url: "{api}", labels: {{service: api}}}}
  - {{job: churn, url: "{churn}", labels: {{service: other}}}}
incidents: {{group_by: [service]}}
notifiers:
  - {{name: log, type: log}}
"""


@pytest.fixture
def churn_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1")
    counter = itertools.count()

    def handler(_: Request) -> Response:
        k = next(counter)
        return Response("".join(f'req_seen{{request_id="{k}-{i}"}} 1\n' for i in range(30)))

    server.expect_request("/metrics").respond_with_handler(handler)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def self_metrics(runner: Runner) -> dict[str, float]:
    text = SelfMetrics(runner, ServiceStats()).render().decode()
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("triaged_tsdb_")
    }


@pytest.mark.usefixtures("default_logging")
def test_the_daemon_pages_a_healthy_targets_new_error_series_beside_a_churning_target(
    tmp_path: Path, httpserver: HTTPServer, churn_server: HTTPServer
) -> None:
    errors = {"on": False}

    def api_handler(_: Request) -> Response:
        codes = ["200", "404"] + (["500"] if errors["on"] else [])
        return Response("".join(f'http_requests_total{{status_code="{c}"}} 3\n' for c in codes))

    httpserver.expect_request("/metrics").respond_with_handler(api_handler)
    (tmp_path / "api.rules.yml").write_text(RULES)
    text = CONFIG.format(
        db=tmp_path / "t.db",
        rules=tmp_path / "*.rules.yml",
        api=httpserver.url_for("/metrics"),
        churn=churn_server.url_for("/metrics"),
    )
    cfg = parse_config(load_yaml_text(text, "<limits>"), str(tmp_path / "t.yaml"))
    clock = FakeClock(1_800_000_000.0)
    daemon = build(cfg, clock=clock)
    runner = Runner(daemon)
    try:
        with capture_logs() as logs:
            for _ in range(8):  # 30 new series a scrape: the budget of 120 is full
                daemon.cycle(clock.advance(1.0))
            assert len(daemon.storage) >= 115
            errors["on"] = True
            report = daemon.cycle(clock.advance(1.0))
        assert report.opened, "the new status_code=500 series must exist, and its alert fire"
        churn_key = next(s.key for s in daemon.sources if "/churn/" in s.key)
        (warning,) = limit_warnings(logs)
        assert next(iter(warning["top_sources"])) == churn_key
        metrics = self_metrics(runner)
        assert metrics["triaged_tsdb_series_limit"] == 120
        assert 0 < metrics["triaged_tsdb_series"] <= 120
        assert metrics["triaged_tsdb_series_evicted_total"] > 0
        assert metrics["triaged_tsdb_series_rejected_total"] == daemon.storage.rejected_series == 0
        assert "triaged_tsdb_samples_rejected_total" in metrics
        assert json.dumps(warning)  # plain values: it goes out as one JSON line
    finally:
        daemon.close()
        daemon.store.close()
