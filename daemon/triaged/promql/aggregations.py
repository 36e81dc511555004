"""Aggregation operators: sum avg min max count group stddev stdvar topk bottomk
quantile count_values limitk limit_ratio, with `by`/`without` grouping."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal

from triaged.model import METRIC_NAME, Labels
from triaged.promql.mathutil import kahan_sum, mean, quantile, variance
from triaged.promql.parse import AggNode
from triaged.promql.regex import go_quote
from triaged.promql.values import ExprError, InstantSample, Scalar, String, Vector
from triaged.promql.xxhash import labels_hash

KeyFn = Callable[[Labels], Labels]


def grouping_fn(node: AggNode) -> KeyFn:
    if node.without:
        drop = frozenset((*node.grouping, METRIC_NAME))
        return lambda labels: Labels(p for p in labels if p[0] not in drop)
    keep = frozenset(node.grouping)
    if not keep:
        empty = Labels()
        return lambda labels: empty
    return lambda labels: Labels(p for p in labels if p[0] in keep)


# Group keys memoised per grouping clause. Rules re-aggregate the same series every
# cycle, and a dict hit costs a fraction of rebuilding the key from the label pairs.
# Entries are keyed by the identity of the (long-lived) label set of a tsdb series,
# since hashing a tuple of pairs costs as much as rebuilding the key; each entry keeps
# its label set alive, so an id cannot be reused while its entry exists. Bounded, so
# series churn cannot grow it without limit.
# Keys are interned, so all members of a group share one key object.
KeyCache = dict[int, tuple[Labels, Labels]]
_KEY_CACHES: dict[tuple[tuple[str, ...], bool], tuple[KeyCache, dict[Labels, Labels]]] = {}
_MAX_CACHED_KEYS = 500_000
_MAX_GROUPINGS = 1_000


def _key_cache(node: AggNode) -> KeyCache:
    ident = (node.grouping, node.without)
    entry = _KEY_CACHES.get(ident)
    if entry is None or len(entry[0]) > _MAX_CACHED_KEYS:
        if len(_KEY_CACHES) >= _MAX_GROUPINGS:
            _KEY_CACHES.clear()
        entry = _KEY_CACHES[ident] = ({}, {})
    return entry[0]


def _cached_key(node: AggNode, cache: KeyCache, key: KeyFn, labels: Labels) -> Labels:
    """Slow path of the key lookup: build, intern and remember one group key."""
    interned = _KEY_CACHES[(node.grouping, node.without)][1]
    k = key(labels)
    k = interned.setdefault(k, k)
    cache[id(labels)] = (labels, k)
    return k


def _groups(node: AggNode, vec: Vector) -> dict[Labels, list[InstantSample]]:
    key = grouping_fn(node)
    cache = _key_cache(node)
    groups: dict[Labels, list[InstantSample]] = {}
    for s in vec:
        labels = s.labels
        hit = cache.get(id(labels))
        k = hit[1] if hit is not None and hit[0] is labels else _cached_key(node, cache, key, labels)
        members = groups.get(k)
        if members is None:
            groups[k] = [s]
        else:
            members.append(s)
    return groups


def _reduce(node: AggNode, vec: Vector, fn: Callable[[list[float]], float]) -> Vector:
    """Aggregations that reduce each group's values to one number."""
    keeps_name = not node.without and METRIC_NAME in node.grouping
    if keeps_name:
        # Grouping by __name__: a group drops it at the end if any member would have.
        out = Vector()
        for labels, members in _groups(node, vec).items():
            drop = any(s.drop_name for s in members)
            out.append(InstantSample(labels, fn([s.value for s in members]), None, drop))
        return out
    key = grouping_fn(node)
    cache = _key_cache(node)
    # Keyed by the identity of the cached group key objects: see _KEY_CACHES.
    values: dict[int, tuple[Labels, list[float]]] = {}
    for labels, value, _, _ in vec:
        hit = cache.get(id(labels))
        k = hit[1] if hit is not None and hit[0] is labels else _cached_key(node, cache, key, labels)
        group = values.get(id(k))
        if group is None:
            values[id(k)] = (k, [value])
        else:
            group[1].append(value)
    return Vector(InstantSample(k, fn(group)) for k, group in values.values())


def _min(values: list[float]) -> float:
    real = [v for v in values if v == v]  # noqa: PLR0124 - NaN only wins when alone
    return min(real) if real else math.nan


def _max(values: list[float]) -> float:
    real = [v for v in values if v == v]  # noqa: PLR0124
    return max(real) if real else math.nan


SIMPLE: dict[str, Callable[[list[float]], float]] = {
    "sum": kahan_sum,
    "avg": mean,
    "min": _min,
    "max": _max,
    "count": lambda values: float(len(values)),
    "group": lambda values: 1.0,
    "stdvar": variance,
    "stddev": lambda values: math.sqrt(variance(values)),
}


def aggregate(node: AggNode, param: Scalar | String | None, vec: Vector) -> Vector:
    op = node.op
    simple = SIMPLE.get(op)
    if simple is None and op == "quantile":
        q = _scalar_param(op, param)
        simple = lambda values: quantile(q, values)  # noqa: E731
    if simple is not None:
        return _reduce(node, vec, simple)
    if op in ("topk", "bottomk"):
        return _topk(node, _scalar_param(op, param), vec, top=op == "topk")
    if op == "limitk":
        return _limitk(node, _scalar_param(op, param), vec)
    if op == "limit_ratio":
        return _limit_ratio(node, _scalar_param(op, param, what="Ratio"), vec)
    if op == "count_values":
        if not isinstance(param, String):
            raise ExprError("count_values: parameter must be a string")
        return _count_values(node, param.value, vec)
    raise ExprError(f"aggregation {op!r} is not supported")


def _scalar_param(op: str, param: Scalar | String | None, what: str = "Parameter") -> float:
    if not isinstance(param, Scalar):
        raise ExprError(f"{op}: parameter must be a number")
    if math.isnan(param.value) and op != "quantile":
        raise ExprError(f"{what} value is NaN")
    return param.value


def _k(value: float) -> int:
    if value >= 2**63:
        raise ExprError(f"scalar value {value} overflows int64")
    return int(value) if value >= 1 else 0


def _sort_key(top: bool) -> Callable[[InstantSample], tuple[bool, float]]:
    # NaN always ranks last, whichever direction we sort in.
    if top:
        return lambda s: (s.value != s.value, -s.value)
    return lambda s: (s.value != s.value, s.value)


def _topk(node: AggNode, param: float, vec: Vector, *, top: bool) -> Vector:
    k = _k(param)
    out = Vector()
    if k == 0:
        return out
    key = _sort_key(top)
    for members in _groups(node, vec).values():
        out.extend(sorted(members, key=key)[:k])
    return out


def _limitk(node: AggNode, param: float, vec: Vector) -> Vector:
    k = _k(param)
    out = Vector()
    if k == 0:
        return out
    for members in _groups(node, vec).values():
        out.extend(members[:k])
    return out


def _limit_ratio(node: AggNode, ratio: float, vec: Vector) -> Vector:
    # Sampling by label hash keeps the same series selected from one evaluation to
    # the next, and a ratio of r and one of r - 1 select complementary sets.
    ratio = max(-1.0, min(1.0, ratio))
    out = Vector()
    for s in vec:
        offset = labels_hash(s.labels) / 18446744073709551615.0
        if (ratio >= 0 and offset < ratio) or (ratio < 0 and offset >= 1.0 + ratio):
            out.append(s)
    return out


def format_go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    if text.endswith(".0"):
        text = text[:-2]
    return text


def _valid_label_name(name: str) -> bool:
    if not name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _count_values(node: AggNode, label: str, vec: Vector) -> Vector:
    if not _valid_label_name(label):
        raise ExprError(f"invalid label name {go_quote(label)}")
    key = grouping_fn(node)
    counts: dict[Labels, float] = {}
    for s in vec:
        base = dict(key(s.labels))
        base[label] = format_go_float(s.value)
        labels = Labels(sorted(base.items()))
        counts[labels] = counts.get(labels, 0.0) + 1.0
    return Vector(InstantSample(labels, n) for labels, n in counts.items())
