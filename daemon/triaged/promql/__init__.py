"""PromQL over the triaged tsdb, with Prometheus 3 semantics for float samples."""

from triaged.promql.engine import Engine, unsupported_functions
from triaged.promql.notation import expand_series_values
from triaged.promql.parse import Expr, max_range_ms, parse_expr
from triaged.promql.values import (
    ExprError,
    InstantSample,
    Matrix,
    RangeSeries,
    Scalar,
    String,
    Vector,
)

__all__ = [
    "Engine",
    "Expr",
    "ExprError",
    "InstantSample",
    "Matrix",
    "RangeSeries",
    "Scalar",
    "String",
    "Vector",
    "expand_series_values",
    "max_range_ms",
    "parse_expr",
    "unsupported_functions",
]
