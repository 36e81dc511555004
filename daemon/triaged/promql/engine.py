"""The evaluator: one method per AST node type, over a tsdb `SeriesSource`.

Prometheus 3 semantics: selectors look back over the left-open window
``(t - lookback, t]``, range selectors over ``(t - range, t]``; a staleness marker as
the newest point hides a series; `__name__` is removed only when the query finishes,
so label functions and `by (__name__)` still see it. A range query evaluates the
expression at every step, which also gives subqueries their absolute step grid.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from triaged.gcpause import gc_paused
from triaged.model import Labels, Matcher, is_stale
from triaged.promql import aggregations, binops
from triaged.promql.fastpath import RATE_FUNCTIONS, rate_vector
from triaged.promql.functions import FUNCTIONS, CallEnv
from triaged.promql.parse import (
    DEFAULT_LOOKBACK_MS,
    AggNode,
    At,
    BinNode,
    CallNode,
    Expr,
    MatrixNode,
    NegNode,
    Node,
    NumberNode,
    ParenNode,
    SelectorNode,
    StringNode,
    SubqueryNode,
    children,
    ensure_expr,
)
from triaged.promql.values import (
    ExprError,
    InstantSample,
    Matrix,
    RangeSeries,
    RangeVector,
    Scalar,
    String,
    Value,
    Vector,
    Window,
)
from triaged.tsdb.series import Series
from triaged.tsdb.storage import SeriesSource

Evaluated = Scalar | String | Vector | RangeVector

DUPLICATE_LABELSET = "vector cannot contain metrics with the same labelset"


class Engine:
    """Evaluates expressions against a series source. Between queries it keeps only
    a cache of which series each selector matched (see SelectionCache)."""

    def __init__(
        self,
        source: SeriesSource,
        lookback_ms: int = DEFAULT_LOOKBACK_MS,
        subquery_step_ms: int = 60_000,
    ) -> None:
        self.source = source
        self.lookback_ms = lookback_ms
        self.subquery_step_ms = subquery_step_ms
        self.selections = SelectionCache(source)

    def instant(self, expr: Expr | str, t_ms: int) -> Value:
        """Evaluate at one instant; a range selector at the top yields a Matrix."""
        parsed = ensure_expr(expr)
        with _internal_errors(parsed), gc_paused():
            t_ms = int(t_ms)
            result = Evaluator(self, t_ms, t_ms).eval(parsed.node, t_ms)
            if isinstance(result, Vector):
                return finish_vector(result)
            if isinstance(result, RangeVector):
                return finish_matrix(result)
            return result

    def range(self, expr: Expr | str, start_ms: int, end_ms: int, step_ms: int) -> Matrix:
        """Evaluate at start, start + step, … up to end; one series per label set."""
        if step_ms <= 0:
            raise ExprError("zero or negative query resolution step widths are not accepted")
        parsed = ensure_expr(expr)
        with _internal_errors(parsed), gc_paused():
            return self._range(parsed.node, int(start_ms), int(end_ms), int(step_ms))

    def _range(self, node: Node, start_ms: int, end_ms: int, step_ms: int) -> Matrix:
        ev = Evaluator(self, start_ms, end_ms, step_ms)
        rows: dict[Labels, list[tuple[int, float]]] = {}
        for t in range(start_ms, end_ms + 1, step_ms):
            result = ev.eval(node, t)
            if isinstance(result, Scalar):
                rows.setdefault(Labels(), []).append((t, result.value))
            elif isinstance(result, Vector):
                for sample in finish_vector(result):
                    rows.setdefault(sample.labels, []).append((t, sample.value))
            else:
                kind = "string" if isinstance(result, String) else "range vector"
                raise ExprError(
                    f'invalid expression type "{kind}" for range query, must be Scalar or instant Vector'
                )
        return Matrix(RangeSeries(labels, points) for labels, points in sorted(rows.items()))


@contextmanager
def _internal_errors(expr: Expr) -> Iterator[None]:
    """A bug in one function must fail that rule's evaluation, not the rule loop, so
    unexpected Python errors surface as ExprError naming the expression."""
    try:
        yield
    except ExprError:
        raise
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
        raise ExprError(f"internal error evaluating {expr.text!r}: {type(exc).__name__}: {exc}") from exc


# Name-stripped label sets, memoised: a recording rule such as `rate(x[5m])` strips
# the same names from the same series every cycle. Bounded against series churn.
_NAMELESS: dict[Labels, Labels] = {}
_MAX_NAMELESS = 500_000


def _nameless(labels: Labels) -> Labels:
    stripped = _NAMELESS.get(labels)
    if stripped is None:
        if len(_NAMELESS) >= _MAX_NAMELESS:
            _NAMELESS.clear()
        stripped = _NAMELESS[labels] = labels.without_name()
    return stripped


def finish_vector(vec: Vector) -> Vector:
    """Apply the delayed `__name__` removal and refuse duplicate label sets."""
    out = Vector()
    append = out.append
    new = tuple.__new__
    seen: set[Labels] = set()
    for raw, value, ts, drop in vec:
        labels = _nameless(raw) if drop else raw
        if labels in seen:
            raise ExprError(DUPLICATE_LABELSET)
        seen.add(labels)
        append(new(InstantSample, (labels, value, ts, False)))
    return out


def finish_matrix(rv: RangeVector) -> Matrix:
    out = Matrix()
    seen: set[Labels] = set()
    for w in rv:
        labels = w.labels.without_name() if w.drop_name else w.labels
        if labels in seen:
            raise ExprError(DUPLICATE_LABELSET)
        seen.add(labels)
        out.append(RangeSeries(labels, list(zip(w.ts, w.vs, strict=True))))
    return out


class SelectionCache:
    """Remembers which series each selector matched, while the source's set of series
    is unchanged. Matching labels is the costliest part of a selector in Python,
    and between two rule cycles the set of series rarely changes.

    Only sources that expose a `generation` counter (bumped whenever a series is
    created or dropped) are cached; any other source is asked every time.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, source: SeriesSource) -> None:
        self.source = source
        self._entries: dict[tuple[Matcher, ...], tuple[int, list[Series]]] = {}

    def select(self, matchers: tuple[Matcher, ...], mint: int, maxt: int) -> list[Series]:
        generation = getattr(self.source, "generation", None)
        if not isinstance(generation, int):
            return self.source.select(matchers, mint, maxt)
        entry = self._entries.get(matchers)
        if entry is not None and entry[0] == generation:
            return entry[1]
        # Every series with any point: callers filter by time themselves.
        found = self.source.select(matchers, -(2**62), 2**62)
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[matchers] = (generation, found)
        return found


class Evaluator:
    """One query's evaluation: knows the query's start and end for `@ start()`."""

    def __init__(self, engine: Engine, start_ms: int, end_ms: int, step_ms: int = 0) -> None:
        self.selections = engine.selections
        self.step_ms = step_ms
        self.lookback_ms = engine.lookback_ms
        self.subquery_step_ms = engine.subquery_step_ms
        self.start_ms = start_ms
        self.end_ms = end_ms
        self._dispatch: dict[type, Callable[[Any, int], Evaluated]] = {
            NumberNode: self._number,
            StringNode: self._string,
            SelectorNode: self._vector_selector,
            MatrixNode: self._matrix_selector,
            SubqueryNode: self._subquery,
            CallNode: self._call,
            AggNode: self._aggregate,
            BinNode: self._binary,
            NegNode: self._negate,
            ParenNode: self._paren,
        }

    def eval(self, node: Node, t: int) -> Evaluated:
        return self._dispatch[type(node)](node, t)

    def eval_vector(self, node: Node, t: int) -> Vector:
        result = self.eval(node, t)
        if not isinstance(result, Vector):
            raise ExprError(f"expected instant vector, got {type(result).__name__}")
        return result

    def ref_time(self, at: At | None, t: int) -> int:
        if at is None:
            return t
        if at.kind == "start":
            return self.start_ms
        if at.kind == "end":
            return self.end_ms
        return at.ms

    # -- leaves --------------------------------------------------------------------
    def _number(self, node: NumberNode, t: int) -> Scalar:
        return Scalar(node.value)

    def _string(self, node: StringNode, t: int) -> String:
        return String(node.value)

    def _paren(self, node: ParenNode, t: int) -> Evaluated:
        return self.eval(node.expr, t)

    def select(self, node: SelectorNode, mint: int, maxt: int) -> list[Series]:
        if len(node.groups) == 1:
            return self.selections.select(node.groups[0], mint, maxt)
        found: dict[Labels, Series] = {}
        for group in node.groups:
            for series in self.selections.select(group, mint, maxt):
                found.setdefault(series.labels, series)
        return list(found.values())

    def _vector_selector(self, node: SelectorNode, t: int) -> Vector:
        ref = self.ref_time(node.at, t) - node.offset_ms
        mint = ref - self.lookback_ms + 1
        out = Vector()
        append = out.append
        new = tuple.__new__  # skips NamedTuple's Python-level __new__ in this hot loop
        for series in self.select(node, mint, ref):
            ts = series.timestamps
            i = bisect_right(ts, ref) - 1
            if i < 0 or ts[i] < mint:
                continue
            v = series.values[i]
            if v != v and is_stale(v):  # noqa: PLR0124 - the cheap NaN test guards the exact one
                continue
            append(new(InstantSample, (series.labels, v, ts[i], False)))
        return out

    def _matrix_selector(self, node: MatrixNode, t: int) -> RangeVector:
        sel = node.selector
        end = self.ref_time(sel.at, t) - sel.offset_ms
        start = end - node.range_ms
        out = RangeVector(start, end)
        for series in self.select(sel, start + 1, end):
            lo, hi = series.bounds(start + 1, end)
            if lo == hi:
                continue
            ts = series.timestamps[lo:hi]
            vs = series.values[lo:hi]
            total = sum(vs)
            if total != total:  # noqa: PLR0124 - some NaN inside: maybe a staleness marker
                keep = [i for i, v in enumerate(vs) if not is_stale(v)]
                if len(keep) != len(vs):
                    ts = [ts[i] for i in keep]
                    vs = [vs[i] for i in keep]
                    if not ts:
                        continue
            out.append(Window(series.labels, ts, vs))
        return out

    def _subquery(self, node: SubqueryNode, t: int) -> RangeVector:
        end = self.ref_time(node.at, t) - node.offset_ms
        start = end - node.range_ms
        step = node.step_ms or self.subquery_step_ms
        first = (start // step) * step
        if first <= start:
            first += step
        rows: dict[Labels, tuple[list[int], list[float], list[bool]]] = {}
        for ts in range(first, end + 1, step):
            result = self.eval(node.expr, ts)
            if isinstance(result, Scalar):
                result = Vector([InstantSample(Labels(), result.value)])
            if not isinstance(result, Vector):
                raise ExprError("subquery is only allowed on instant vector")
            for s in result:
                row = rows.get(s.labels)
                if row is None:
                    row = rows[s.labels] = ([], [], [False])
                elif row[0][-1] == ts:
                    raise ExprError(DUPLICATE_LABELSET)
                row[0].append(ts)
                row[1].append(s.value)
                row[2][0] = row[2][0] or s.drop_name
        out = RangeVector(start, end)
        for labels, (tss, vss, drop) in rows.items():
            out.append(Window(labels, tss, vss, drop[0]))
        return out

    # -- operators -----------------------------------------------------------------
    def _negate(self, node: NegNode, t: int) -> Scalar | Vector:
        inner = self.eval(node.expr, t)
        if isinstance(inner, Scalar):
            return Scalar(-inner.value)
        if isinstance(inner, Vector):
            return Vector(InstantSample(s.labels, -s.value, None, True) for s in inner)
        raise ExprError("unary minus needs a scalar or an instant vector")

    def _binary(self, node: BinNode, t: int) -> Scalar | Vector:
        lhs = self.eval(node.lhs, t)
        rhs = self.eval(node.rhs, t)
        if isinstance(lhs, String | RangeVector) or isinstance(rhs, String | RangeVector):
            raise ExprError("binary expressions need scalars or instant vectors")
        return binops.binary(node, lhs, rhs)

    def _aggregate(self, node: AggNode, t: int) -> Vector:
        param: Scalar | String | None = None
        if node.param is not None:
            value = self.eval(node.param, t)
            if not isinstance(value, Scalar | String):
                raise ExprError(f"{node.op}: parameter must be a scalar or a string")
            param = value
        return aggregations.aggregate(node, param, self.eval_vector(node.expr, t))

    def _call(self, node: CallNode, t: int) -> Scalar | Vector:
        fast = RATE_FUNCTIONS.get(node.name)
        if fast is not None and isinstance(node.args[0], MatrixNode):
            arg = node.args[0]
            end = self.ref_time(arg.selector.at, t) - arg.selector.offset_ms
            start = end - arg.range_ms
            series = self.select(arg.selector, start + 1, end)
            return rate_vector(series, start, end, counter=fast[0], per_second=fast[1])
        fn = FUNCTIONS.get(node.name)
        if fn is None:
            raise ExprError(f"function {node.name!r} is not supported")
        args = [self.eval(a, t) for a in node.args]
        return fn(args, CallEnv(t, node, self))


def unsupported_functions(expr: Expr | str) -> list[str]:
    """Functions ``expr`` calls that this engine cannot evaluate (``info``, for one):
    found when a rule file is checked, not at its every evaluation."""
    found: set[str] = set()
    pending = [ensure_expr(expr).node]
    while pending:
        node = pending.pop()
        if isinstance(node, CallNode) and node.name not in FUNCTIONS and node.name not in RATE_FUNCTIONS:
            found.add(node.name)
        pending.extend(children(node))
    return sorted(found)
