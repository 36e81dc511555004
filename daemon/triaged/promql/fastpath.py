"""`rate`/`increase`/`delta` straight over tsdb series.

These three carry nearly every alerting rule, over every bucket of every histogram,
so they skip the generic path (slice into a Window, then call the function): one
loop finds the window bounds once per shared list of timestamps and applies the same
extrapolation as `rangefuncs.extrapolated`. A tsdb series notes the time of its last
NaN or decrease (`Series.dirty`); a window starting after it needs only its first and
last value, read in place. Windows holding a NaN (perhaps a staleness marker) or a
counter reset take the generic code, which is rare and keeps one source of truth
for the subtle cases.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from triaged.model import is_stale
from triaged.promql.rangefuncs import extrapolated
from triaged.promql.values import InstantSample, RangeVector, Vector, Window
from triaged.tsdb.series import Floats, Series

# function name -> (is a counter, per second)
RATE_FUNCTIONS = {
    "rate": (True, True),
    "increase": (True, False),
    "delta": (False, False),
}


def rate_vector(
    series_list: Iterable[Series], start: int, end: int, *, counter: bool, per_second: bool
) -> Vector:
    """Rate-like values over the window ``(start, end]`` of each series."""
    out = Vector()
    append = out.append
    new = tuple.__new__  # skips NamedTuple's Python-level __new__ in this hot loop
    item = array.__getitem__
    # Series scraped together share one list of timestamps (a tsdb TimeColumn), so the
    # window bounds and the extrapolation geometry are worked out once per list.
    windows: dict[int, _Bounds] = {}
    shapes: dict[tuple[int, int, int], tuple[float, float, float]] = {}
    prev_ts: list[int] | None = None
    lo = hi = 0
    key = (0, 0, 0)
    first_t = 0
    sampled = to_start = factor = 0.0
    for series in series_list:
        ts = series.timestamps
        if ts is not prev_ts:  # consecutive series mostly share one list
            w = windows.get(id(ts))
            if w is None or w[0] is not ts:  # the list is kept, so its id is not reused meanwhile
                w = windows[id(ts)] = _bounds(ts, start, end, per_second, shapes)
            prev_ts, lo, hi, key, (sampled, to_start, factor) = w
            first_t = key[0]
        if hi - lo < 2:
            continue
        vs = series.values
        dirty = series.dirty
        if vs.__class__ is Floats and (dirty is None or dirty < first_t):
            # put() saw no NaN and no decrease from the window's first point on.
            first = item(vs, lo)
            last = item(vs, hi - 1)
        else:
            part = vs[lo:hi]
            total = sum(part)
            if total != total or (counter and part != sorted(part)):  # noqa: PLR0124
                bounds = RangeVector(start, end)
                value = _generic(series, lo, hi, bounds, counter=counter, per_second=per_second)
                if value is not None:
                    append(InstantSample(series.labels, value, None, True))
                continue
            first = part[0]
            last = part[-1]
        result = last - first
        scale = factor
        if counter and result > 0 and first >= 0 and sampled * (first / result) < to_start:
            # The counter would reach zero inside the window: extrapolate only to there.
            scale = _factor(key, sampled * (first / result), start, end, per_second)
        append(new(InstantSample, (series.labels, result * scale, None, True)))
    return out


# (the timestamps, lo, hi, (first t, last t, count), shape): one window of one list of times
_Bounds = tuple[list[int], int, int, tuple[int, int, int], tuple[float, float, float]]
_NO_SHAPE = (0.0, 0.0, 0.0)


def _bounds(
    ts: list[int],
    start: int,
    end: int,
    per_second: bool,
    shapes: dict[tuple[int, int, int], tuple[float, float, float]],
) -> _Bounds:
    lo = bisect_left(ts, start + 1)
    hi = bisect_right(ts, end, lo)
    if hi - lo < 2:
        return ts, lo, hi, (0, 0, 0), _NO_SHAPE
    key = (ts[lo], ts[hi - 1], hi - lo)
    shape = shapes.get(key)
    if shape is None:
        shape = shapes[key] = _shape(key, start, end, per_second)
    return ts, lo, hi, key, shape


def _shape(key: tuple[int, int, int], start: int, end: int, per_second: bool) -> tuple[float, float, float]:
    first_t, _, n = key
    sampled = (key[1] - first_t) / 1000
    avg_step = sampled / (n - 1)
    to_start = (first_t - start) / 1000
    if to_start >= avg_step * 1.1:
        to_start = avg_step / 2
    return sampled, to_start, _factor(key, to_start, start, end, per_second)


def _factor(key: tuple[int, int, int], to_start: float, start: int, end: int, per_second: bool) -> float:
    first_t, last_t, n = key
    sampled = (last_t - first_t) / 1000
    avg_step = sampled / (n - 1)
    to_end = (end - last_t) / 1000
    if to_end >= avg_step * 1.1:
        to_end = avg_step / 2
    factor = (sampled + to_start + to_end) / sampled
    if per_second:
        factor /= (end - start) / 1000
    return factor


def _generic(
    series: Series, lo: int, hi: int, bounds: RangeVector, *, counter: bool, per_second: bool
) -> float | None:
    pairs = [
        (t, v) for t, v in zip(series.timestamps[lo:hi], series.values[lo:hi], strict=True) if not is_stale(v)
    ]
    window = Window(series.labels, [t for t, _ in pairs], [v for _, v in pairs])
    return extrapolated(window, bounds, counter=counter, per_second=per_second)
