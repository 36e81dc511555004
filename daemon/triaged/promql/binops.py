"""Binary operators: arithmetic, comparisons (filtering or `bool`), set operators,
and the vector matching rules of `on`/`ignoring`/`group_left`/`group_right`."""

from __future__ import annotations

import math
from collections.abc import Callable

from triaged.model import METRIC_NAME, Labels
from triaged.promql.mathutil import go_div
from triaged.promql.parse import BinNode
from triaged.promql.values import ExprError, InstantSample, Scalar, Vector

SigFn = Callable[[Labels], tuple[tuple[str, str], ...]]


def _mod(a: float, b: float) -> float:
    try:
        return math.fmod(a, b)
    except ValueError:
        return math.nan


def _is_odd_int(x: float) -> bool:
    return math.isfinite(x) and x == int(x) and int(x) % 2 == 1


def _pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except OverflowError:
        sign = -1.0 if a < 0 and _is_odd_int(b) else 1.0
        return sign * math.inf if abs(a) > 1 or b < 0 else 0.0
    except ValueError:
        if a == 0 and b < 0:
            # Go's math.Pow: ±0 to a negative odd integer keeps the sign.
            return math.copysign(math.inf, a) if _is_odd_int(b) else math.inf
        return math.nan


ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": go_div,
    "%": _mod,
    "^": _pow,
    "atan2": math.atan2,
}

COMPARISON: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}

SET_OPS = frozenset({"and", "or", "unless"})


def binary(node: BinNode, lhs: Scalar | Vector, rhs: Scalar | Vector) -> Scalar | Vector:
    if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
        return Scalar(_scalar_op(node, lhs.value, rhs.value))
    if isinstance(lhs, Vector) and isinstance(rhs, Vector):
        if node.op in SET_OPS:
            return _set_op(node, lhs, rhs)
        return _vector_vector(node, lhs, rhs)
    if isinstance(lhs, Vector) and isinstance(rhs, Scalar):
        return _vector_scalar(node, lhs, rhs.value, scalar_left=False)
    if isinstance(lhs, Scalar) and isinstance(rhs, Vector):
        return _vector_scalar(node, rhs, lhs.value, scalar_left=True)
    raise ExprError(f"invalid operands for {node.op}")


def _scalar_op(node: BinNode, a: float, b: float) -> float:
    arith = ARITHMETIC.get(node.op)
    if arith is not None:
        return arith(a, b)
    cmp = COMPARISON.get(node.op)
    if cmp is None:
        raise ExprError(f"operator {node.op!r} not allowed between scalars")
    return 1.0 if cmp(a, b) else 0.0


def _vector_scalar(node: BinNode, vec: Vector, scalar: float, *, scalar_left: bool) -> Vector:
    out = Vector()
    append = out.append
    arith = ARITHMETIC.get(node.op)
    if arith is not None:
        if scalar_left:
            for s in vec:
                append(InstantSample(s.labels, arith(scalar, s.value), None, True))
        else:
            for s in vec:
                append(InstantSample(s.labels, arith(s.value, scalar), None, True))
        return out
    cmp = COMPARISON.get(node.op)
    if cmp is None:
        raise ExprError(f"operator {node.op!r} not allowed between a vector and a scalar")
    for s in vec:
        hit = cmp(scalar, s.value) if scalar_left else cmp(s.value, scalar)
        if node.return_bool:
            append(InstantSample(s.labels, 1.0 if hit else 0.0, None, True))
        elif hit:
            # The vector's own value survives even when the scalar is on the left.
            append(InstantSample(s.labels, s.value, None, s.drop_name))
    return out


def signature_fn(node: BinNode) -> SigFn:
    if node.on:
        keep = frozenset(node.matching)
        return lambda labels: tuple(p for p in labels if p[0] in keep)
    drop = frozenset((*node.matching, METRIC_NAME))
    return lambda labels: tuple(p for p in labels if p[0] not in drop)


def _set_op(node: BinNode, lhs: Vector, rhs: Vector) -> Vector:
    sig = signature_fn(node)
    if node.op == "or":
        left = {sig(s.labels) for s in lhs}
        return Vector([*lhs, *(s for s in rhs if sig(s.labels) not in left)])
    right = {sig(s.labels) for s in rhs}
    if node.op == "and":
        return Vector(s for s in lhs if sig(s.labels) in right)
    return Vector(s for s in lhs if sig(s.labels) not in right)


def go_labels(labels: Labels | tuple[tuple[str, str], ...]) -> str:
    """Labels as Prometheus prints them in error messages."""
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels) + "}"


Sig = tuple[tuple[str, str], ...]


def _index_one_side(node: BinNode, one: Vector, sig: SigFn) -> dict[Sig, InstantSample]:
    """The "one" side by match signature; two series with one signature would make
    the matching many-to-many, which only set operators allow."""
    ones: dict[Sig, InstantSample] = {}
    for s in one:
        key = sig(s.labels)
        dup = ones.get(key)
        if dup is not None:
            side = "left" if node.card == "one-to-many" else "right"
            raise ExprError(
                f"found duplicate series for the match group {go_labels(key)} on the {side} "
                f"hand-side of the operation: [{go_labels(dup.labels)}, {go_labels(s.labels)}]"
                ";many-to-many matching not allowed: matching labels must be unique on one side"
            )
        ones[key] = s
    return ones


def _element(node: BinNode, left: float, right: float, many_drop: bool) -> tuple[float, bool] | None:
    """Value and drop-name flag of one matched pair, or None if a filter drops it."""
    arith = ARITHMETIC.get(node.op)
    if arith is not None:
        return arith(left, right), True
    hit = COMPARISON[node.op](left, right)
    if node.return_bool:
        return (1.0 if hit else 0.0), True
    return (left, many_drop) if hit else None


def _vector_vector(node: BinNode, lhs: Vector, rhs: Vector) -> Vector:
    if node.card == "many-to-many":
        raise ExprError("many-to-many only allowed for set operators")
    out = Vector()
    if not lhs or not rhs:
        return out
    swapped = node.card == "one-to-many"
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    sig = signature_fn(node)
    ones = _index_one_side(node, one, sig)
    one_to_one = node.card == "one-to-one"
    matched: dict[Sig, set[Labels]] = {}
    for s in many:
        key = sig(s.labels)
        other = ones.get(key)
        if other is None:
            continue
        if one_to_one:
            # Checked before filtering, so an ambiguous match fails even when the
            # comparison would drop every candidate.
            if key in matched:
                raise ExprError(
                    "multiple matches for labels: many-to-one matching must be explicit "
                    "(group_left/group_right)"
                )
            matched[key] = set()
        left, right = (other.value, s.value) if swapped else (s.value, other.value)
        element = _element(node, left, right, s.drop_name)
        if element is None:
            continue
        labels = _result_labels(node, s.labels, other.labels)
        if not one_to_one:
            seen = matched.setdefault(key, set())
            if labels in seen:
                raise ExprError("multiple matches for labels: grouping labels must ensure unique matches")
            seen.add(labels)
        out.append(InstantSample(labels, element[0], None, element[1]))
    return out


def _result_labels(node: BinNode, many: Labels, one: Labels) -> Labels:
    if node.card == "one-to-one":
        if node.on is None:
            return many
        names = frozenset(node.matching)
        if node.on:
            return Labels(p for p in many if p[0] in names)
        return Labels(p for p in many if p[0] not in names)
    if not node.include:
        return many
    d = dict(many)
    for name in node.include:
        value = one.get(name)
        if value:
            d[name] = value
        else:
            d.pop(name, None)
    return Labels(sorted(d.items()))
