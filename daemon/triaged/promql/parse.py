"""Turn PromQL text into the engine's own small AST.

`promql_parser` hands out Rust-backed nodes whose attribute getters clone on every
access, so walking them on each evaluation would dominate the cost of a rule. We
convert once, into frozen dataclasses the evaluator can read at Python speed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import promql_parser as pp

from triaged.model import METRIC_NAME, Matcher, MatchOp
from triaged.promql.regex import restore_bytes
from triaged.promql.values import ExprError
from triaged.re2 import translate

DEFAULT_LOOKBACK_MS = 300_000

_MATCH_OPS = {
    "Equal": MatchOp.EQ,
    "NotEqual": MatchOp.NE,
    "Re": MatchOp.RE,
    "NotRe": MatchOp.NRE,
}


@dataclass(frozen=True, slots=True)
class At:
    """An `@` modifier: a fixed time, or the start/end of the enclosing query."""

    kind: str  # "at", "start" or "end"
    ms: int = 0


@dataclass(frozen=True, slots=True)
class NumberNode:
    value: float


@dataclass(frozen=True, slots=True)
class StringNode:
    value: str


@dataclass(frozen=True, slots=True)
class SelectorNode:
    # Alternatives for `foo{a="1" or b="2"}`; a plain selector has exactly one group.
    groups: tuple[tuple[Matcher, ...], ...]
    offset_ms: int = 0
    at: At | None = None

    @property
    def matchers(self) -> tuple[Matcher, ...]:
        return self.groups[0]


@dataclass(frozen=True, slots=True)
class MatrixNode:
    selector: SelectorNode
    range_ms: int


@dataclass(frozen=True, slots=True)
class SubqueryNode:
    expr: Node
    range_ms: int
    step_ms: int | None
    offset_ms: int = 0
    at: At | None = None


@dataclass(frozen=True, slots=True)
class CallNode:
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AggNode:
    op: str
    expr: Node
    param: Node | None
    grouping: tuple[str, ...]
    without: bool


@dataclass(frozen=True, slots=True)
class BinNode:
    op: str
    lhs: Node
    rhs: Node
    return_bool: bool = False
    card: str = "one-to-one"  # also many-to-one, one-to-many, many-to-many
    on: bool | None = None  # None: no on()/ignoring() clause
    matching: tuple[str, ...] = ()
    include: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NegNode:
    expr: Node


@dataclass(frozen=True, slots=True)
class ParenNode:
    expr: Node


Node = (
    NumberNode
    | StringNode
    | SelectorNode
    | MatrixNode
    | SubqueryNode
    | CallNode
    | AggNode
    | BinNode
    | NegNode
    | ParenNode
)


@dataclass(frozen=True, slots=True)
class Expr:
    """A parsed expression; `text` is what the rule author wrote."""

    text: str
    node: Node = field(repr=False)

    def __str__(self) -> str:
        return self.text


def _regex_reason(error: str) -> str:
    """The parser refuses a bad regex without saying why: say what in it is not RE2."""
    pattern = error.removeprefix("illegal regex for ")
    if pattern == error:
        return ""
    try:
        translate(pattern)
    except re.error as exc:
        return f": {exc}"
    return ": the PromQL parser does not read this form (\\Q…\\E and octal escapes among them)"


def parse_expr(text: str) -> Expr:
    """Parse PromQL text; syntax errors become :class:`ExprError`."""
    try:
        ast = pp.parse(text)
    except ValueError as exc:
        raise ExprError(f"parse error: {exc} in {_quoted(text)}{_regex_reason(str(exc))}") from None
    except BaseException as exc:  # the Rust side panics on a few inputs
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise ExprError(f"parse error: {exc} in {_quoted(text)}") from None
    node = _convert(ast, _negative_ats(text))
    if _HIGH_BYTE_ESCAPE.search(text):
        node = _restore_strings(node)
    return Expr(text, node)


def _quoted(text: str, limit: int = 120) -> str:
    """The expression on one line. The binding's errors carry no position (most say
    only "invalid promql query"), so the text itself shows what was parsed."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


# Go string literals keep `\xNN` escapes as raw bytes; the binding decodes them as
# Latin-1, which would hide invalid UTF-8 label names from validation.
_HIGH_BYTE_ESCAPE = re.compile(r"\\x[89a-fA-F][0-9a-fA-F]")


def _restore_strings(node: Node) -> Node:
    if isinstance(node, StringNode):
        return StringNode(restore_bytes(node.value))
    if isinstance(node, CallNode):
        return CallNode(node.name, tuple(_restore_strings(a) for a in node.args))
    if isinstance(node, AggNode) and node.param is not None:
        param = _restore_strings(node.param)
        return AggNode(node.op, node.expr, param, node.grouping, node.without)
    return node


def ensure_expr(expr: Expr | str) -> Expr:
    return expr if isinstance(expr, Expr) else parse_expr(expr)


def duration_ms(delta: timedelta | None) -> int:
    if delta is None:
        return 0
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


# The binding cannot represent an `@` before the epoch (it panics reading it back),
# so numeric `@` times are also read from the text, in order of appearance; the
# conversion below visits nodes in that same order.
_AT_NUMBER = re.compile(r"@\s*(-?)\s*([0-9][0-9.eE+]*|\.[0-9][0-9eE+]*)")


def _negative_ats(text: str) -> list[int]:
    out: list[int] = []
    for m in _AT_NUMBER.finditer(text):
        try:
            value = float(m.group(2))
        except ValueError:
            value = 0.0
        out.append(round(-value * 1000) if m.group(1) else 0)
    return out


def _at(raw: Any, negatives: list[int]) -> At | None:
    if raw is None:
        return None
    kind = str(raw.type).rsplit(".", 1)[-1]
    if kind == "Start":
        return At("start")
    if kind == "End":
        return At("end")
    textual = negatives.pop(0) if negatives else 0
    if textual < 0:
        return At("at", textual)
    return At("at", round(raw.at.timestamp() * 1000))


def _matcher(raw: Any) -> Matcher:
    op = _MATCH_OPS[str(raw.op).rsplit(".", 1)[-1]]
    value = raw.value
    try:
        return Matcher(raw.name, op, value)
    except re.error as exc:
        raise ExprError(f"invalid regular expression {raw.value!r}: {exc}") from None


def _selector(raw: Any, negatives: list[int]) -> SelectorNode:
    base = [_matcher(m) for m in raw.matchers.matchers]
    if raw.name:
        base.insert(0, Matcher(METRIC_NAME, MatchOp.EQ, raw.name))
    groups: list[tuple[Matcher, ...]] = []
    for alt in raw.matchers.or_matchers:
        groups.append((*base, *(_matcher(m) for m in alt)))
    if not groups:
        groups.append(tuple(base))
    return SelectorNode(tuple(groups), duration_ms(raw.offset), _at(raw.at, negatives))


def _binnode(raw: Any, negatives: list[int]) -> BinNode:
    lhs = _convert(raw.lhs, negatives)
    rhs = _convert(raw.rhs, negatives)
    op = str(raw.op)
    mod = raw.modifier
    if mod is None:
        return BinNode(op, lhs, rhs)
    card = {
        "OneToOne": "one-to-one",
        "ManyToOne": "many-to-one",
        "OneToMany": "one-to-many",
        "ManyToMany": "many-to-many",
    }[str(mod.card).rsplit(".", 1)[-1]]
    on: bool | None = None
    matching: tuple[str, ...] = ()
    if mod.matching is not None:
        on = str(mod.matching.type).endswith("Include")
        matching = tuple(mod.matching.labels)
    include = tuple(mod.group_labels or ())
    return BinNode(op, lhs, rhs, bool(mod.return_bool), card, on, matching, include)


def _convert(raw: Any, negatives: list[int]) -> Node:
    if isinstance(raw, pp.NumberLiteral):
        return NumberNode(float(raw.val))
    if isinstance(raw, pp.StringLiteral):
        return StringNode(raw.val)
    if isinstance(raw, pp.VectorSelector):
        return _selector(raw, negatives)
    if isinstance(raw, pp.MatrixSelector):
        return MatrixNode(_selector(raw.vector_selector, negatives), duration_ms(raw.range))
    if isinstance(raw, pp.ParenExpr):
        return ParenNode(_convert(raw.expr, negatives))
    if isinstance(raw, pp.UnaryExpr):
        return NegNode(_convert(raw.expr, negatives))
    if isinstance(raw, pp.BinaryExpr):
        return _binnode(raw, negatives)
    if isinstance(raw, pp.Call):
        return CallNode(raw.func.name, tuple(_convert(a, negatives) for a in raw.args))
    if isinstance(raw, pp.AggregateExpr):
        mod = raw.modifier
        grouping = tuple(mod.labels) if mod is not None else ()
        without = mod is not None and str(mod.type).endswith("Without")
        param = None if raw.param is None else _convert(raw.param, negatives)
        inner = _convert(raw.expr, negatives)
        return AggNode(str(raw.op), inner, param, grouping, without)
    if isinstance(raw, pp.SubqueryExpr):
        inner = _convert(raw.expr, negatives)
        step = duration_ms(raw.step) if raw.step is not None else None
        return SubqueryNode(
            inner, duration_ms(raw.range), step, duration_ms(raw.offset), _at(raw.at, negatives)
        )
    raise ExprError(f"unsupported expression node {type(raw).__name__}")


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, MatrixNode):
        return (node.selector,)
    if isinstance(node, SubqueryNode | NegNode | ParenNode):
        return (node.expr,)
    if isinstance(node, CallNode):
        return node.args
    if isinstance(node, AggNode):
        return (node.expr,) if node.param is None else (node.param, node.expr)
    if isinstance(node, BinNode):
        return (node.lhs, node.rhs)
    return ()


def max_range_ms(expr: Expr | str, lookback_ms: int = DEFAULT_LOOKBACK_MS) -> int:
    """How far back from the evaluation time an expression may read, so the tsdb can
    keep enough history for every rule. `@` pins a time absolutely and is ignored."""
    return _reach(ensure_expr(expr).node, lookback_ms)


def _reach(node: Node, lookback_ms: int) -> int:
    if isinstance(node, SelectorNode):
        return lookback_ms + max(node.offset_ms, 0)
    if isinstance(node, MatrixNode):
        return node.range_ms + max(node.selector.offset_ms, 0)
    if isinstance(node, SubqueryNode):
        return node.range_ms + max(node.offset_ms, 0) + _reach(node.expr, lookback_ms)
    return max((_reach(c, lookback_ms) for c in children(node)), default=0)
