"""Turn PromQL text into the engine's own small AST.

`promql_parser` hands out Rust-backed nodes whose attribute getters clone on every
access, so walking them on each evaluation would dominate the cost of a rule. We
convert once, into frozen dataclasses the evaluator can read at Python speed.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import promql_parser as pp

from triaged.durations import parse_duration
from triaged.model import METRIC_NAME, Matcher, MatchOp
from triaged.promql.lexer import Kind, LexError, Token, line_col, tokenize
from triaged.promql.regex import restore_bytes
from triaged.promql.syntax import locate_syntax_error
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
    return ": the PromQL parser does not read this form"


def parse_expr(text: str) -> Expr:
    """Parse PromQL text; syntax errors become :class:`ExprError`."""
    _check_number_durations(text)
    regexes: dict[str, str] = {}
    try:
        ast = _binding_parse(text)
    except ValueError as exc:
        if not _is_rust_only_refusal(str(exc)) or _STAND_IN in text:
            raise ExprError(_parse_error(text, str(exc))) from None
        # RE2 forms the binding's Rust regex engine lacks (\Q…\E, octal escapes):
        # parse with stand-ins, then put the patterns back for re2.translate to read.
        text_with_stand_ins, regexes = _stand_in_regexes(text)
        try:
            ast = _binding_parse(text_with_stand_ins)
        except ValueError as again:
            raise ExprError(_parse_error(text, str(again))) from None
    node = _convert(ast, _Context(text, _at_times(text), regexes))
    if _HIGH_BYTE_ESCAPE.search(text):
        node = _restore_strings(node)
    return Expr(text, node)


def _binding_parse(text: str) -> Any:
    try:
        return pp.parse(text)
    except ValueError:
        raise
    except BaseException as exc:  # the Rust side panics on a few inputs
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise ExprError(f"parse error: {exc} in {_quoted(text)}") from None


def _parse_error(text: str, message: str) -> str:
    """The binding's message, made specific: most syntax errors come out as a bare
    "invalid promql query", the rest without a position, so those are located and
    described here. Its other messages (argument counts, types) are kept."""
    if message == "invalid promql query" or message.startswith(("unexpected", "unclosed", "unterminated")):
        located = locate_syntax_error(text)
        if located:
            message = located
    return f"parse error: {message} in {_quoted(text)}{_regex_reason(message)}"


def _is_rust_only_refusal(message: str) -> bool:
    pattern = message.removeprefix("illegal regex for ")
    if pattern == message:
        return False
    try:
        translate(pattern)
    except re.error:
        return False
    return True


_STAND_IN = "triaged_regex_stand_in_"


def _stand_in_regexes(text: str) -> tuple[str, dict[str, str]]:
    """`text` with each matcher regex replaced by a plain stand-in pattern, and what
    each stand-in stands for (the pattern as the string literal spells it)."""
    parts: list[str] = []
    regexes: dict[str, str] = {}
    done = 0
    for before, token in itertools.pairwise(tokenize(text)):
        if not (before.kind is Kind.OP and before.text in ("=~", "!~") and token.kind is Kind.STRING):
            continue
        stand_in = f"{_STAND_IN}{len(regexes)}"
        regexes[stand_in] = _string_value(token.text)
        parts += [text[done : token.pos], f'"{stand_in}"']
        done = token.pos + len(token.text)
    parts.append(text[done:])
    return "".join(parts), regexes


def _string_value(literal: str) -> str:
    node: Any = pp.parse(literal)  # a StringLiteral
    value: str = node.val
    return restore_bytes(value) if _HIGH_BYTE_ESCAPE.search(literal) else value


def _quoted(text: str, limit: int = 120) -> str:
    """The expression on one line, so the message shows what was parsed."""
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


# Prometheus bounds an `@` time in seconds by int64, and durations are int64 nanoseconds.
_MAX_AT_SECONDS = 2**63
_MAX_DURATION_MS = (2**63 - 1) // 1_000_000
_TIMES = (Kind.NUMBER, Kind.DURATION)


@dataclass(slots=True)
class _Context:
    """What the text says that the binding's nodes cannot hold: numeric `@` times (its
    datetime ends at 1970 and 9999), in order of appearance, which is the order the
    conversion visits nodes in; and the regexes that stand-ins replaced."""

    text: str
    ats: list[int]
    regexes: dict[str, str]


def _tokens(text: str) -> list[Token]:
    try:
        return tokenize(text)
    except LexError:  # the binding read it; only this lexer could not
        return []


def _at_times(text: str) -> list[int]:
    """Each numeric `@` time in ms, in order of appearance; out of range is an error."""
    if "@" not in text:
        return []
    tokens = _tokens(text)
    out: list[int] = []
    for i, token in enumerate(tokens[:-1]):
        if not (token.kind is Kind.OP and token.text == "@"):
            continue
        sign, value = tokens[i + 1], tokens[min(i + 2, len(tokens) - 1)]
        if sign.kind in _TIMES:
            out.append(_time_ms(text, sign, 1))
        elif sign.text in ("+", "-") and value.kind in _TIMES:
            out.append(_time_ms(text, value, -1 if sign.text == "-" else 1))
    return out


def _time_ms(text: str, token: Token, sign: int) -> int:
    if token.kind is Kind.DURATION:
        ms = parse_duration(token.text, strict=True) * 1000
    elif token.text[:2].lower() == "0x":
        ms = int(token.text, 16) * 1000
    else:
        ms = float(token.text) * 1000
    if not abs(ms) < _MAX_AT_SECONDS * 1000:
        where = line_col(text, token.pos)
        raise ExprError(f"parse error: {where}: timestamp out of bounds for @ modifier in {_quoted(text)}")
    return sign * round(ms)


def _check_number_durations(text: str) -> None:
    """A range or offset given as a plain number of seconds too large for Go's
    durations: refuse it here, as Prometheus does, before the binding panics on it."""
    if "[" not in text and "offset" not in text.lower():
        return
    tokens = _tokens(text)
    for i, token in enumerate(tokens):
        too_long = token.kind is Kind.NUMBER and _number(token.text) * 1000 > _MAX_DURATION_MS
        if too_long and _is_duration_position(tokens, i):
            where = line_col(text, token.pos)
            raise ExprError(f"parse error: {where}: duration out of range in {_quoted(text)}")


def _is_duration_position(tokens: list[Token], i: int) -> bool:
    """After `[`, a subquery's `:`, or `offset` (with or without a sign)."""
    before = tokens[i - 1] if i >= 1 else None
    if before is None:
        return False
    if before.text in ("[", ":") or before.text.lower() == "offset":
        return True
    return before.text in ("-", "+") and i >= 2 and tokens[i - 2].text.lower() == "offset"


def _number(text: str) -> float:
    return float(int(text, 16)) if text[:2].lower() == "0x" else float(text)


def _duration(raw: Any, attribute: str, ctx: _Context) -> int:
    """A range or offset in ms (0 if absent)."""
    return _optional_duration(raw, attribute, ctx) or 0


def _optional_duration(raw: Any, attribute: str, ctx: _Context) -> int | None:
    """A range, step or offset in ms; one beyond Go's durations is an error."""
    try:
        delta = getattr(raw, attribute)
        ms = None if delta is None else duration_ms(delta)
    except (ValueError, OverflowError):  # the binding's getter overflows first
        ms = _MAX_DURATION_MS + 1
    if ms is not None and abs(ms) > _MAX_DURATION_MS:
        raise ExprError(f"parse error: {attribute} duration out of range in {_quoted(ctx.text)}")
    return ms


def _at(raw: Any, ctx: _Context) -> At | None:
    if raw is None:
        return None
    kind = str(raw.type).rsplit(".", 1)[-1]
    if kind == "Start":
        return At("start")
    if kind == "End":
        return At("end")
    if ctx.ats:
        return At("at", ctx.ats.pop(0))
    return At("at", round(raw.at.timestamp() * 1000))


def _matcher(raw: Any, ctx: _Context) -> Matcher:
    op = _MATCH_OPS[str(raw.op).rsplit(".", 1)[-1]]
    value = raw.value
    if op in (MatchOp.RE, MatchOp.NRE):
        value = ctx.regexes.get(value, value)
    try:
        return Matcher(raw.name, op, value)
    except re.error as exc:
        raise ExprError(f"invalid regular expression {value!r}: {exc}") from None


def _selector(raw: Any, ctx: _Context) -> SelectorNode:
    base = [_matcher(m, ctx) for m in raw.matchers.matchers]
    if raw.name:
        base.insert(0, Matcher(METRIC_NAME, MatchOp.EQ, raw.name))
    groups: list[tuple[Matcher, ...]] = []
    for alt in raw.matchers.or_matchers:
        groups.append((*base, *(_matcher(m, ctx) for m in alt)))
    if not groups:
        groups.append(tuple(base))
    return SelectorNode(tuple(groups), _duration(raw, "offset", ctx), _at(raw.at, ctx))


def _binnode(raw: Any, ctx: _Context) -> BinNode:
    lhs = _convert(raw.lhs, ctx)
    rhs = _convert(raw.rhs, ctx)
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


def _convert(raw: Any, ctx: _Context) -> Node:
    if isinstance(raw, pp.NumberLiteral):
        return NumberNode(float(raw.val))
    if isinstance(raw, pp.StringLiteral):
        return StringNode(raw.val)
    if isinstance(raw, pp.VectorSelector):
        return _selector(raw, ctx)
    if isinstance(raw, pp.MatrixSelector):
        return MatrixNode(_selector(raw.vector_selector, ctx), _duration(raw, "range", ctx))
    if isinstance(raw, pp.ParenExpr):
        return ParenNode(_convert(raw.expr, ctx))
    if isinstance(raw, pp.UnaryExpr):
        return NegNode(_convert(raw.expr, ctx))
    if isinstance(raw, pp.BinaryExpr):
        return _binnode(raw, ctx)
    if isinstance(raw, pp.Call):
        return CallNode(raw.func.name, tuple(_convert(a, ctx) for a in raw.args))
    if isinstance(raw, pp.AggregateExpr):
        mod = raw.modifier
        grouping = tuple(mod.labels) if mod is not None else ()
        without = mod is not None and str(mod.type).endswith("Without")
        param = None if raw.param is None else _convert(raw.param, ctx)
        inner = _convert(raw.expr, ctx)
        return AggNode(str(raw.op), inner, param, grouping, without)
    if isinstance(raw, pp.SubqueryExpr):
        inner = _convert(raw.expr, ctx)
        step = _optional_duration(raw, "step", ctx)
        offset = _duration(raw, "offset", ctx)
        return SubqueryNode(inner, _duration(raw, "range", ctx), step, offset, _at(raw.at, ctx))
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
