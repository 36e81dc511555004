"""Go's quoting of strings and bytes in PromQL values and errors. (RE2 patterns are
rewritten for ``re`` in :mod:`triaged.re2`.)"""

from __future__ import annotations


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
