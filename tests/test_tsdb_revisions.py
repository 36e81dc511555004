"""Revisable points (OCI Monitoring): a new value for a time already held replaces it,
a late point is inserted in time order within the retention, and scrape series keep
Prometheus' strict appends. Checked through the real Storage and PromQL engine."""

from __future__ import annotations

from triaged.model import Labels, Sample
from triaged.promql import Engine, Vector
from triaged.tsdb import Storage, StorageLimits
from triaged.tsdb.series import Series

M = Labels.of(__name__="oci_bharatmart_http_requests", query="reqs")
NOW = 1_800_000_000_000  # the poll time, ms


def revise(storage: Storage, *points: tuple[int, float], now_ms: int = NOW) -> int:
    """What the daemon does with an OCI Monitoring poll's datapoints."""
    samples = [Sample(M, t, v) for t, v in points]
    return storage.append_timestamped(samples, now_ms, revisable=True)


def series_of(storage: Storage, labels: Labels = M) -> Series:
    (found,) = [s for s in storage if s.labels == labels]
    return found


def minutes(*values: float, start: int = NOW - 600_000) -> list[tuple[int, float]]:
    """One point a minute from ``start``."""
    return [(start + i * 60_000, float(v)) for i, v in enumerate(values)]


def instant(storage: Storage, expr: str, at: int = NOW) -> float:
    result = Engine(storage).instant(expr, at)
    assert isinstance(result, Vector)
    (sample,) = result
    return sample.value


def test_a_revised_value_replaces_the_stored_one_and_is_counted() -> None:
    st = Storage()
    points = minutes(10, 20, 30)
    assert revise(st, *points) == 3
    t_last = points[-1][0]
    assert revise(st, *points[1:2], (t_last, 34.0)) == 1  # the partial minute, now final
    series = series_of(st)
    assert series.values == [10.0, 20.0, 34.0]
    assert series.timestamps == [t for t, _ in points]
    assert (st.revised_samples, st.inserted_samples, st.rejected_samples) == (1, 0, 0)


def test_a_resent_point_with_the_same_value_changes_nothing_and_is_not_a_rejection() -> None:
    st = Storage()
    points = minutes(10, 20)
    revise(st, *points)
    assert revise(st, *points) == 0
    assert series_of(st).values == [10.0, 20.0]
    assert (st.revised_samples, st.inserted_samples, st.rejected_samples) == (0, 0, 0)


def test_a_late_point_older_than_the_newest_is_inserted_in_time_order() -> None:
    st = Storage()
    (a, b, c, d) = minutes(10, 20, 30, 40)
    revise(st, a, d)  # the minutes between were empty windows when first polled
    revise(st, c)
    revise(st, b)
    series = series_of(st)
    assert series.timestamps == [a[0], b[0], c[0], d[0]]
    assert series.values == [10.0, 20.0, 30.0, 40.0]
    assert st.inserted_samples == 2
    assert instant(st, f"count_over_time({M.name}[15m])") == 4


def test_a_value_a_float_cannot_hold_widens_the_series_to_doubles() -> None:
    st = Storage()
    (a, b, c) = minutes(1, 2, 3)
    revise(st, a, c)
    series = series_of(st)
    assert series.values.typecode == "f"
    revise(st, (a[0], 0.1))  # replaced
    assert series.values.typecode == "d"
    assert series.values[0] == 0.1

    st = Storage()
    revise(st, a, c)
    revise(st, (b[0], 2**24 + 1.0))  # inserted; not exact as a C float
    assert series_of(st).values == [1.0, 2**24 + 1.0, 3.0]


def test_a_revision_that_creates_a_counter_reset_is_seen_by_rate() -> None:
    """`rate` reads only the first and last value of a window after `Series.dirty`;
    a revised decrease must push `dirty` forward or the reset would be missed."""
    base = minutes(10, 20, 30, 40, 50, start=NOW - 300_000)
    cases = {
        "the revised point is lower than the one before": (base[2][0], 5.0),
        "the next point is now lower than the revised one": (base[2][0], 45.0),
        "an inserted point is lower than the one before": (base[2][0] - 30_000, 5.0),
    }
    unrevised = Storage()
    revise(unrevised, *base)
    for case, point in cases.items():
        revised = Storage()
        revise(revised, *base)
        assert series_of(revised).dirty is None
        revise(revised, point)
        final = sorted([p for p in base if p[0] != point[0]] + [point])
        reference = Storage()  # the final values, written in order
        for t, v in final:
            reference.append(M, t, v)
        for fn in ("rate", "increase"):
            expr = f"{fn}({M.name}[5m])"
            assert instant(revised, expr) == instant(reference, expr), case
        # A reset adds the value before it: more than the same window without one.
        expr = f"increase({M.name}[5m])"
        assert instant(revised, expr) > instant(unrevised, expr), case
    series = series_of(revised)
    assert series.dirty is not None and series.dirty >= point[0]


def test_dirty_covers_the_next_point_when_it_is_now_lower() -> None:
    st = Storage()
    (a, b, c) = minutes(10, 20, 30)
    revise(st, a, b, c)
    revise(st, (b[0], 25.0))  # 10, 25, 30: still rising
    assert series_of(st).dirty is None
    revise(st, (b[0], 35.0))  # 10, 35, 30: the point after it is now a decrease
    dirty = series_of(st).dirty
    assert dirty is not None and dirty >= c[0]


def test_points_older_than_the_retention_are_neither_replaced_nor_inserted() -> None:
    st = Storage(StorageLimits(retention_ms=600_000))
    old, inside, newest = (NOW - 700_000, 1.0), (NOW - 500_000, 2.0), (NOW - 60_000, 3.0)
    revise(st, old, newest)  # a first point is appended whatever its age: gc trims it
    assert revise(st, (old[0], 9.0), (NOW - 650_000, 9.0), inside) == 1
    series = series_of(st)
    assert series.timestamps == [old[0], inside[0], newest[0]]
    assert series.values == [1.0, 2.0, 3.0]
    assert (st.revised_samples, st.inserted_samples, st.rejected_samples) == (0, 1, 2)


def test_scrape_series_are_never_revised() -> None:
    """A series riding its target's shared times, or written by a scrape at all, keeps
    strict appends even if a revisable point names it."""
    st = Storage()
    rider, stray = Labels.of(__name__="up", job="a"), Labels.of(__name__="late", job="a")
    st.append_batch("scrape/a", [(rider, 1.0)], NOW - 120_000)
    st.append_batch("scrape/a", [(rider, 1.0), (stray, 5.0)], NOW - 60_000)
    st.append_batch("scrape/a", [(rider, 1.0), (stray, 6.0)], NOW)
    riding, own_times = series_of(st, rider), series_of(st, stray)
    assert riding.column is not None and own_times.column is None
    times = list(riding.timestamps)
    samples = [
        Sample(rider, NOW - 60_000, 0.0),  # replace
        Sample(rider, NOW - 90_000, 0.0),  # insert
        Sample(stray, NOW, 7.0),
        Sample(stray, NOW - 30_000, 7.0),
    ]
    assert st.append_timestamped(samples, NOW, revisable=True) == 0
    assert st.rejected_samples == 4 and st.revised_samples == st.inserted_samples == 0
    assert riding.column is not None and riding.timestamps == times
    assert riding.values == [1.0, 1.0, 1.0]
    assert own_times.values == [5.0, 6.0]


def test_points_of_a_source_that_does_not_declare_them_revisable_stay_strict() -> None:
    st = Storage()
    (a, b, c) = minutes(1, 2, 3)
    samples = [Sample(M, t, v) for t, v in (a, c)]
    assert st.append_timestamped(samples, NOW) == 2
    assert st.append_timestamped([Sample(M, c[0], 9.0), Sample(M, b[0], 2.0)], NOW) == 0
    assert series_of(st).values == [1.0, 3.0]
    assert st.rejected_samples == 2
