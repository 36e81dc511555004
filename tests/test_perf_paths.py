"""The shapes chosen for speed and memory (issue #8) behave like the plain ones."""

from __future__ import annotations

import math
import random
import struct

from pytest_httpserver import HTTPServer

from triaged.model import STALE_NAN, Labels, Matcher, MatchOp, is_stale
from triaged.promql import Engine, Vector, parse_expr
from triaged.promql.rangefuncs import RANGE_FUNCTIONS
from triaged.promql.values import RangeVector, Window
from triaged.runner import schedule_time
from triaged.sources.exposition import ExpositionParser
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
    exported = next(p for p in first if p[0] == "exported_job")
    assert exported is next(p for p in second if p[0] == "exported_job")


def test_cycle_times_snap_to_whole_second_ticks() -> None:
    # Scheduler jitter must not make two evaluations 5 s apart look 4.998 s apart.
    t0 = schedule_time(NOW + 0.004, 1.0)
    t1 = schedule_time(NOW + 5.002, 1.0)
    t2 = schedule_time(NOW + 9.998, 1.0)
    assert (t1 - t0, t2 - t0) == (5.0, 10.0)
    assert schedule_time(NOW + 0.123, 0.5) == NOW + 0.123  # sub-second ticks are left alone


# -- scrape time columns -----------------------------------------------------------------

UP = Labels.of(__name__="up", job="a")
TEMP = Labels.of(__name__="temp", job="a")


def test_series_of_one_scrape_share_its_times() -> None:
    st = Storage(StorageLimits(retention_ms=None))
    for i in range(3):
        st.append_batch("a", [(UP, 1.0), (TEMP, 20.0 + i)], 1000 * (i + 1))
    up, temp = (st.select([Matcher("__name__", MatchOp.EQ, n)], 0, 10**6)[0] for n in ("up", "temp"))
    assert up.timestamps is temp.timestamps
    assert temp.range(0, 10**6) == ([1000, 2000, 3000], [20.0, 21.0, 22.0])


def test_a_vanished_series_gets_one_marker_then_keeps_its_own_times() -> None:
    st = Storage(StorageLimits(retention_ms=None))
    st.append_batch("a", [(UP, 1.0), (TEMP, 20.0)], 1000)
    st.append_batch("a", [(UP, 1.0)], 2000)
    st.append_batch("a", [(UP, 1.0)], 3000)
    st.append_batch("a", [(UP, 1.0), (TEMP, 23.0)], 4000)
    up, temp = (st.select([Matcher("__name__", MatchOp.EQ, n)], 0, 10**6)[0] for n in ("up", "temp"))
    assert up.timestamps == [1000, 2000, 3000, 4000]
    assert temp.timestamps == [1000, 2000, 4000] and temp.timestamps is not up.timestamps
    assert temp.values[0] == 20.0 and is_stale(temp.values[1]) and temp.values[2] == 23.0


def test_a_direct_append_to_a_riding_series_leaves_the_others_alone() -> None:
    st = Storage(StorageLimits(retention_ms=None))
    st.append_batch("a", [(UP, 1.0), (TEMP, 20.0)], 1000)
    assert st.append(TEMP, 1500, 21.0)
    st.append_batch("a", [(UP, 1.0), (TEMP, 22.0)], 2000)
    up, temp = (st.select([Matcher("__name__", MatchOp.EQ, n)], 0, 10**6)[0] for n in ("up", "temp"))
    assert up.range(0, 10**6) == ([1000, 2000], [1.0, 1.0])
    assert temp.range(0, 10**6) == ([1000, 1500, 2000], [20.0, 21.0, 22.0])


def test_a_scrape_older_than_the_last_one_is_refused_whole() -> None:
    st = Storage(StorageLimits(retention_ms=None))
    st.append_batch("a", [(UP, 1.0), (TEMP, 20.0)], 2000)
    assert st.append_batch("a", [(UP, 0.0), (TEMP, 19.0)], 1000) == 0
    assert st.rejected_samples == 2
    st.append_batch("a", [(UP, 1.0), (TEMP, 21.0)], 3000)
    (temp,) = st.select([Matcher("__name__", MatchOp.EQ, "temp")], 0, 10**6)
    assert temp.range(0, 10**6) == ([2000, 3000], [20.0, 21.0])


def _reference_run(seed: int) -> None:
    """Random presence, late-born series, gc and a forgotten source, checked point by
    point against plain per-series lists with the same staleness rules."""
    rng = random.Random(seed)
    st = Storage(StorageLimits(retention_ms=10_000))
    ref: dict[Labels, list[tuple[int, float]]] = {}
    last: dict[str, set[Labels]] = {}
    names = [Labels.of(__name__="m", i=str(i)) for i in range(12)]
    for step in range(1, 80):
        t = step * 1000
        for source, pool in (("a", names[:8]), ("b", names[6:])):
            if source == "b" and step > 60:
                continue
            batch = [(lbl, float(rng.randint(0, 9))) for lbl in pool if rng.random() < 0.8]
            st.append_batch(source, batch, t)
            seen = set()
            for lbl, v in batch:
                seen.add(lbl)
                points = ref.setdefault(lbl, [])
                if not points or points[-1][0] < t:
                    points.append((t, v))
            for lbl in last.get(source, set()) - seen:
                points = ref.get(lbl)
                if points is not None and points[-1][0] < t:
                    points.append((t, STALE_NAN))
            last[source] = seen
        if step == 61:
            st.forget_source("b", t + 500)
            for lbl in last.pop("b"):
                points = ref[lbl]
                if points[-1][0] < t + 500:
                    points.append((t + 500, STALE_NAN))
        if step % 7 == 0:
            st.gc(t)
            for lbl in list(ref):
                ref[lbl] = [p for p in ref[lbl] if p[0] >= t - 10_000]
                if not ref[lbl]:
                    del ref[lbl]
        got = {s.labels: list(zip(s.timestamps, s.values, strict=True)) for s in st}
        assert set(got) == set(ref)
        for lbl, points in ref.items():
            bits = [(pt, struct.pack("<d", v)) for pt, v in points]
            assert [(pt, struct.pack("<d", v)) for pt, v in got[lbl]] == bits, (step, lbl)


def test_time_columns_match_plain_lists_point_for_point() -> None:
    for seed in range(20):
        _reference_run(seed)


def test_floats_compare_equal_to_the_same_list() -> None:
    assert Floats([1.0, 2.0]) == [1.0, 2.0]
    assert Floats([1.0, 2.0]) != [1.0, 3.0]
    assert Floats([1.0]) == Floats([1.0])


def test_targets_on_one_host_port_are_different_sources() -> None:
    a = Scraper(ScrapeTarget(job="fleet", url="http://127.0.0.1:9100/t/1/metrics"))
    b = Scraper(ScrapeTarget(job="fleet", url="http://127.0.0.1:9100/t/2/metrics"))
    plain = Scraper(ScrapeTarget(job="fleet", url="http://127.0.0.1:9100/metrics"))
    assert len({a.key, b.key, plain.key}) == 3
    assert plain.key == "scrape/fleet/127.0.0.1:9100"


def test_values_start_narrow_and_widen_without_changing_any_value() -> None:
    st = Storage(StorageLimits(retention_ms=None))
    lbl = Labels.of(__name__="x")
    st.append_batch("a", [(lbl, 3.0)], 1000)
    st.append_batch("a", [(lbl, 16_777_216.0)], 2000)
    (series,) = st
    assert series.values.typecode == "f"  # integer counts fit in 4 bytes a point
    st.append_batch("a", [(lbl, 0.1)], 3000)
    st.append_batch("a", [(lbl, 16_777_217.0)], 4000)
    st.append_batch("a", [], 5000)
    assert series.values.typecode == "d"
    assert series.values[:4] == [3.0, 16_777_216.0, 0.1, 16_777_217.0]
    assert is_stale(series.values[4])


# -- rate fast path --------------------------------------------------------------------


def _expected_rates(st: Storage, fn: str, t: int, range_ms: int) -> dict[Labels, float]:
    """The generic path: the window without staleness markers, then `extrapolated`."""
    out: dict[Labels, float] = {}
    bounds = RangeVector(t - range_ms, t)
    for s in st:
        points = [(pt, v) for pt, v in zip(s.timestamps, s.values, strict=True)
                  if t - range_ms < pt <= t and not is_stale(v)]  # fmt: skip
        window = Window(s.labels, [pt for pt, _ in points], [v for _, v in points])
        value = RANGE_FUNCTIONS[fn](window, bounds)
        if value is not None:
            out[s.labels] = value
    return out


def test_rate_over_resets_nans_and_markers_matches_the_generic_path() -> None:
    # The fast path reads only a window's first and last value when the series saw no
    # NaN and no decrease since the window's start; every other window goes the long way.
    rng = random.Random(8)
    st = Storage(StorageLimits(retention_ms=None))
    counters = [Labels.of(__name__="c", i=str(i)) for i in range(40)]
    level = {lbl: 0.0 for lbl in counters}
    for step in range(1, 121):
        batch = []
        for lbl in counters:
            roll = rng.random()
            if roll < 0.03:
                continue  # absent: a staleness marker, then back
            if roll < 0.06:
                level[lbl] = rng.choice([0.0, float("nan"), level[lbl] / 2])
            else:
                level[lbl] += rng.choice([0.0, 1.0, 2.5, 7.0])
            batch.append((lbl, level[lbl]))
        st.append_batch("a", batch, step * 15_000)
        if step % 10 == 0:
            # A series of its own times too, not on the source's shared column.
            st.append(Labels.of(__name__="c", i="own"), step * 15_000 + 7, float(step % 4))
    engine = Engine(st)
    for t in range(30_000, 121 * 15_000, 37_000):
        for fn in ("rate", "increase", "delta"):
            got = engine.instant(f"{fn}(c[2m])", t)
            assert isinstance(got, Vector)
            want = {lbl.without_name(): v for lbl, v in _expected_rates(st, fn, t, 120_000).items()}
            assert len(got) == len(want), (fn, t)
            for s in got:
                expected = want[s.labels]
                assert s.value == expected or (math.isnan(s.value) and math.isnan(expected)), (fn, t)


def test_the_parser_cache_never_merges_series_whose_text_differs() -> None:
    # Cached by comma-separated fragments: commas and braces inside values must not
    # make two different series one.
    payload = (
        'm{a="x,y",b="z"} 1\n'
        'm{a="x",y="1",b="z"} 2\n'
        'm{a="x,y,b=\\"z\\""} 3\n'
        'm{a="x}",b="{z"} 4\n'
        'm{a="x,",b="z"} 5\n'
        'm{a=",x",b="z"} 6\n'
        "m 7\n"
    )
    parser = ExpositionParser()
    cold = parser.parse(payload)
    assert len({labels for labels, _ in cold}) == 7
    assert parser.parse(payload) == cold == ExpositionParser().parse(payload)
    assert cold[0][0] == Labels.of(__name__="m", a="x,y", b="z")
    assert cold[2][0] == Labels.of(__name__="m", a='x,y,b="z"')


def test_one_rule_aggregates_right_while_its_input_series_change() -> None:
    # Group keys are remembered per aggregation by the input's series and order; any
    # change in either must regroup, not reuse stale keys.
    st = Storage(StorageLimits(retention_ms=None))
    engine = Engine(st)
    expr = parse_expr("sum by (svc) (x)")

    def x(svc: str, i: int) -> Labels:
        return Labels.of(__name__="x", svc=svc, i=str(i))

    scrapes = [
        ([(x("a", 1), 1.0), (x("b", 2), 2.0)], {"a": 1.0, "b": 2.0}),
        ([(x("a", 1), 1.0), (x("b", 2), 2.0)], {"a": 1.0, "b": 2.0}),
        ([(x("a", 1), 1.0), (x("a", 3), 10.0), (x("b", 2), 2.0)], {"a": 11.0, "b": 2.0}),
        ([(x("a", 3), 10.0), (x("b", 2), 2.0)], {"a": 10.0, "b": 2.0}),  # i=1 went stale
        ([(x("a", 3), 10.0), (x("c", 4), 4.0)], {"a": 10.0, "c": 4.0}),  # same length, other series
        ([(x("c", 4), 4.0), (x("a", 3), 10.0)], {"a": 10.0, "c": 4.0}),
    ]
    for step, (batch, want) in enumerate(scrapes, 1):
        st.append_batch("t", batch, step * 1000)
        # The daemon passes the rule's text (parsed afresh each time); others an Expr.
        got = engine.instant(expr if step % 2 else expr.text, step * 1000)
        assert isinstance(got, Vector)
        assert {s.labels.get("svc"): s.value for s in got} == want, step
