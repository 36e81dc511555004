"""Lexer for Go text/template, and :class:`TemplateError`, which every template module raises.

:func:`lex` turns a template into text and action tokens. Trim markers (``{{- `` and
`` -}}``) and comments are applied here, so the parser never sees them; quoted strings
and character constants are unquoted here, and :func:`number_value` reads a number
token by Go's untyped-constant rules. Syntax errors carry ``line:col``, as Go's do.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

SPACE = " \t\r\n"
_SPACES = tuple(SPACE)  # `"" in _SPACES` is false, unlike `"" in SPACE`
KEYWORDS = frozenset(
    {"block", "break", "continue", "define", "else", "end", "if", "nil", "range", "template", "with"}
)
_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]*\.?[0-9a-fA-F_]*(?:[pP][+-]?[0-9_]+)?|0[bB][01_]+|0[oO][0-7_]+"
    r"|(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9_]+)?)i?"
)
_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_SIMPLE_ESCAPES.update({c: c for c in "\\'\""})
_PUNCT = {"|": "pipe", "(": "lparen", ")": "rparen", ",": "comma", "=": "assign"}


class TemplateError(ValueError):
    """A template that cannot be parsed or rendered."""


class Tok(NamedTuple):
    kind: str
    value: str
    pos: int


def error_at(text: str, pos: int, msg: str) -> TemplateError:
    """``msg`` located at ``pos`` in ``text``, as ``line:col: msg``."""
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return TemplateError(f"{line}:{col}: {msg}")


def lex(text: str) -> list[Tok]:
    """Text and action tokens; trim markers (``{{- `` and `` -}}``) and comments are
    applied here, so the parser never sees them."""
    toks: list[Tok] = []
    pos, trim_next = 0, False
    while True:
        start = text.find("{{", pos)
        chunk = text[pos:] if start < 0 else text[pos:start]
        if trim_next:
            chunk = chunk.lstrip(SPACE)
        i = start + 2
        if start >= 0 and text.startswith("-", i) and text[i + 1 : i + 2] in _SPACES:
            chunk, i = chunk.rstrip(SPACE), i + 2
        if chunk:
            toks.append(Tok("text", chunk, pos))
        if start < 0:
            toks.append(Tok("eof", "", len(text)))
            return toks
        if text.startswith("/*", i):
            pos, trim_next = _lex_comment(text, i)
        else:
            pos, trim_next = _lex_action(text, i, toks)


def _right_delim(text: str, i: int) -> int:
    """Length of the right delimiter at ``i``: 2 for ``}}``, 4 for `` -}}``, else 0."""
    if text.startswith("}}", i):
        return 2
    if text[i : i + 1] in _SPACES and text.startswith("-}}", i + 1):
        return 4
    return 0


def _lex_comment(text: str, i: int) -> tuple[int, bool]:
    end = text.find("*/", i + 2)
    if end < 0:
        raise error_at(text, i, "unclosed comment")
    width = _right_delim(text, end + 2)
    if not width:
        raise error_at(text, i, "comment ends before closing delimiter")
    return end + 2 + width, width == 4


def _lex_action(text: str, i: int, toks: list[Tok]) -> tuple[int, bool]:
    toks.append(Tok("left", "{{", i))
    depth = 0
    while True:
        width = _right_delim(text, i)
        if width:
            if depth:
                raise error_at(text, i, "unclosed left paren")
            toks.append(Tok("right", "}}", i))
            return i + width, width == 4
        if i >= len(text):
            raise error_at(text, i, "unclosed action")
        ch = text[i]
        if ch in SPACE:
            if toks[-1].kind != "space":
                toks.append(Tok("space", " ", i))
            i += 1
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            raise error_at(text, i, "unexpected right paren")
        i = _lex_token(text, i, toks)


def _lex_token(text: str, i: int, toks: list[Tok]) -> int:
    ch, nxt = text[i], text[i + 1 : i + 2]
    if ch in _PUNCT:
        toks.append(Tok(_PUNCT[ch], ch, i))
        return i + 1
    if ch == ":":
        if nxt != "=":
            raise error_at(text, i, "expected :=")
        toks.append(Tok("declare", ":=", i))
        return i + 2
    if ch in "\"'`":
        return _lex_quote(text, i, toks)
    if ch.isdigit() or (ch in "+-." and (nxt.isdigit() or (ch != "." and nxt == "."))):
        return _lex_number(text, i, toks)
    if ch in "$.":
        end = _word_end(text, i + 1)
        kind = "dot" if ch == "." and end == i + 1 else ("var" if ch == "$" else "field")
        toks.append(Tok(kind, text[i:end], i))
        return end
    if ch == "_" or ch.isalpha():
        end = _word_end(text, i)
        word = text[i:end]
        kind = "bool" if word in ("true", "false") else "keyword" if word in KEYWORDS else "ident"
        toks.append(Tok(kind, word, i))
        return end
    raise error_at(text, i, f"unrecognized character in action: U+{ord(ch):04X}")


def _word_end(text: str, i: int) -> int:
    while i < len(text) and (text[i] == "_" or text[i].isalnum()):
        i += 1
    return i


def _lex_quote(text: str, i: int, toks: list[Tok]) -> int:
    quote = text[i]
    j = i + 1
    while j < len(text) and text[j] != quote:
        if text[j] == "\n" and quote != "`":
            break
        j += 2 if text[j] == "\\" and quote != "`" else 1
    if j >= len(text) or text[j] != quote:
        raise error_at(
            text, i, "unterminated quoted string" if quote != "'" else "unterminated character constant"
        )
    body = text[i + 1 : j]
    if quote == "`":
        toks.append(Tok("string", body, i))
    elif quote == '"':
        toks.append(Tok("string", _unquote(text, i, body), i))
    else:
        char = _unquote(text, i, body)
        if len(char) != 1:
            raise error_at(text, i, f"malformed character constant: {text[i : j + 1]}")
        toks.append(Tok("number", str(ord(char)), i))
    return j + 1


def _unquote(text: str, pos: int, body: str) -> str:
    def one(m: re.Match[str]) -> str:
        esc = m.group(0)[1:]
        if esc[0] in "xuU" and len(esc) > 1:
            return chr(int(esc[1:], 16))
        if esc[0].isdigit() and len(esc) == 3:
            return chr(int(esc, 8))
        if esc in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[esc]
        raise error_at(text, pos, f"invalid escape \\{esc} in quoted string")

    return _ESCAPE.sub(one, body)


def _lex_number(text: str, i: int, toks: list[Tok]) -> int:
    m = _NUMBER.match(text, i)
    end = m.end() if m else i
    if not m or (end < len(text) and (text[end] == "_" or text[end].isalnum())):
        raise error_at(text, i, f"bad number syntax: {text[i : _word_end(text, end)]!r}")
    toks.append(Tok("number", m.group(0), i))
    return end


def number_value(text: str) -> int | float:
    """Go's untyped constant rules: a float if written with . e or p, else an int.
    As in Go's parser, an integer beyond uint64 is an "integer overflow" and a float
    beyond float64 "illegal number syntax"; one between int64 and uint64 parses, and
    fails only when used (:data:`INT_RANGE`)."""
    body = text.replace("_", "")
    digits = body.lstrip("+-")
    is_hex = digits[:2] in ("0x", "0X")
    try:
        if body.endswith("i"):
            raise ValueError("complex numbers are not supported")
        if is_hex and any(c in digits for c in "pP"):
            value: int | float = float.fromhex(body)
        elif not is_hex and any(c in digits for c in ".eE"):
            value = float(body)
        elif len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
            value = int(body, 8)  # Go reads a leading 0 as octal (017 == 15)
        else:
            value = int(body, 0)
    except ValueError:
        raise TemplateError(f"bad number syntax: {text}") from None
    if isinstance(value, float) and math.isinf(value):
        raise TemplateError(f'illegal number syntax: "{text}"')
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        raise TemplateError(f'integer overflow: "{text}"')
    return value


INT_RANGE = range(-(2**63), 2**63)
"""What fits Go's int: a constant outside it "overflows int" when it is used."""
