"""Functions that work on labels or order: label_replace, label_join, the sort
family, absent and absent_over_time."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from triaged.model import METRIC_NAME, Labels, MatchOp
from triaged.promql.parse import MatrixNode, Node, SelectorNode
from triaged.promql.regex import go_quote
from triaged.promql.values import ExprError, InstantSample, Vector
from triaged.re2 import translate

if TYPE_CHECKING:
    from triaged.promql.functions import CallEnv, Function

_GROUP_REF = re.compile(r"\$(?:\$|\{([^}]*)\}|([A-Za-z0-9_]+))")


def _valid_label_name(name: str) -> bool:
    # Prometheus 3 accepts any UTF-8 label name; only empty and broken text fail.
    if not name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def expand_template(template: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand: `$1`, `${1}`, `$name`; unknown groups expand to ''."""

    def repl(m: re.Match[str]) -> str:
        ref = m.group(1) if m.group(1) is not None else m.group(2)
        if ref is None:
            return "$"
        try:
            value = match.group(int(ref)) if ref.isdigit() else match.group(ref)
        except IndexError:
            return ""
        return value or ""

    return _GROUP_REF.sub(repl, template)


def _with_label(labels: Labels, name: str, value: str) -> Labels:
    d = dict(labels)
    if value:
        d[name] = value
    else:
        d.pop(name, None)
    return Labels(sorted(d.items()))


def _label_replace(args: list[Any], env: CallEnv) -> Vector:
    vec: Vector = args[0]
    dst, replacement, src, regex = (a.value for a in args[1:5])
    try:
        pattern = re.compile(f"(?s:{translate(regex)})")
    except re.error as exc:
        raise ExprError(f"invalid regular expression in label_replace(): {regex}: {exc}") from None
    if not _valid_label_name(dst):
        raise ExprError(f"invalid destination label name in label_replace(): {go_quote(dst)}")
    out = Vector()
    for s in vec:
        m = pattern.fullmatch(s.labels.get(src))
        if m is None:
            out.append(s)
            continue
        labels = _with_label(s.labels, dst, expand_template(replacement, m))
        drop = False if dst == METRIC_NAME else s.drop_name
        out.append(InstantSample(labels, s.value, None, drop))
    return _refuse_duplicates(out)


def _label_join(args: list[Any], env: CallEnv) -> Vector:
    vec: Vector = args[0]
    dst, sep = args[1].value, args[2].value
    srcs = [a.value for a in args[3:]]
    if not _valid_label_name(dst):
        raise ExprError(f"invalid destination label name in label_join(): {dst}")
    for src in srcs:
        if not _valid_label_name(src):
            raise ExprError(f"invalid source label name in label_join(): {src}")
    out = Vector()
    for s in vec:
        value = sep.join(s.labels.get(src) for src in srcs)
        labels = _with_label(s.labels, dst, value)
        drop = False if dst == METRIC_NAME else s.drop_name
        out.append(InstantSample(labels, s.value, None, drop))
    return _refuse_duplicates(out)


def _refuse_duplicates(vec: Vector) -> Vector:
    """Prometheus fails label_replace/label_join as soon as two results share a label
    set (with `__name__`, still present here), not only when the query ends: an
    aggregation over them must not quietly merge the two."""
    if len({s.labels for s in vec}) != len(vec):
        raise ExprError("vector cannot contain metrics with the same labelset")
    return vec


def _sort(descending: bool) -> Function:
    def fn(args: list[Any], env: CallEnv) -> Vector:
        vec: Vector = args[0]
        # NaN sorts last in both directions.
        if descending:
            return Vector(sorted(vec, key=lambda s: (s.value != s.value, -s.value)))
        return Vector(sorted(vec, key=lambda s: (s.value != s.value, s.value)))

    return fn


_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[Any, ...]:
    parts = _DIGITS.split(text)
    # Digits always land on odd positions, so ints only ever compare with ints.
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def _sort_by_label(descending: bool) -> Function:
    def fn(args: list[Any], env: CallEnv) -> Vector:
        vec: Vector = args[0]
        names = [a.value for a in args[1:]]

        def key(s: InstantSample) -> tuple[Any, ...]:
            return (
                *(natural_key(s.labels.get(n)) for n in names),
                tuple((k, natural_key(v)) for k, v in s.labels),
            )

        return Vector(sorted(vec, key=key, reverse=descending))

    return fn


def absent_labels(node: Node) -> Labels:
    """Labels `absent` invents: the equality matchers of a plain selector, except
    names matched more than once (kept for compatibility with Prometheus)."""
    if isinstance(node, MatrixNode):
        node = node.selector
    if not isinstance(node, SelectorNode):
        return Labels()
    out: dict[str, str] = {}
    seen: set[str] = set()
    for m in node.matchers:
        if m.name == METRIC_NAME:
            continue
        if m.op is MatchOp.EQ and m.name not in seen:
            out[m.name] = m.value
        else:
            out.pop(m.name, None)
        seen.add(m.name)
    return Labels.from_pairs(out.items())


def _absent(args: list[Any], env: CallEnv) -> Vector:
    if len(args[0]):
        return Vector()
    return Vector([InstantSample(absent_labels(env.node.args[0]), 1.0)])


FUNCTIONS: dict[str, Callable[[list[Any], CallEnv], Any]] = {
    "label_replace": _label_replace,
    "label_join": _label_join,
    "sort": _sort(descending=False),
    "sort_desc": _sort(descending=True),
    "sort_by_label": _sort_by_label(descending=False),
    "sort_by_label_desc": _sort_by_label(descending=True),
    "absent": _absent,
    "absent_over_time": _absent,
}
