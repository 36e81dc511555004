"""Classic (`le` bucket) histogram functions: histogram_quantile,
histogram_quantiles and histogram_fraction. Native histograms are not stored by the
tsdb, so the functions that only make sense for them return nothing."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from triaged.model import METRIC_NAME, Labels
from triaged.promql.aggregations import format_go_float
from triaged.promql.mathutil import go_div
from triaged.promql.values import ExprError, InstantSample, String, Vector

if TYPE_CHECKING:
    from triaged.promql.functions import CallEnv

Bucket = list[float]  # [upper bound, cumulative count]
SMALL_DELTA = 1e-12
_MIN_NORMAL = 2.2250738585072014e-308


def almost_equal(a: float, b: float, epsilon: float) -> bool:
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < _MIN_NORMAL:
        return diff < epsilon * _MIN_NORMAL
    return diff / min(abs_sum, 1.7976931348623157e308) < epsilon


def _prepare(buckets: list[Bucket]) -> list[Bucket] | None:
    """Sort, merge equal bounds and force counts monotonic; None if unusable."""
    buckets.sort(key=lambda b: b[0])
    if not buckets or not math.isinf(buckets[-1][0]) or buckets[-1][0] < 0:
        return None
    merged: list[Bucket] = [list(buckets[0])]
    for upper, count in buckets[1:]:
        if upper == merged[-1][0]:
            merged[-1][1] += count
        else:
            merged.append([upper, count])
    prev = merged[0][1]
    for b in merged[1:]:
        cur = b[1]
        if cur == prev:
            continue
        if almost_equal(prev, cur, SMALL_DELTA) or cur < prev:
            b[1] = prev  # tiny float noise or a decrease: ignore it, keep prev
            continue
        prev = cur
    return merged


def bucket_quantile(q: float, raw: list[Bucket]) -> float:
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    buckets = _prepare(raw)
    if buckets is None or len(buckets) < 2:
        return math.nan
    observations = buckets[-1][1]
    if observations == 0 or math.isnan(observations):
        return math.nan
    rank = q * observations
    b = len(buckets) - 1
    for i in range(len(buckets) - 1):
        if buckets[i][1] >= rank:
            b = i
            break
    if b == len(buckets) - 1:
        return buckets[-2][0]
    if b == 0 and buckets[0][0] <= 0:
        return buckets[0][0]
    start = 0.0
    end = buckets[b][0]
    count = buckets[b][1]
    if b > 0:
        start = buckets[b - 1][0]
        count -= buckets[b - 1][1]
        rank -= buckets[b - 1][1]
    # q = 0 with an empty first bucket divides 0 by 0: NaN in Prometheus, not an error.
    return start + (end - start) * go_div(rank, count)


def bucket_fraction(lower: float, upper: float, raw: list[Bucket]) -> float:
    buckets = _prepare(raw)
    if buckets is None:
        return math.nan
    count = buckets[-1][1]
    if count == 0 or math.isnan(lower) or math.isnan(upper):
        return math.nan
    if lower >= upper:
        return 0.0
    rank = 0.0
    lower_rank = upper_rank = 0.0
    lower_set = upper_set = False
    for i, (upper_bound, bucket_count) in enumerate(buckets):
        lower_bound = buckets[i - 1][0] if i > 0 else (0.0 if upper_bound > 0 else -math.inf)
        span = (lower_bound, upper_bound, rank, bucket_count)
        if not lower_set and lower_bound >= lower:
            lower_rank, lower_set = rank, True
        if not upper_set and lower_bound >= upper:
            upper_rank, upper_set = rank, True
        if lower_set and upper_set:
            break
        if not lower_set and lower_bound < lower < upper_bound:
            lower_rank, lower_set = _interpolate(span, lower), True
        if not upper_set and lower_bound < upper < upper_bound:
            upper_rank, upper_set = _interpolate(span, upper), True
        if lower_set and upper_set:
            break
        rank = bucket_count
    if not lower_set or lower_rank > count:
        lower_rank = count
    if not upper_set or upper_rank > count:
        upper_rank = count
    return (upper_rank - lower_rank) / count


def _interpolate(span: tuple[float, float, float, float], v: float) -> float:
    """Rank of `v` inside one bucket, assuming observations spread evenly in it."""
    lb, ub, rank_below, count = span
    if math.isinf(lb) or math.isinf(ub):
        return rank_below if math.isinf(ub) else count
    return rank_below + (count - rank_below) * (v - lb) / (ub - lb)


# Parsed `le` values: a histogram has a handful of bounds, read again every cycle.
_LE_BOUNDS: dict[str, float] = {}
_MAX_LE_BOUNDS = 10_000


def _parse_le(le: str) -> float | None:
    """The bound an `le` value names, or None where Go's strconv.ParseFloat fails: it
    refuses surrounding whitespace and non-ASCII digits, which Python's float() takes,
    so such a bucket is skipped rather than read as a bound."""
    if not le or not le.isascii() or le[0].isspace() or le[-1].isspace():
        return None
    try:
        upper = float(le)
    except ValueError:
        return None
    if len(_LE_BOUNDS) >= _MAX_LE_BOUNDS:
        _LE_BOUNDS.clear()
    _LE_BOUNDS[le] = upper
    return upper


def _bucket_groups(vec: Vector) -> dict[Labels, tuple[Labels, list[Bucket]]]:
    groups: dict[Labels, tuple[Labels, list[Bucket]]] = {}
    for s in vec:
        le = s.labels.get("le")
        upper = _LE_BOUNDS.get(le)
        if upper is None:
            upper = _parse_le(le)
            if upper is None:
                continue
        key = Labels(p for p in s.labels if p[0] != "le")
        group = groups.get(key)
        if group is None:
            out_labels = Labels(p for p in key if p[0] != METRIC_NAME)
            group = groups[key] = (out_labels, [])
        group[1].append([upper, s.value])
    return groups


def _per_group(vec: Vector, fn: Callable[[list[Bucket]], float]) -> Vector:
    return Vector(InstantSample(labels, fn(buckets)) for labels, buckets in _bucket_groups(vec).values())


def _histogram_quantile(args: list[Any], env: CallEnv) -> Vector:
    q = args[0].value
    return _per_group(args[1], lambda buckets: bucket_quantile(q, buckets))


def _histogram_fraction(args: list[Any], env: CallEnv) -> Vector:
    lower, upper = args[0].value, args[1].value
    return _per_group(args[2], lambda buckets: bucket_fraction(lower, upper, buckets))


def _histogram_quantiles(args: list[Any], env: CallEnv) -> Vector:
    vec: Vector = args[0]
    label = args[1].value if isinstance(args[1], String) else ""
    qs = [a.value for a in args[2:]]
    out = Vector()
    for labels, buckets in _bucket_groups(vec).values():
        if label in dict(labels):
            raise ExprError(f"label {label!r} already exists on the input")
        for q in qs:
            value = bucket_quantile(q, [list(b) for b in buckets])
            out.append(InstantSample(labels.with_(**{label: _quantile_label(q)}), value))
    return out


def _quantile_label(q: float) -> str:
    # Always with a decimal point ("0.0", "1.0"), as Prometheus labels quantiles.
    text = format_go_float(q)
    return text if "." in text or not math.isfinite(q) else text + ".0"


def _native_only(args: list[Any], env: CallEnv) -> Vector:
    return Vector()


FUNCTIONS: dict[str, Callable[[list[Any], CallEnv], Any]] = {
    "histogram_quantile": _histogram_quantile,
    "histogram_quantiles": _histogram_quantiles,
    "histogram_fraction": _histogram_fraction,
    "histogram_count": _native_only,
    "histogram_sum": _native_only,
    "histogram_avg": _native_only,
    "histogram_stddev": _native_only,
    "histogram_stdvar": _native_only,
}
