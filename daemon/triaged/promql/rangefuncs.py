"""Functions over range vectors: rate and friends, and the `*_over_time` family.

Each takes the selected window and returns one value per series, or None to emit
nothing for that series. `rate`/`increase`/`delta` extrapolate towards the window
edges exactly as Prometheus does, so alert thresholds behave the same here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

from triaged.promql.mathutil import kahan_sum, mean, quantile, variance
from triaged.promql.values import RangeVector, Window

RangeFn = Callable[[Window, RangeVector], float | None]


def extrapolated(w: Window, rv: RangeVector, *, counter: bool, per_second: bool) -> float | None:
    ts, vs = w.ts, w.vs
    n = len(ts)
    if n < 2:
        return None
    first, last = vs[0], vs[-1]
    result = last - first
    if counter:
        prev = first
        for v in vs:
            if v < prev:
                result += prev
            prev = v
    first_t, last_t = ts[0], ts[-1]
    to_start = (first_t - rv.start) / 1000
    to_end = (rv.end - last_t) / 1000
    sampled = (last_t - first_t) / 1000
    avg_step = sampled / (n - 1)
    # Extrapolate to an edge only if a sample could plausibly sit there; otherwise
    # assume the series starts or ends inside the window, half a step beyond.
    threshold = avg_step * 1.1
    if to_start >= threshold:
        to_start = avg_step / 2
    if counter and result > 0 and first >= 0:
        # A counter cannot go below zero, so never extrapolate past that point.
        to_zero = sampled * (first / result)
        to_start = min(to_start, to_zero)
    if to_end >= threshold:
        to_end = avg_step / 2
    factor = (sampled + to_start + to_end) / sampled
    if per_second:
        factor /= (rv.end - rv.start) / 1000
    return result * factor


def _instant_value(w: Window, rv: RangeVector, *, rate: bool) -> float | None:
    if len(w.ts) < 2:
        return None
    prev, last = w.vs[-2], w.vs[-1]
    if not rate:
        return last - prev
    result = last if last < prev else last - prev
    interval = w.ts[-1] - w.ts[-2]
    if interval == 0:
        return None
    return result / (interval / 1000)


def linear_regression(ts: list[int], vs: list[float], intercept_t: int) -> tuple[float, float]:
    init = vs[0]
    if all(v == init for v in vs):
        if math.isinf(init):
            return math.nan, math.nan
        return 0.0, init
    n = float(len(ts))
    xs = [(t - intercept_t) / 1000 for t in ts]
    sum_x = kahan_sum(xs)
    sum_y = kahan_sum(vs)
    sum_xy = kahan_sum(x * y for x, y in zip(xs, vs, strict=True))
    sum_x2 = kahan_sum(x * x for x in xs)
    cov = sum_xy - sum_x * sum_y / n
    var = sum_x2 - sum_x * sum_x / n
    slope = cov / var if var != 0 else math.nan
    return slope, sum_y / n - slope * sum_x / n


def _deriv(w: Window, rv: RangeVector) -> float | None:
    if len(w.ts) < 2:
        return None
    return linear_regression(w.ts, w.vs, w.ts[0])[0]


def _changes(w: Window, rv: RangeVector) -> float:
    vs = w.vs
    count = 0
    prev = vs[0]
    for v in vs[1:]:
        if v != prev and not (v != v and prev != prev):  # noqa: PLR0124
            count += 1
        prev = v
    return float(count)


def _resets(w: Window, rv: RangeVector) -> float:
    vs = w.vs
    return float(sum(1 for a, b in itertools.pairwise(vs) if b < a))


def _min(w: Window, rv: RangeVector) -> float:
    real = [v for v in w.vs if v == v]  # noqa: PLR0124
    return min(real) if real else math.nan


def _max(w: Window, rv: RangeVector) -> float:
    real = [v for v in w.vs if v == v]  # noqa: PLR0124
    return max(real) if real else math.nan


def _ts_of(pick: Callable[[list[float]], float], last: bool) -> RangeFn:
    def fn(w: Window, rv: RangeVector) -> float:
        real = [v for v in w.vs if v == v]  # noqa: PLR0124
        if not real:
            return w.ts[-1] / 1000
        target = pick(real)
        idx = [i for i, v in enumerate(w.vs) if v == target]
        return w.ts[idx[-1] if last else idx[0]] / 1000

    return fn


def _mad(w: Window, rv: RangeVector) -> float:
    if any(v != v for v in w.vs):  # noqa: PLR0124
        return math.nan
    median = quantile(0.5, w.vs)
    return quantile(0.5, [abs(v - median) for v in w.vs])


RANGE_FUNCTIONS: dict[str, RangeFn] = {
    "rate": lambda w, rv: extrapolated(w, rv, counter=True, per_second=True),
    "increase": lambda w, rv: extrapolated(w, rv, counter=True, per_second=False),
    "delta": lambda w, rv: extrapolated(w, rv, counter=False, per_second=False),
    "irate": lambda w, rv: _instant_value(w, rv, rate=True),
    "idelta": lambda w, rv: _instant_value(w, rv, rate=False),
    "deriv": _deriv,
    "changes": _changes,
    "resets": _resets,
    "sum_over_time": lambda w, rv: kahan_sum(w.vs),
    "avg_over_time": lambda w, rv: mean(w.vs),
    "min_over_time": _min,
    "max_over_time": _max,
    "count_over_time": lambda w, rv: float(len(w.vs)),
    "stdvar_over_time": lambda w, rv: variance(w.vs),
    "stddev_over_time": lambda w, rv: math.sqrt(variance(w.vs)),
    "present_over_time": lambda w, rv: 1.0,
    "mad_over_time": _mad,
    "ts_of_min_over_time": _ts_of(min, last=True),
    "ts_of_max_over_time": _ts_of(max, last=True),
    "ts_of_last_over_time": lambda w, rv: w.ts[-1] / 1000,
    "ts_of_first_over_time": lambda w, rv: w.ts[0] / 1000,
}

# These return a sample of the input itself, so the metric name survives.
KEEP_NAME = {"last_over_time": -1, "first_over_time": 0}


def double_exponential_smoothing(vs: list[float], sf: float, tf: float) -> float | None:
    if len(vs) < 2:
        return None
    s0 = 0.0
    s1 = vs[0]
    b = vs[1] - vs[0]
    for i in range(1, len(vs)):
        x = sf * vs[i]
        if i > 1:
            b = tf * (s1 - s0) + (1 - tf) * b
        y = (1 - sf) * (s1 + b)
        s0, s1 = s1, x + y
    return s1
