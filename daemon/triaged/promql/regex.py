"""Bridge Go RE2 regex syntax (what PromQL users write) to Python's `re`.

The one difference that bites in practice: RE2 allows flag groups such as `(?i)`
anywhere, scoping them to the rest of the enclosing group, while Python 3.11 only
accepts them at the very start. We rewrite `(?i)X` into the scoped form `(?i:X)`.
"""

from __future__ import annotations

import re

_FLAG_GROUP = re.compile(r"\(\?([imsU-]+)\)")


def translate(pattern: str) -> str:
    if "(?" not in pattern and "\\z" not in pattern:
        return pattern
    out: list[str] = []
    # For each open group, how many scoped flag groups we opened inside it.
    pending = [0]
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            out.append("\\Z" if nxt == "z" else pattern[i : i + 2])
            i += 2
            continue
        if ch == "[":
            end = _class_end(pattern, i)
            out.append(pattern[i:end])
            i = end
            continue
        m = _FLAG_GROUP.match(pattern, i)
        if m:
            flags = m.group(1).replace("U", "")
            if flags and flags != "-":
                out.append(f"(?{flags}:")
                pending[-1] += 1
            i = m.end()
            continue
        if ch == "(":
            pending.append(0)
        elif ch == ")" and len(pending) > 1:
            out.append(")" * pending.pop())
        out.append(ch)
        i += 1
    out.append(")" * pending[0])
    return "".join(out)


def _class_end(pattern: str, start: int) -> int:
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "[" and pattern.startswith("[:", i):
            close = pattern.find(":]", i + 2)
            if close != -1:
                i = close + 2
                continue
        if pattern[i] == "]":
            return i + 1
        i += 1
    return len(pattern)


def go_quote(text: str) -> str:
    """Quote like Go's %q, showing undecodable bytes as \\xNN."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def restore_bytes(value: str) -> str:
    """Undo the parser's decoding of `\\xNN` escapes as Latin-1 characters: Go keeps
    them as raw bytes, which may not be valid UTF-8 (surrogate-escaped here)."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return value
    return raw.decode("utf-8", errors="surrogateescape")
