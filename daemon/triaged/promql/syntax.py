"""Where a PromQL expression stops making sense, for the error message.

The parser binding refuses bad syntax with little more than "invalid promql query", which
leaves a rule author at 3 a.m. hunting through the expression. When the binding refuses
an expression, this recursive-descent reader walks it along PromQL's grammar and reports
the first token that cannot continue it, with its line and column, as Prometheus does:
`1:20: unexpected ")" in offset, expected a duration`.

It only locates errors; it builds nothing and checks no types, and it is lenient where
the grammar is (a keyword may name a metric), so an expression it finds no fault in is
left to the binding's own message.
"""

from __future__ import annotations

from triaged.promql.lexer import KEYWORDS, Kind, LexError, Token, line_col, tokenize

__all__ = ["locate_syntax_error"]

_AGGREGATORS = frozenset(
    [
        "sum",
        "avg",
        "count",
        "min",
        "max",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "count_values",
        "quantile",
        "limitk",
        "limit_ratio",
    ]
)
_PARAM_AGGREGATORS = frozenset(["topk", "bottomk", "count_values", "quantile", "limitk", "limit_ratio"])
# Binary operators by precedence, loosest first; `^` alone binds to the right.
_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"or"}),
    frozenset({"and", "unless"}),
    frozenset({"==", "!=", ">", "<", ">=", "<="}),
    frozenset({"+", "-"}),
    frozenset({"*", "/", "%", "atan2"}),
    frozenset({"^"}),
)
_COMPARISONS = _LEVELS[2]
_SET_OPERATORS = frozenset({"and", "or", "unless"})
_WORD_OPERATORS = frozenset({"and", "or", "unless", "atan2"})
_MATCH_OPERATORS = frozenset({"=", "!=", "=~", "!~"})
# Words a selector cannot start with: they only continue an expression.
_NOT_A_NAME = frozenset({"on", "ignoring", "group_left", "group_right", "bool"})


class _SyntaxError(Exception):
    def __init__(self, token: Token, message: str) -> None:
        super().__init__(message)
        self.token = token


def locate_syntax_error(text: str) -> str | None:
    """`line:col: what is wrong` for the first syntax error in `text`, or None."""
    try:
        tokens = tokenize(text)
    except LexError as exc:
        return f"{line_col(text, exc.pos)}: {exc}"
    try:
        _Reader(tokens).whole()
    except _SyntaxError as stop:
        return f"{line_col(text, stop.token.pos)}: {stop}"
    return None


class _Reader:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.at = 0

    # -- cursor --------------------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.token
        if token.kind is not Kind.EOF:
            self.at += 1
        return token

    def is_op(self, *ops: str) -> bool:
        return self.token.kind is Kind.OP and self.token.text in ops

    def is_kind(self, kind: Kind) -> bool:
        return self.token.kind is kind

    def is_word(self, *words: str) -> bool:
        return self.token.kind is Kind.IDENT and self.token.text.lower() in words

    def fail(self, context: str = "", expected: str = "") -> _SyntaxError:
        message = f"unexpected {self.token.describe()}"
        if context:
            message += f" in {context}"
        if expected:
            message += f", expected {expected}"
        return _SyntaxError(self.token, message)

    def expect_op(self, op: str, context: str) -> None:
        if not self.is_op(op):
            raise self.fail(context, f'"{op}"')
        self.take()

    # -- expressions ---------------------------------------------------------------

    def whole(self) -> None:
        self.expression()
        if self.token.kind is not Kind.EOF:
            raise self.fail()

    def expression(self, level: int = 0) -> None:
        if level == len(_LEVELS):
            self.unary()
            return
        self.expression(level + 1)
        while self.binary_operator() in _LEVELS[level]:
            operator = self.take().text.lower()
            self.modifiers(operator)
            # `^` is right-associative: its right side may hold another `^`.
            self.expression(level if operator == "^" else level + 1)

    def binary_operator(self) -> str | None:
        token = self.token
        if token.kind is Kind.OP:
            return token.text
        if token.kind is Kind.IDENT and token.text.lower() in _WORD_OPERATORS:
            return token.text.lower()
        return None

    def modifiers(self, operator: str) -> None:
        if self.is_word("bool"):
            if operator not in _COMPARISONS:
                raise self.fail(expected="an expression (bool only follows a comparison)")
            self.take()
        if self.is_word("on", "ignoring"):
            self.take()
            self.label_list("grouping opts")
            if self.is_word("group_left", "group_right"):
                if operator in _SET_OPERATORS:
                    raise self.fail(expected="an expression (no grouping for set operators)")
                self.take()
                if self.is_op("("):
                    self.label_list("grouping opts")

    def unary(self) -> None:
        while self.is_op("+", "-"):
            self.take()
        self.postfix()

    def postfix(self) -> None:
        self.primary()
        while True:
            if self.is_op("["):
                self.brackets()
            elif self.is_word("offset"):
                self.take()
                if self.is_op("-", "+"):
                    self.take()
                self.duration("offset")
            elif self.is_op("@"):
                self.take()
                self.at_time()
            else:
                return

    def primary(self) -> None:
        token = self.token
        if token.kind in (Kind.NUMBER, Kind.STRING) or _is_special_number(token):
            self.take()
        elif self.is_op("("):
            self.take()
            self.expression()
            self.expect_op(")", "parenthesis")
        elif self.is_op("{"):
            self.braces()
        elif token.kind is Kind.IDENT and token.text.lower() not in _NOT_A_NAME:
            self.named()
        elif token.kind is Kind.DURATION:
            self.take()
        else:
            raise self.fail(expected="an expression")

    def named(self) -> None:
        """A function call, an aggregation or a selector: all start with a name."""
        name_token = self.take()
        name = name_token.text
        if name.lower() in _AGGREGATORS and (self.is_op("(") or self.is_word("by", "without")):
            self.aggregation(name.lower())
        elif self.is_op("("):
            if name.lower() in KEYWORDS or ":" in name:  # a metric name, never a function
                raise _SyntaxError(name_token, f"unexpected {name_token.describe()}")
            self.call(name)
        elif self.is_op("{"):
            self.braces()

    def aggregation(self, name: str) -> None:
        grouped = self.grouping()
        if not self.is_op("("):
            raise self.fail("aggregation", '"("')
        self.take()
        if name in _PARAM_AGGREGATORS:
            self.expression()
            self.expect_op(",", f"{name}, which takes a parameter first")
        self.expression()
        self.expect_op(")", "aggregation")
        if not grouped:
            self.grouping()

    def grouping(self) -> bool:
        if not self.is_word("by", "without"):
            return False
        self.take()
        self.label_list("grouping opts")
        return True

    def call(self, name: str) -> None:
        self.take()
        if self.is_op(")"):
            self.take()
            return
        while True:
            self.expression()
            if self.is_op(")"):
                self.take()
                return
            if not self.is_op(","):
                raise self.fail(f"call to {name}", '"," or ")"')
            self.take()

    def label_list(self, context: str) -> None:
        if not self.is_op("("):
            raise self.fail(context, '"("')
        self.take()
        while not self.is_op(")"):
            if self.token.kind not in (Kind.IDENT, Kind.STRING):
                raise self.fail(context, 'a label name or ")"')
            self.take()
            if self.is_op(","):
                self.take()
            elif not self.is_op(")"):
                raise self.fail(context, '"," or ")"')
        self.take()

    def braces(self) -> None:
        self.take()
        while not self.is_op("}"):
            self.matcher()
            if self.is_op(",") or self.is_word("or"):
                self.take()
            elif not self.is_op("}"):
                raise self.fail("label matching", '"," or "}"')
        self.take()

    def matcher(self) -> None:
        name = self.token
        if name.kind not in (Kind.IDENT, Kind.STRING):
            raise self.fail("label matching", 'a label name or "}"')
        self.take()
        if name.kind is Kind.STRING and (self.is_op(",", "}") or self.is_word("or")):
            return  # a quoted metric name: {"http.requests"}
        if not self.is_op(*_MATCH_OPERATORS):
            raise self.fail("label matching", "=, !=, =~ or !~")
        self.take()
        if not self.is_kind(Kind.STRING):
            raise self.fail("label matching", "a quoted string")
        self.take()

    def brackets(self) -> None:
        self.take()
        self.duration("range")
        if self.is_op(":"):
            self.take()
            if not self.is_op("]"):
                self.duration("subquery step")
        self.expect_op("]", "range")

    def duration(self, context: str) -> None:
        if self.token.kind not in (Kind.DURATION, Kind.NUMBER):
            raise self.fail(context, "a duration")
        self.take()

    def at_time(self) -> None:
        if self.is_word("start", "end"):
            self.take()
            self.expect_op("(", "@")
            self.expect_op(")", "@")
            return
        if self.is_op("-", "+"):
            self.take()
        if self.token.kind not in (Kind.NUMBER, Kind.DURATION):
            raise self.fail("@", "a timestamp, start() or end()")
        self.take()


def _is_special_number(token: Token) -> bool:
    return token.kind is Kind.IDENT and token.text.lower() in ("inf", "nan")
