"""`rate`/`increase`/`delta` straight over tsdb series.

These three carry nearly every alerting rule, over every bucket of every histogram,
so they skip the generic path (slice into a Window, then call the function): one
loop reads the window bounds by bisection and applies the same extrapolation as
`rangefuncs.extrapolated`. Windows holding a NaN (perhaps a staleness marker) or a
counter reset take the generic code, which is rare and keeps one source of truth
for the subtle cases.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from triaged.model import is_stale
from triaged.promql.rangefuncs import extrapolated
from triaged.promql.values import InstantSample, RangeVector, Vector, Window
from triaged.tsdb.storage import Series

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
    lo_t = start + 1
    new = tuple.__new__  # skips NamedTuple's Python-level __new__ in this hot loop
    left, right = bisect_left, bisect_right
    # Series scraped together share their first and last timestamps, so the
    # extrapolation geometry is worked out once per (first, last, count).
    shapes: dict[tuple[int, int, int], tuple[float, float, float]] = {}
    for series in series_list:
        ts = series.timestamps
        lo = left(ts, lo_t)
        hi = right(ts, end, lo)
        n = hi - lo
        if n < 2:
            continue
        vs = series.values[lo:hi]
        total = sum(vs)
        if total != total or (counter and vs != sorted(vs)):  # noqa: PLR0124
            value = _generic(series, lo, hi, RangeVector(start, end), counter=counter, per_second=per_second)
            if value is not None:
                append(InstantSample(series.labels, value, None, True))
            continue
        key = (ts[lo], ts[hi - 1], n)
        shape = shapes.get(key)
        if shape is None:
            shape = shapes[key] = _shape(key, start, end, per_second)
        sampled, to_start, factor = shape
        first = vs[0]
        result = vs[-1] - first
        if counter and result > 0 and first >= 0 and sampled * (first / result) < to_start:
            # The counter would reach zero inside the window: extrapolate only to there.
            factor = _factor(key, sampled * (first / result), start, end, per_second)
        append(new(InstantSample, (series.labels, result * factor, None, True)))
    return out


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
