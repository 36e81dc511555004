"""The bounded in-memory tsdb: appends, selection, staleness, retention, limits."""

from triaged.model import STALE_NAN, Labels, Matcher, MatchOp, is_stale
from triaged.tsdb import Storage, StorageLimits


def L(**kw: str) -> Labels:
    return Labels.of(kw)


def test_select_by_name_and_matchers_within_time_range() -> None:
    st = Storage(StorageLimits(retention_ms=None))
    st.append(L(__name__="up", job="a"), 1000, 1)
    st.append(L(__name__="up", job="b"), 1000, 0)
    st.append(L(__name__="other", job="a"), 1000, 5)
    got = st.select([Matcher("__name__", MatchOp.EQ, "up"), Matcher("job", MatchOp.RE, "a|c")], 0, 2000)
    assert [s.labels.get("job") for s in got] == ["a"]
    assert st.select([Matcher("__name__", MatchOp.EQ, "up")], 2001, 3000) == []


def test_out_of_order_and_duplicate_samples_are_refused_and_counted() -> None:
    st = Storage()
    lbl = L(__name__="x")
    assert st.append(lbl, 2000, 1)
    assert not st.append(lbl, 2000, 2)
    assert not st.append(lbl, 1000, 3)
    assert st.rejected_samples == 2


def test_series_missing_from_next_scrape_get_a_stale_marker() -> None:
    st = Storage()
    a, b = L(__name__="m", i="a"), L(__name__="m", i="b")
    st.append_batch("target", [(a, 1.0), (b, 2.0)], 1000)
    st.append_batch("target", [(a, 1.5)], 2000)
    (series_b,) = st.select([Matcher("i", MatchOp.EQ, "b")], 0, 3000)
    assert series_b.timestamps == [1000, 2000]
    assert is_stale(series_b.values[-1])
    assert not is_stale(float("nan"))
    assert is_stale(STALE_NAN)


def test_gc_drops_old_points_and_empty_series() -> None:
    st = Storage(StorageLimits(retention_ms=10_000))
    old, fresh = L(__name__="old"), L(__name__="fresh")
    st.append(old, 1_000, 1)
    st.append(fresh, 1_000, 1)
    st.append(fresh, 25_000, 2)
    assert st.gc(now_ms=30_000) == 1
    assert len(st) == 1
    (series,) = st.select([Matcher("__name__", MatchOp.EQ, "fresh")], 0, 40_000)
    assert series.timestamps == [25_000]


def test_series_limit_rejects_new_series_without_crashing() -> None:
    st = Storage(StorageLimits(max_series=2))
    for i in range(3):
        st.append(L(__name__="m", i=str(i)), 1000, 1)
    assert len(st) == 2
    assert st.rejected_series == 1


def test_generation_changes_only_when_the_set_of_series_changes() -> None:
    st = Storage(StorageLimits(retention_ms=10_000))
    st.append(L(__name__="a"), 1_000, 1)
    g = st.generation
    st.append(L(__name__="a"), 2_000, 1)
    assert st.generation == g  # a new point is not a new series
    st.append(L(__name__="b"), 2_000, 1)
    assert st.generation > g
    g = st.generation
    st.gc(now_ms=20_000)
    assert st.generation > g


def test_gc_removes_dropped_series_from_selection_by_name_only() -> None:
    st = Storage(StorageLimits(retention_ms=10_000))
    old, kept = L(__name__="m", i="old"), L(__name__="m", i="kept")
    st.append(old, 1_000, 1.0)
    st.append(kept, 1_000, 1.0)
    st.append(kept, 15_000, 2.0)
    st.append(L(__name__="gone"), 1_000, 1.0)
    assert st.gc(now_ms=20_000) == 2
    by_name = Matcher("__name__", MatchOp.EQ, "m")
    assert [s.labels for s in st.select([by_name], 0, 10**6)] == [kept]
    assert st.select([Matcher("__name__", MatchOp.EQ, "gone")], 0, 10**6) == []
    st.append(old, 21_000, 3.0)  # comes back as a new series
    assert sorted(s.labels.get("i") or "" for s in st.select([by_name], 0, 10**6)) == ["kept", "old"]
