"""The series notation shared by promtool rule tests and Prometheus' PromQL test
files: `metric{a="b"} 0+10x3 _ stale 1x2`, and durations such as `1m30s`."""

from __future__ import annotations

import math
import re

import promql_parser as pp

from triaged.model import METRIC_NAME, STALE_NAN, Labels
from triaged.promql.values import ExprError

# Numbers as the series lexer reads them: decimals, and Inf/NaN in any case. No hex:
# `x` means "repeat" there, so `0x10` is 0 eleven times and `0x1A` is refused.
_DEC = r"(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
_NUM = rf"(?:{_DEC}|(?i:inf|nan))"
# A number glued to `x` must be a decimal: Prometheus lexes `Infx3` and `1+NaNx2` as one
# identifier and refuses them, while `Inf+1x2` and `stale+1x3` are a value and a step.
_SINGLE = re.compile(rf"[+-]?{_NUM}")
_REPEAT = re.compile(rf"(?P<a>[+-]?{_DEC})x(?P<n>\d+)")
_STEP = re.compile(rf"(?P<a>[+-]?{_NUM}|stale)(?P<b>[+-]{_DEC})x(?P<n>\d+)")
_BLANK = re.compile(r"^_(?:x(?P<n>\d+))?$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_UNIT_MS.update({"w": 7 * 86_400_000, "y": 365 * 86_400_000})


def parse_number(text: str) -> float:
    """An expected scalar in a PromQL test file, as it always was read here (hex too);
    series values go through :func:`expand_series_values`, which takes no hex."""
    body = text.lstrip("+-")
    value = float(int(body, 16)) if body.lower().startswith("0x") else float(body)
    return -value if text.startswith("-") else value


def expand_series_values(text: str) -> list[float | None]:
    """Expand `0+10x3 _ stale 1x2` to points: None is a missing point, STALE_NAN a
    staleness marker. `a+bxn` yields n+1 values, `_xn` n gaps."""
    out: list[float | None] = []
    for token in text.split():
        blank = _BLANK.match(token)
        if blank:
            out.extend([None] * (int(blank.group("n")) if blank.group("n") else 1))
            continue
        values = _expand_term(token)
        if values is None:
            raise ExprError(f"invalid series value {token!r}")
        out.extend(values)
    return out


def _expand_term(token: str) -> list[float | None] | None:
    """The points of one `a`, `axn` or `a+bxn` term, or None if it is not one."""
    if token == "stale":
        return [STALE_NAN]
    if any(math.isinf(float(number)) for number in re.findall(_DEC, token)):
        # Go's ParseFloat refuses `1e400` rather than making it Inf.
        raise ExprError(f"invalid series value {token!r}: number out of range")
    if _SINGLE.fullmatch(token):
        return [float(token)]
    m = _REPEAT.fullmatch(token) or _STEP.fullmatch(token)
    if m is None:
        return None
    count = int(m.group("n")) + 1
    if m.group("a") == "stale":
        # Prometheus adds the step to the StaleNaN bits: what follows the first point
        # is an ordinary NaN, not a staleness marker (promtool: `stale+1x3` is
        # stale, then NaN three times).
        return [STALE_NAN, *[math.nan] * (count - 1)]
    value = float(m.group("a"))
    step = float(m.groupdict().get("b") or 0.0)
    out: list[float | None] = []
    # Accumulate like promtool does, so rounding matches its expected values.
    for _ in range(count):
        out.append(value)
        value += step
    return out


def parse_duration_ms(text: str) -> int:
    text = text.strip()
    if re.fullmatch(r"-?\d+(?:\.\d+)?", text):
        return round(float(text) * 1000)
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("-")
    pos = 0
    total = 0.0
    for m in _DURATION.finditer(body):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_MS[m.group(2)]
        pos = m.end()
    if pos != len(body) or not body:
        raise ExprError(f"invalid duration {text!r}")
    return sign * round(total)


def split_series_line(line: str) -> tuple[str, str]:
    """Split `name{a="}"} 1 2` into the descriptor and the values text."""
    depth = 0
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'`" and depth:
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return line[: i + 1], line[i + 1 :].strip()
        elif ch.isspace() and depth == 0:
            return line[:i], line[i:].strip()
        i += 1
    return line, ""


def parse_series_labels(desc: str) -> Labels:
    """Labels of a series descriptor such as `metric{a="b"}` or `{"odd.name"}`."""
    if desc.strip() == "{}":
        return Labels()
    try:
        sel = pp.parse(desc)
    except ValueError as exc:
        raise ExprError(f"invalid series descriptor {desc!r}: {exc}") from None
    if not isinstance(sel, pp.VectorSelector):
        raise ExprError(f"invalid series descriptor {desc!r}")
    pairs = [(m.name, m.value) for m in sel.matchers.matchers]
    if sel.name:
        pairs.append((METRIC_NAME, sel.name))
    return Labels.from_pairs(pairs)
