"""Go RE2 regular expressions (what PromQL matchers, ``label_replace``, silences and
``reReplaceAll`` take) rewritten for Python's ``re``.

The two dialects mostly agree; where they do not, a pattern copied from a Prometheus
rule must match the same strings here, or be refused with a reason — never quietly
match something else:

* RE2 has what ``re`` lacks: flag groups such as ``(?i)`` in mid-pattern (scoped to
  the rest of their group), POSIX classes (``[[:alpha:]]``, which ``re`` reads as a
  set of characters), Unicode classes (``\\pL``, ``\\p{Lu}``), ``\\Q…\\E``,
  ``\\x{263a}``, ``\\z``, and octal ``\\12``.
* Some escapes mean less in RE2: ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII only,
  and ``$`` (outside multi-line mode) is the end of the text, never a final newline.
* What is only Python is refused, as Go refuses it: lookarounds, backreferences,
  possessive and atomic forms, ``\\Z``, ``\\u``, and repeat counts above 1000.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

_WORD = "0-9A-Za-z_"
_SPACE = "\\t\\n\\f\\r "
_CLASS_ESCAPES = {"d": "0-9", "w": _WORD, "s": _SPACE}
_WORD_CLASS = f"[{_WORD}]"
_PERL = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": _WORD_CLASS,
    "W": f"[^{_WORD}]",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    # ASCII word boundaries: Python's \b knows every Unicode letter.
    "b": f"(?:(?<={_WORD_CLASS})(?!{_WORD_CLASS})|(?<!{_WORD_CLASS})(?={_WORD_CLASS}))",
    "B": f"(?:(?<={_WORD_CLASS})(?={_WORD_CLASS})|(?<!{_WORD_CLASS})(?!{_WORD_CLASS}))",
}
_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": _WORD,
    "xdigit": "0-9A-Fa-f",
}
_NOT_RE2 = {
    "(?=": "lookahead",
    "(?!": "negative lookahead",
    "(?<=": "lookbehind",
    "(?<!": "negative lookbehind",
    "(?>": "atomic groups",
    "(?P=": "backreferences",
    "(?#": "comments",
    "(?(": "conditionals",
}
_FLAGS = re.compile(r"\(\?([imsU]*(?:-[imsU]*)?)([):])")
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_MAX_REPEAT = 1000
# Only these need rewriting; anything else (most patterns) is passed through as is.
_NEEDS_WORK = re.compile(r"[\\$\[{]|\(\?|[*+?}]\+")
# An item of a bracket expression: class text, or ("^", text) for a negated class.
_Item = str | tuple[str, str]


def translate(pattern: str) -> str:
    """``pattern`` (RE2 syntax) as a Python pattern with the same matches; ``re.error``
    naming the construct when RE2 would refuse it or ``re`` cannot express it."""
    if not _NEEDS_WORK.search(pattern):
        return pattern
    return _Translator(pattern).run()


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.out: list[str] = []
        self.pending = [0]  # per open group: scoped flag groups opened inside it
        self.multiline = [False]  # per open group: whether `$` ends a line there (?m)

    def fail(self, what: str, back: int = 0) -> re.error:
        """Go refuses this too: the pattern is not RE2, whatever ``re`` would make of it.
        ``back``: how far before the current position the construct began."""
        return re.error(f"{what} (position {self.i - back}) is not RE2 syntax, which Prometheus uses")

    def unsupported(self, what: str, at: int, instead: str) -> re.error:
        """RE2, but with no faithful form in ``re``: refused rather than matched otherwise."""
        return re.error(f"{what} (position {at}) is not supported here; {instead}")

    def run(self) -> str:
        p = self.p
        while self.i < len(p):
            ch = p[self.i]
            if ch == "\\":
                self.out.append(self.escape())
            elif ch == "[":
                self.out.append(self.char_class())
            elif ch == "(":
                self.group()
            elif ch == ")":
                self.i += 1
                if len(self.pending) > 1:
                    self.out.append(")" * self.pending.pop())
                    self.multiline.pop()
                self.out.append(")")
            elif ch == "$":
                self.i += 1
                self.out.append("$" if self.multiline[-1] else r"\Z")
            elif ch == "{":
                self.repeat()
            elif ch in "*+?":
                self.i += 1
                self.out.append(ch)
                self.no_possessive()
            else:
                self.i += 1
                self.out.append(ch)
        self.out.append(")" * self.pending[0])
        return "".join(self.out)

    # -- outside brackets -------------------------------------------------------------
    def escape(self) -> str:
        p, i = self.p, self.i
        if i + 1 >= len(p):
            raise re.error("trailing backslash at end of expression")
        c = p[i + 1]
        self.i = i + 2
        if c in _PERL:
            return _PERL[c]
        if c in "pP":
            body, negated = self.unicode_class(c)
            return f"[{'^' if negated else ''}{body}]"
        if c == "z":
            return r"\Z"
        if c == "Q":
            return re.escape(self.quoted())
        return self.common_escape(c)

    def common_escape(self, c: str) -> str:
        """An escape that means the same inside and outside brackets."""
        if c == "x" and self.p.startswith("{", self.i):
            return self.hex_braces()
        if c in "1234567":
            return self.octal(c)
        if c in "89":
            raise self.fail("backreference", back=2)
        if c in "ZuUN":
            raise self.fail(f"\\{c}", back=2)
        # RE2 escapes ASCII punctuation and a few letters; Python would also take a
        # backslash before any non-ASCII character as that character.
        if (c.isascii() and not c.isalnum()) or c in "afnrtvxA0":
            return "\\" + c
        raise self.fail(f"\\{c}", back=2)

    def octal(self, first: str) -> str:
        """RE2 reads ``\\12`` as octal (a lone ``\\1`` is a backreference, refused);
        Python reads both as backreferences."""
        digits = first
        while len(digits) < 3 and self.i < len(self.p) and self.p[self.i] in "01234567":
            digits += self.p[self.i]
            self.i += 1
        if len(digits) == 1:
            raise self.fail("backreference", back=2)
        return _code_point(int(digits, 8))

    def hex_braces(self) -> str:
        end = self.p.find("}", self.i)
        text = self.p[self.i + 1 : end] if end > 0 else ""
        try:
            code = int(text, 16)
        except ValueError:
            raise self.fail("malformed \\x{…}") from None
        if not text.isascii() or code > sys.maxunicode:
            raise self.fail("malformed \\x{…}")
        self.i = end + 1
        return _code_point(code)

    def quoted(self) -> str:
        end = self.p.find("\\E", self.i)
        end = len(self.p) if end < 0 else end
        text = self.p[self.i : end]
        self.i = min(end + 2, len(self.p))
        return text

    def unicode_class(self, c: str) -> tuple[str, bool]:
        """``\\pL``, ``\\p{Lu}``, ``\\p{^L}``, ``\\PL``: the class body and whether it is
        negated. General categories only: ``unicodedata`` knows no scripts."""
        p, start = self.p, self.i - 2
        if self.i >= len(p):
            raise self.fail(f"\\{c} without a class name")
        negated = c == "P"
        if p[self.i] == "{":
            end = p.find("}", self.i)
            if end < 0:
                raise self.fail(f"\\{c}{{ without its closing brace")
            name = p[self.i + 1 : end]
            self.i = end + 1
            if name.startswith("^"):
                name, negated = name[1:], not negated
        else:
            name = p[self.i]
            self.i += 1
        body = _category_class(name)
        if body is None:
            raise self.unsupported(
                f"Unicode class {name!r}", start, "general categories such as \\pL, \\p{Lu} or \\pN are"
            )
        return body, negated

    def group(self) -> None:
        p, i = self.p, self.i
        if not p.startswith("(?", i):
            self.i += 1
            self.open("(")
            return
        for prefix, what in _NOT_RE2.items():
            if p.startswith(prefix, i):
                raise self.fail(what)
        if p.startswith("(?P<", i) or p.startswith("(?<", i):
            # Named groups: Go 1.22 (Prometheus 3) also takes the form without P.
            self.i = i + (4 if p[i + 2] == "P" else 3)
            self.open("(?P<")
            return
        m = _FLAGS.match(p, i)
        if m is not None and m.group(0) == "(?:":  # a plain non-capturing group
            self.i = m.end()
            self.open("(?:")
            return
        if m is None or m.group(1) in ("", "-") or m.group(1).endswith("-"):
            raise self.fail("malformed group or flag")
        if "U" in m.group(1):
            raise self.unsupported("the ungreedy flag U", i, "write lazy quantifiers such as *? instead")
        self.i = m.end()
        on, _, off = m.group(1).partition("-")
        multiline = True if "m" in on else False if "m" in off else self.multiline[-1]
        if m.group(2) == ":":
            self.open(f"(?{m.group(1)}:", multiline)
        else:
            # Python takes inline flags only at the very start: scope them to the rest
            # of the enclosing group instead, which is what RE2 means.
            self.out.append(f"(?{m.group(1)}:")
            self.pending[-1] += 1
            self.multiline[-1] = multiline

    def open(self, text: str, multiline: bool | None = None) -> None:
        """A group opens: it inherits multi-line mode unless its own flags set it."""
        self.pending.append(0)
        self.multiline.append(self.multiline[-1] if multiline is None else multiline)
        self.out.append(text)

    def repeat(self) -> None:
        m = _REPEAT.match(self.p, self.i)
        if m is None:  # RE2 reads a brace that starts no repeat as a literal ({,3} too)
            self.i += 1
            self.out.append(r"\{")
            return
        low, high = int(m.group(1)), int(m.group(3) or 0)
        if max(low, high) > _MAX_REPEAT:
            raise self.fail(f"a repeat count above {_MAX_REPEAT}")
        self.i = m.end()
        self.out.append(m.group(0))
        self.no_possessive()

    def no_possessive(self) -> None:
        if self.p.startswith("+", self.i):
            raise self.fail("possessive quantifier")

    # -- inside brackets --------------------------------------------------------------
    def char_class(self) -> str:
        """One bracket expression, rewritten item by item."""
        p = self.p
        start = self.i
        self.i += 1
        negated = p.startswith("^", self.i)
        self.i += negated
        items: list[_Item] = []
        first = True
        while True:
            if self.i >= len(p):
                self.i = start
                raise re.error(f"missing closing ] for the class at position {start}")
            ch = p[self.i]
            if ch == "]" and not first:
                self.i += 1
                break
            first = False
            if p.startswith("[:", self.i):
                end = p.find(":]", self.i + 2)
                name = p[self.i + 2 : end] if end > 0 else ""
                posix = _POSIX.get(name.removeprefix("^"))
                if posix is not None:
                    self.i = end + 2
                    items.append(("^", posix) if name.startswith("^") else posix)
                    continue
            if ch == "\\":
                items.append(self.class_escape())
                continue
            self.i += 1
            # Characters that Python may read as set operations or nested sets.
            items.append("\\" + ch if ch in "[]&~|" else ch)
        return _bracket(items, negated, self, start)

    def class_escape(self) -> _Item:
        p = self.p
        if self.i + 1 >= len(p):
            raise re.error("trailing backslash at end of expression")
        c = p[self.i + 1]
        self.i += 2
        if c in _CLASS_ESCAPES:
            return _CLASS_ESCAPES[c]
        if c in "DWS":
            return ("^", _CLASS_ESCAPES[c.lower()])
        if c in "pP":
            body, negated = self.unicode_class(c)
            return ("^", body) if negated else body
        if c == "Q":
            return "".join(re.escape(ch) for ch in self.quoted())
        if c == "b":
            raise self.fail("\\b inside brackets", back=2)
        if c == "]":
            return "\\]"
        return self.common_escape(c)


def _bracket(items: list[_Item], negated: bool, t: _Translator, start: int) -> str:
    """A bracket expression from its items. A negated item (``[:^alpha:]``, ``\\D``,
    ``\\PL``) has no form inside a Python class; alone it becomes the negated class."""
    plain = [x for x in items if isinstance(x, str)]
    flipped = [x for x in items if isinstance(x, tuple)]
    if not flipped:
        return f"[{'^' if negated else ''}{''.join(plain)}]"
    if len(items) == 1:
        return f"[{'' if negated else '^'}{flipped[0][1]}]"
    raise t.unsupported(
        "a negated class (such as [:^alpha:], \\D or \\PL) beside other items in brackets",
        start,
        "use an alternation instead, e.g. (?:[[:^alpha:]]|x)",
    )


def _code_point(code: int) -> str:
    return f"\\U{code:08x}" if code > 0xFFFF else f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"


@functools.lru_cache(maxsize=64)
def _category_class(name: str) -> str | None:
    """The code point ranges of a Unicode general category (``L``, ``Lu``, …), as the
    body of a Python class; built once per category, on first use."""
    if name == "Any":
        return "\\x00-\\U0010ffff"
    if not (1 <= len(name) <= 2 and name[0] in "CLMNPSZ" and name.isalpha()):
        return None
    ranges: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)).startswith(name):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    if not ranges:
        return None
    return "".join(
        _code_point(lo) if lo == hi else f"{_code_point(lo)}-{_code_point(hi)}" for lo, hi in ranges
    )
