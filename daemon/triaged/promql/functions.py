"""The function table: every PromQL function the engine knows, by name.

A function receives its evaluated arguments and a `CallEnv` (evaluation time, the
call node for the few functions that look at their argument's syntax, and the
evaluator for query-wide facts such as the range query's step).
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from triaged.model import Labels
from triaged.promql import histograms, labelfuncs
from triaged.promql.mathutil import go_div, quantile
from triaged.promql.parse import CallNode, ParenNode, SelectorNode
from triaged.promql.rangefuncs import (
    KEEP_NAME,
    RANGE_FUNCTIONS,
    RangeFn,
    double_exponential_smoothing,
    linear_regression,
)
from triaged.promql.values import ExprError, InstantSample, RangeVector, Scalar, String, Vector

if TYPE_CHECKING:
    from triaged.promql.engine import Evaluator


class CallEnv(NamedTuple):
    t: int
    node: CallNode
    ev: Evaluator


Function = Callable[[list[Any], CallEnv], Scalar | Vector]


def _num(arg: Any) -> float:
    if not isinstance(arg, Scalar):
        raise ExprError("expected a scalar argument")
    return arg.value


def _str(arg: Any) -> str:
    if not isinstance(arg, String):
        raise ExprError("expected a string argument")
    return arg.value


# -- elementwise math ------------------------------------------------------------------
def _guard(fn: Callable[[float], float], domain: Callable[[float], float]) -> Callable[[float], float]:
    """Go's math returns NaN/Inf where Python's raises; `domain` gives those values."""

    def safe(x: float) -> float:
        try:
            return fn(x)
        except (ValueError, OverflowError):
            return domain(x)

    return safe


def _log_domain(x: float) -> float:
    return -math.inf if x == 0 else math.nan


def _overflow(x: float) -> float:
    return math.copysign(math.inf, x) if not math.isnan(x) else math.nan


def _sgn(x: float) -> float:
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return x  # zero keeps its sign, NaN stays NaN


MATH: dict[str, Callable[[float], float]] = {
    "abs": abs,
    "ceil": lambda x: float(math.ceil(x)) if math.isfinite(x) else x,
    "floor": lambda x: float(math.floor(x)) if math.isfinite(x) else x,
    "exp": _guard(math.exp, lambda x: math.inf),
    "sqrt": _guard(math.sqrt, lambda x: math.nan),
    "ln": _guard(math.log, _log_domain),
    "log2": _guard(math.log2, _log_domain),
    "log10": _guard(math.log10, _log_domain),
    "sgn": _sgn,
    "sin": _guard(math.sin, lambda x: math.nan),
    "cos": _guard(math.cos, lambda x: math.nan),
    "tan": _guard(math.tan, lambda x: math.nan),
    "asin": _guard(math.asin, lambda x: math.nan),
    "acos": _guard(math.acos, lambda x: math.nan),
    "atan": math.atan,
    "sinh": _guard(math.sinh, _overflow),
    "cosh": _guard(math.cosh, lambda x: math.inf),
    "tanh": math.tanh,
    "asinh": math.asinh,
    "acosh": _guard(math.acosh, lambda x: math.nan),
    "atanh": _guard(math.atanh, lambda x: _overflow(x) if abs(x) == 1 else math.nan),
    "deg": lambda x: x * 180 / math.pi,
    "rad": lambda x: x * math.pi / 180,
}


def _map(vec: Vector, fn: Callable[[float], float]) -> Vector:
    return Vector(InstantSample(s.labels, fn(s.value), None, True) for s in vec)


def _math_fn(fn: Callable[[float], float]) -> Function:
    return lambda args, env: _map(args[0], fn)


def _round(args: list[Any], env: CallEnv) -> Vector:
    to_nearest = _num(args[1]) if len(args) > 1 else 1.0
    # Prometheus computes floor(x * (1/to_nearest) + 0.5) / (1/to_nearest) in IEEE
    # arithmetic: to_nearest 0, Inf or NaN gives NaN for every sample, and a product
    # that overflows stays infinite. Python's floor and division raise there instead.
    inverse = go_div(1.0, to_nearest)

    def rnd(x: float) -> float:
        y = x * inverse + 0.5
        if math.isfinite(y):
            y = float(math.floor(y))
        return go_div(y, inverse)

    return _map(args[0], rnd)


def _fmax(a: float, b: float) -> float:
    """Go's math.Max: +Inf wins even over NaN (so `clamp_min(NaN, Inf)` is +Inf), then
    NaN wins, and +0 beats -0."""
    if math.inf in (a, b):
        return math.inf
    if a != a or b != b:  # noqa: PLR0124
        return math.nan
    if a == 0 and b == 0:
        return a if math.copysign(1.0, a) > 0 else b
    return max(a, b)


def _fmin(a: float, b: float) -> float:
    """Go's math.Min: -Inf wins even over NaN (so `clamp_max(NaN, -Inf)` is -Inf), then
    NaN wins, and -0 beats +0."""
    if -math.inf in (a, b):
        return -math.inf
    if a != a or b != b:  # noqa: PLR0124
        return math.nan
    if a == 0 and b == 0:
        return a if math.copysign(1.0, a) < 0 else b
    return min(a, b)


def _clamp(args: list[Any], env: CallEnv) -> Vector:
    lo, hi = _num(args[1]), _num(args[2])
    if hi < lo:
        return Vector()
    return _map(args[0], lambda x: _fmax(lo, _fmin(hi, x)))


def _clamp_min(args: list[Any], env: CallEnv) -> Vector:
    lo = _num(args[1])
    return _map(args[0], lambda x: _fmax(lo, x))


def _clamp_max(args: list[Any], env: CallEnv) -> Vector:
    hi = _num(args[1])
    return _map(args[0], lambda x: _fmin(hi, x))


# -- time --------------------------------------------------------------------------------
class _Civil(NamedTuple):
    """A UTC time broken down as Go's time package breaks it down."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    weekday: int  # 0 is Sunday
    yearday: int


# Go converts the value with int64(v), which is implementation-defined for NaN, ±Inf and
# anything beyond int64; those give NaN here, as they always have.
_INT64_LIMIT = 2.0**63


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil(seconds: int) -> _Civil:
    """Unix seconds to a UTC calendar date, for every int64 (datetime stops at 9999)."""
    days, rest = divmod(seconds, 86400)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (month <= 2)
    yearday = days - _days_from_civil(year, 1, 1) + 1
    return _Civil(year, month, day, rest // 3600, rest % 3600 // 60, (days + 4) % 7, yearday)


def _date_fn(part: Callable[[_Civil], float]) -> Function:
    def fn(args: list[Any], env: CallEnv) -> Vector:
        vec = args[0] if args else Vector([InstantSample(Labels(), env.t / 1000)])

        def conv(x: float) -> float:
            if not -_INT64_LIMIT <= x < _INT64_LIMIT:  # also NaN
                return math.nan
            # int() truncates toward zero, as Go's int64(v) does: -0.5 is 1970, not 1969.
            return float(part(_civil(int(x))))

        return _map(vec, conv)

    return fn


DATE_PARTS: dict[str, Callable[[_Civil], float]] = {
    "minute": lambda d: d.minute,
    "hour": lambda d: d.hour,
    "day_of_week": lambda d: d.weekday,
    "day_of_month": lambda d: d.day,
    "day_of_year": lambda d: d.yearday,
    "days_in_month": lambda d: calendar.monthrange(2000 + d.year % 400, d.month)[1],
    "month": lambda d: d.month,
    "year": lambda d: d.year,
}


def _timestamp(args: list[Any], env: CallEnv) -> Vector:
    # Prometheus reads the samples' own times only when the argument is a plain
    # selector (in parentheses or with `@`/offset, too). Anything else, even `sort`,
    # `topk` or `and`, which pass samples through unchanged, yields evaluation time.
    arg = env.node.args[0]
    while isinstance(arg, ParenNode):
        arg = arg.expr
    if not isinstance(arg, SelectorNode):
        return Vector(InstantSample(s.labels, env.t / 1000, None, True) for s in args[0])
    return Vector(
        InstantSample(s.labels, (s.timestamp if s.timestamp is not None else env.t) / 1000, None, True)
        for s in args[0]
    )


# -- range vectors ------------------------------------------------------------------------
def _range_fn(fn: RangeFn) -> Function:
    def call(args: list[Any], env: CallEnv) -> Vector:
        rv: RangeVector = args[0]
        out = Vector()
        for w in rv:
            value = fn(w, rv)
            if value is not None:
                out.append(InstantSample(w.labels, value, None, True))
        return out

    return call


def _keep_name_fn(index: int) -> Function:
    def call(args: list[Any], env: CallEnv) -> Vector:
        return Vector(InstantSample(w.labels, w.vs[index], None, w.drop_name) for w in args[0])

    return call


def _quantile_over_time(args: list[Any], env: CallEnv) -> Vector:
    q = _num(args[0])
    return Vector(InstantSample(w.labels, quantile(q, w.vs), None, True) for w in args[1])


def _predict_linear(args: list[Any], env: CallEnv) -> Vector:
    seconds = _num(args[1])
    out = Vector()
    for w in args[0]:
        if len(w.ts) < 2:
            continue
        slope, intercept = linear_regression(w.ts, w.vs, env.t)
        out.append(InstantSample(w.labels, slope * seconds + intercept, None, True))
    return out


def _smoothing(args: list[Any], env: CallEnv) -> Vector:
    sf, tf = _num(args[1]), _num(args[2])
    if not 0 < sf < 1:
        raise ExprError(f"invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:f}")
    if not 0 < tf < 1:
        raise ExprError(f"invalid trend factor. Expected: 0 < tf < 1, got: {tf:f}")
    out = Vector()
    for w in args[0]:
        value = double_exponential_smoothing(w.vs, sf, tf)
        if value is not None:
            out.append(InstantSample(w.labels, value, None, True))
    return out


# -- misc ---------------------------------------------------------------------------------
def _vector(args: list[Any], env: CallEnv) -> Vector:
    return Vector([InstantSample(Labels(), _num(args[0]))])


def _scalar(args: list[Any], env: CallEnv) -> Scalar:
    vec = args[0]
    return Scalar(vec[0].value if len(vec) == 1 else math.nan)


def _step(args: list[Any], env: CallEnv) -> Scalar:
    return Scalar(env.ev.step_ms / 1000)


def _range(args: list[Any], env: CallEnv) -> Scalar:
    return Scalar((env.ev.end_ms - env.ev.start_ms) / 1000)


def _build() -> dict[str, Function]:
    table: dict[str, Function] = {name: _math_fn(fn) for name, fn in MATH.items()}
    table.update({name: _date_fn(part) for name, part in DATE_PARTS.items()})
    table.update({name: _range_fn(fn) for name, fn in RANGE_FUNCTIONS.items()})
    table.update({name: _keep_name_fn(i) for name, i in KEEP_NAME.items()})
    table.update(
        {
            "round": _round,
            "clamp": _clamp,
            "clamp_min": _clamp_min,
            "clamp_max": _clamp_max,
            "timestamp": _timestamp,
            "time": lambda args, env: Scalar(env.t / 1000),
            "pi": lambda args, env: Scalar(math.pi),
            "vector": _vector,
            "scalar": _scalar,
            "step": _step,
            "start": lambda args, env: Scalar(env.ev.start_ms / 1000),
            "end": lambda args, env: Scalar(env.ev.end_ms / 1000),
            "min_of": lambda args, env: Scalar(_fmin(_num(args[0]), _num(args[1]))),
            "max_of": lambda args, env: Scalar(_fmax(_num(args[0]), _num(args[1]))),
            "range": _range,
            "quantile_over_time": _quantile_over_time,
            "predict_linear": _predict_linear,
            "holt_winters": _smoothing,
            "double_exponential_smoothing": _smoothing,
        }
    )
    table.update(labelfuncs.FUNCTIONS)
    table.update(histograms.FUNCTIONS)
    return table


FUNCTIONS: dict[str, Function] = _build()
