"""PromQL text as tokens, each with where it starts.

The parser binding does the real parsing; this lexer serves the few places that must
see the text itself: finding where a syntax error is (the binding mostly says only
"invalid promql query"), reading `@` times the binding cannot hold, and finding the
regex literals of label matchers. It follows Prometheus' lexer closely enough for that:
strings in three quotings, numbers and durations, identifiers with colons, `#` comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = ["KEYWORDS", "Kind", "LexError", "Token", "line_col", "tokenize"]


class Kind(Enum):
    IDENT = "identifier"
    NUMBER = "number"
    DURATION = "duration"
    STRING = "string"
    OP = "operator"
    EOF = "end of input"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    pos: int  # offset of the first character in the expression

    def describe(self) -> str:
        """The token as an error message names it."""
        if self.kind is Kind.EOF:
            return "end of input"
        if self.kind is Kind.OP:
            return f'"{self.text}"'
        shown = self.text if len(self.text) <= 40 else self.text[:39] + "…"
        if self.kind is Kind.STRING:
            return f"string {shown}"
        if self.kind is Kind.IDENT and self.text.lower() in KEYWORDS:
            return f'keyword "{shown}"'
        return f'{self.kind.value} "{shown}"'


# Words that modify or join expressions; an error names them as keywords.
KEYWORDS = frozenset(
    {"and", "or", "unless", "atan2", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right", "bool", "offset"}
)


class LexError(ValueError):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


_SPACE = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)+")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
# A duration is one or more number-unit pairs, largest unit first (Prometheus checks
# the order; the binding does too, so the lexer need only take the run of pairs).
_DURATION = re.compile(r"(?:[0-9]+(?:ms|[smhdwy]))+(?![A-Za-z0-9_])")
_NUMBER = re.compile(
    r"0[xX][0-9A-Fa-f]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?",
)
# Longest first, so that `=~` is not read as `=` then `~`.
_OPERATORS = (
    *("=~", "!~", "==", "!=", ">=", "<="),
    *("+", "-", "*", "/", "%", "^", ">", "<", "=", ",", "(", ")", "{", "}", "[", "]", ":", "@"),
)


def tokenize(text: str) -> list[Token]:
    """All tokens of `text`, ending with an EOF token; a character that starts no
    token, or a string left open, raises :class:`LexError` at its position."""
    tokens: list[Token] = []
    pos = 0
    brackets = 0
    while True:
        space = _SPACE.match(text, pos)
        if space:
            pos = space.end()
        if pos >= len(text):
            tokens.append(Token(Kind.EOF, "", len(text)))
            return tokens
        token = _next(text, pos, in_brackets=brackets > 0)
        brackets += {"[": 1, "]": -1}.get(token.text, 0) if token.kind is Kind.OP else 0
        tokens.append(token)
        pos += len(token.text)


def _next(text: str, pos: int, *, in_brackets: bool) -> Token:
    char = text[pos]
    if char == ":" and in_brackets:
        return Token(Kind.OP, ":", pos)  # a subquery's step, not a name like `:x:rate`
    if char in "\"'`":
        return Token(Kind.STRING, text[pos : _string_end(text, pos)], pos)
    if char.isdigit() or (char == "." and text[pos + 1 : pos + 2].isdigit()):
        duration = _DURATION.match(text, pos)
        if duration:
            return Token(Kind.DURATION, duration.group(), pos)
        return Token(Kind.NUMBER, _NUMBER.match(text, pos).group(), pos)  # type: ignore[union-attr]
    ident = _IDENT.match(text, pos)
    if ident:
        return Token(Kind.IDENT, ident.group(), pos)
    for op in _OPERATORS:
        if text.startswith(op, pos):
            return Token(Kind.OP, op, pos)
    raise LexError(f"unexpected character {char!r}", pos)


def _string_end(text: str, start: int) -> int:
    """Offset just past the closing quote of the string starting at `start`."""
    quote = text[start]
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and quote != "`":
            pos += 2
            continue
        if char == quote:
            return pos + 1
        if char == "\n" and quote != "`":
            break
        pos += 1
    raise LexError("unterminated quoted string", start)


def line_col(text: str, pos: int) -> str:
    """`line:column` of an offset, both counted from 1, as Prometheus prints them."""
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"{line}:{column}"
