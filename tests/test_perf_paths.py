"""The shapes chosen for speed and memory (issue #8) behave like the plain ones."""

from __future__ import annotations

import struct

from pytest_httpserver import HTTPServer

from triaged.app import schedule_time
from triaged.model import STALE_NAN, Labels, Matcher, MatchOp, is_stale
from triaged.promql import Engine, Vector
from triaged.sources.scrape import Scraper, ScrapeTarget
from triaged.tsdb import Floats, Storage, StorageLimits

NOW = 1_800_000_000.0


def test_floats_read_like_a_list_of_floats() -> None:
    vs = Floats([1.0, 2.5, 4.0])
    vs.append(8.0)
    assert vs[1] == 2.5 and vs[-1] == 8.0
    assert vs[1:3] == [2.5, 4.0] and type(vs[1:3]) is list
    assert list(vs) == [1.0, 2.5, 4.0, 8.0] and sum(vs) == 15.5
    del vs[:2]
    assert vs[:] == [4.0, 8.0]


def test_floats_keep_the_staleness_marker_apart_from_other_nans() -> None:
    vs = Floats([STALE_NAN, float("nan")])
    assert is_stale(vs[0]) and not is_stale(vs[1])
    assert struct.pack("<d", vs[:1][0]) == struct.pack("<d", STALE_NAN)


def test_stored_values_are_packed_and_queries_see_them_unchanged() -> None:
    st = Storage(StorageLimits(retention_ms=None))
    lbl = Labels.of(__name__="reqs_total", job="a")
    for i in range(10):
        st.append(lbl, i * 15_000, float(i * 30))
    (series,) = st.select([Matcher("__name__", MatchOp.EQ, "reqs_total")], 0, 10**9)
    assert isinstance(series.values, Floats)
    assert series.range(30_000, 60_000) == ([30_000, 45_000, 60_000], [60.0, 90.0, 120.0])
    result = Engine(st).instant("rate(reqs_total[1m])", 135_000)
    assert isinstance(result, Vector)
    assert [round(s.value, 6) for s in result] == [2.0]


def test_scraped_series_share_label_pairs(httpserver: HTTPServer) -> None:
    payload = 'reqs{route="/a",code="200"} 1\nreqs{route="/b",code="200"} 2\n'
    httpserver.expect_request("/metrics").respond_with_data(payload)
    scraper = Scraper(ScrapeTarget(job="shop", url=httpserver.url_for("/metrics"), labels={"team": "x"}))
    first, second = [labels for labels, _ in scraper.collect(NOW).samples[:2]]
    assert first == Labels.of(__name__="reqs", route="/a", code="200", job="shop", team="x",
                              instance=scraper.instance)  # fmt: skip
    shared = {name: (first[i], second[i]) for i, (name, _) in enumerate(first)}
    # One tuple per distinct pair, not one per series: that is most of a series' label memory.
    assert shared["code"][0] is shared["code"][1]
    assert shared["job"][0] is shared["job"][1]


def test_a_clashing_scraped_label_is_exported_and_shared(httpserver: HTTPServer) -> None:
    payload = 'reqs{job="app",route="/a"} 1\nreqs{job="app",route="/b"} 2\n'
    httpserver.expect_request("/metrics").respond_with_data(payload)
    scraper = Scraper(ScrapeTarget(job="shop", url=httpserver.url_for("/metrics")))
    first, second = [labels for labels, _ in scraper.collect(NOW).samples[:2]]
    assert first.get("job") == "shop" and first.get("exported_job") == "app"
    exported = [p for p in first if p[0] == "exported_job"][0]
    assert exported is [p for p in second if p[0] == "exported_job"][0]


def test_cycle_times_snap_to_whole_second_ticks() -> None:
    # Scheduler jitter must not make two evaluations 5 s apart look 4.998 s apart.
    t0 = schedule_time(NOW + 0.004, 1.0)
    t1 = schedule_time(NOW + 5.002, 1.0)
    t2 = schedule_time(NOW + 9.998, 1.0)
    assert (t1 - t0, t2 - t0) == (5.0, 10.0)
    assert schedule_time(NOW + 0.123, 0.5) == NOW + 0.123  # sub-second ticks are left alone
