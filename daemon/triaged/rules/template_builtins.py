"""Go text/template's built-in functions: ``not``, ``len``, ``index``, ``slice``,
``print``/``printf``/``println``, ``html``, ``js``, ``urlquery``, the comparisons
``eq``/``ne``/``lt``/``le``/``gt``/``ge`` and ``call``.

``and`` and ``or`` are built-ins too, but they short-circuit, so the evaluator
(:mod:`template_exec`) runs them itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import quote_plus

from triaged.rules.template_lex import TemplateError
from triaged.rules.template_printf import sprint, sprintf
from triaged.rules.template_values import Func, Record, go_type, go_value, map_get, string_arg, truth


def _kind(x: object) -> str | None:
    for kind in (bool, int, float, str):
        if isinstance(x, kind):
            return kind.__name__
    return None


def _eq(first: object, others: Sequence[object]) -> bool:
    """Go 1.18+ ``eq``: true if ``first`` equals any of ``others``. An int and a
    float64 are not comparable (``eq $value 0`` is an error: write ``0.0``)."""
    for other in others:
        k1, k2 = _kind(first), _kind(other)
        if k1 != k2:
            if first is not None and other is not None:
                raise TemplateError("incompatible types for comparison")
        elif k1 is not None:
            if first == other:
                return True
        elif isinstance(first, dict | list) or isinstance(other, dict | list):
            raise TemplateError(f"non-comparable type {go_value(first)}: {go_type(first)}")
        elif first is other:
            return True
    return False


def _lt(a: object, b: object) -> bool:
    k1, k2 = _kind(a), _kind(b)
    if k1 is None or k2 is None or k1 == "bool":
        raise TemplateError("invalid type for comparison")
    if k1 != k2:
        raise TemplateError("incompatible types for comparison")
    return bool(a < b)  # type: ignore[operator]  # same basic kind: both numbers or both str


def _le(a: object, b: object) -> bool:
    return _lt(a, b) or _eq(a, [b])


def _len(x: object) -> int:
    if isinstance(x, str):
        return len(x.encode())  # Go counts bytes
    if isinstance(x, dict | list):
        return len(x)
    raise TemplateError("len of nil pointer" if x is None else f"len of type {go_type(x)}")


def _index(item: object, keys: Sequence[object]) -> object:
    for key in keys:
        if isinstance(item, dict):
            item = map_get(item, string_arg(key))
        elif isinstance(item, list | str):
            seq = item.encode() if isinstance(item, str) else item
            if not isinstance(key, int) or isinstance(key, bool):
                raise TemplateError(f"cannot index slice/array with type {go_type(key)}")
            if not 0 <= key < len(seq):
                raise TemplateError(f"index out of range: {key}")
            item = seq[key]
        else:
            raise TemplateError(f"can't index item of type {go_type(item)}")
    return item


def _slice(item: object, bounds: Sequence[object]) -> object:
    if not isinstance(item, str | list):
        raise TemplateError(f"can't slice item of type {go_type(item)}")
    if any(not isinstance(b, int) or isinstance(b, bool) for b in bounds) or len(bounds) > 2:
        raise TemplateError("cannot slice with these indexes")
    # A Go string is sliced by bytes, like `len` and `index` count them.
    seq = item.encode() if isinstance(item, str) else item
    start, end = (list(bounds) + [0, len(seq)][len(bounds) :])[:2]
    assert isinstance(start, int) and isinstance(end, int)
    if not 0 <= start <= end <= len(seq):
        raise TemplateError(f"index out of range: {start}:{end}")
    part = seq[start:end]
    # A cut through a multi-byte character leaves bytes that are not UTF-8; they show
    # as U+FFFD, as anything reading Prometheus' UTF-8 output shows them.
    return part.decode(errors="replace") if isinstance(part, bytes) else part


def _text_of(args: list[object]) -> str:
    """The text that html, js and urlquery escape: Go's evalArgs prints each argument as
    ``{{ x }}`` would (nil is ``<no value>``, a pointer prints what it points to, so a
    sample is ``{map[…] 1}``, not ``&{…}``)."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint([_printable_arg(a) for a in args])


def _printable_arg(x: object) -> object:
    if x is None:
        return "<no value>"
    if isinstance(x, Record) and x.pointer:
        return replace(x, pointer=False)
    return x


_HTML = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}
_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}


def _js_char(ch: str) -> str:
    if ch in _JS:
        return _JS[ch]
    if ch < " " or (ord(ch) >= 0x80 and not ch.isprintable()):
        return f"\\u{ord(ch):04X}"
    return ch


def _not_callable(fn: object) -> object:
    raise TemplateError(f"non-function of type {go_type(fn)}")


# name → (function, fewest arguments, most arguments or None for any number)
BUILTINS: dict[str, tuple[Func, int, int | None]] = {
    "not": (lambda env, a: not truth(a[0]), 1, 1),
    "len": (lambda env, a: _len(a[0]), 1, 1),
    "index": (lambda env, a: _index(a[0], a[1:]), 1, None),
    "slice": (lambda env, a: _slice(a[0], a[1:]), 1, 3),
    "print": (lambda env, a: sprint(a), 0, None),
    "println": (lambda env, a: sprint(a, line=True), 0, None),
    "printf": (lambda env, a: sprintf(string_arg(a[0]), a[1:]), 1, None),
    "html": (lambda env, a: "".join(_HTML.get(c, c) for c in _text_of(a)), 0, None),
    "js": (lambda env, a: "".join(_js_char(c) for c in _text_of(a)), 0, None),
    "urlquery": (lambda env, a: quote_plus(_text_of(a), safe=""), 0, None),
    "eq": (lambda env, a: _eq(a[0], a[1:]), 2, None),
    "ne": (lambda env, a: not _eq(a[0], a[1:]), 2, 2),
    "lt": (lambda env, a: _lt(a[0], a[1]), 2, 2),
    "le": (lambda env, a: _le(a[0], a[1]), 2, 2),
    "gt": (lambda env, a: not _le(a[0], a[1]), 2, 2),
    "ge": (lambda env, a: not _lt(a[0], a[1]), 2, 2),
    "call": (lambda env, a: _not_callable(a[0]), 1, None),
}
