"""Aggregation operators: sum avg min max count group stddev stdvar topk bottomk
quantile count_values limitk limit_ratio, with `by`/`without` grouping."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from operator import itemgetter

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


# Group keys memoised per aggregation node. A rule aggregates the same series, in the
# same order, every cycle: the node remembers the label sets it saw and their group
# keys, and one C-speed list comparison (identical objects compare at once) tells
# whether the keys still apply. That costs two list slots per sample, where a dict
# keyed by label set would cost ~80 bytes a series. Nodes are compared by value, as
# the daemon parses a rule's text afresh each cycle. Keys are interned per node, so
# all members of a group share one key object and can be grouped by its id. Bounded
# in total, so ad hoc queries over many series cannot grow it without limit.
class _Memo:
    __slots__ = ("keys", "labels")

    def __init__(self, labels: list[Labels], keys: list[Labels]) -> None:
        self.labels = labels
        self.keys = keys


_MEMOS: dict[AggNode, _Memo] = {}
_MAX_CACHED_KEYS = 1_000_000
_sample_labels = itemgetter(0)


def group_keys(node: AggNode, vec: Vector) -> list[Labels]:
    """The group key of each sample of ``vec``, in order; equal keys are one object."""
    labels = list(map(_sample_labels, vec))
    memo = _MEMOS.get(node)
    if memo is not None and labels == memo.labels:
        return memo.keys
    keys = _compute_keys(node, labels, memo)
    held = sum(len(m.labels) for m in _MEMOS.values())
    if memo is not None:
        held -= len(memo.labels)
    if held + len(labels) > _MAX_CACHED_KEYS:
        _MEMOS.clear()
    _MEMOS[node] = _Memo(labels, keys)
    return keys


def _compute_keys(node: AggNode, labels: list[Labels], memo: _Memo | None) -> list[Labels]:
    """Slow path: reuse what the last evaluation knew by identity, build the rest."""
    key = grouping_fn(node)
    known: dict[int, tuple[Labels, Labels]] = {}
    interned: dict[Labels, Labels] = {}
    if memo is not None:
        known = {id(lbl): (lbl, k) for lbl, k in zip(memo.labels, memo.keys, strict=True)}
        interned = {k: k for k in {id(k): k for k in memo.keys}.values()}
    out: list[Labels] = []
    append = out.append
    for lbl in labels:
        hit = known.get(id(lbl))
        if hit is not None and hit[0] is lbl:
            append(hit[1])
        else:
            k = key(lbl)
            append(interned.setdefault(k, k))
    return out


def _groups(node: AggNode, vec: Vector) -> dict[Labels, list[InstantSample]]:
    groups: dict[Labels, list[InstantSample]] = {}
    for k, s in zip(group_keys(node, vec), vec, strict=True):
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
    # Keyed by the identity of the interned group keys: see group_keys.
    values: dict[int, tuple[Labels, list[float]]] = {}
    for k, s in zip(group_keys(node, vec), vec, strict=True):
        group = values.get(id(k))
        if group is None:
            values[id(k)] = (k, [s[1]])
        else:
            group[1].append(s[1])
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
    # Prometheus sets the value label on each sample first and groups after: `by`
    # keeps the value label as if listed, `without` drops it when listed (or when it is
    # __name__, which `without` always drops), so
    # `count_values without (job) ("job", x)` counts per remaining labels alone.
    key = grouping_fn(node)
    keep_value = not (node.without and (label in node.grouping or label == METRIC_NAME))
    counts: dict[Labels, float] = {}
    for s in vec:
        base = dict(key(s.labels))
        if keep_value:
            base[label] = format_go_float(s.value)
        labels = Labels(sorted(base.items()))
        counts[labels] = counts.get(labels, 0.0) + 1.0
    return Vector(InstantSample(labels, n) for labels, n in counts.items())
