"""Numeric helpers that must round the way Prometheus rounds."""

from __future__ import annotations

import math
from collections.abc import Iterable


def go_div(a: float, b: float) -> float:
    """a / b as Go (IEEE 754) divides: by zero it gives ±Inf, or NaN for 0/0 and NaN/0,
    where Python raises ZeroDivisionError."""
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or a != a:  # noqa: PLR0124
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def kahan_sum(values: Iterable[float]) -> float:
    """Sum at least as exact as Prometheus' compensated sum.

    `math.fsum` is exact and runs in C; it refuses only inf - inf and intermediate
    overflow, where the Neumaier loop below gives Prometheus' answer."""
    values = list(values)
    try:
        return math.fsum(values)
    except (OverflowError, ValueError):
        return _neumaier(values)


def _neumaier(values: list[float]) -> float:
    total = 0.0
    c = 0.0
    for v in values:
        t = total + v
        if math.isinf(t):
            c = 0.0
        elif abs(total) >= abs(v):
            c += (total - t) + v
        else:
            c += (v - t) + total
        total = t
    return total + c


def mean(values: list[float]) -> float:
    """Average that neither overflows for huge inputs nor loses small ones."""
    n = len(values)
    total = 0.0
    c = 0.0
    for v in values:
        t = total + v
        if math.isinf(t) and not math.isinf(v) and not math.isinf(total):
            return _incremental_mean(values)
        if math.isinf(t):
            c = 0.0
        elif abs(total) >= abs(v):
            c += (total - t) + v
        else:
            c += (v - t) + total
        total = t
    return total / n + c / n


def _incremental_mean(values: list[float]) -> float:
    avg = 0.0
    c = 0.0
    for count, v in enumerate(values, start=1):
        if math.isinf(avg):
            if math.isinf(v) and (avg > 0) != (v > 0):
                return math.nan
            continue
        if math.isinf(v):
            avg = v
            continue
        delta = v / count - (avg + c) / count
        t = avg + delta
        if abs(avg) >= abs(delta):
            c += (avg - t) + delta
        else:
            c += (delta - t) + avg
        avg = t
    return avg + c


def quantile(q: float, values: list[float]) -> float:
    """Linear interpolation between closest ranks, NaN sorting first, as Prometheus."""
    if not values or math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(values, key=lambda v: (v == v, v))  # noqa: PLR0124
    n = len(ordered)
    rank = q * (n - 1)
    lower = max(0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def variance(values: list[float]) -> float:
    """Population variance by Welford's method with compensated sums."""
    count = 0.0
    avg = 0.0
    c_avg = 0.0
    aux = 0.0
    c_aux = 0.0
    for v in values:
        count += 1
        delta = v - (avg + c_avg)
        avg, c_avg = _kahan_inc(delta / count, avg, c_avg)
        aux, c_aux = _kahan_inc(delta * (v - (avg + c_avg)), aux, c_aux)
    return (aux + c_aux) / count


def _kahan_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    t = total + inc
    if math.isinf(t):
        c = 0.0
    elif abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c
