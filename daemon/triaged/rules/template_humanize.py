"""Prometheus' number formatting for templates: the ``humanize*`` functions and
``toTime``, with Prometheus' ``%.4g`` precision and its SI and IEC prefixes."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from triaged.rules.template_lex import TemplateError
from triaged.rules.template_printf import go_quote
from triaged.rules.template_values import HTML, GoTime, go_float, go_type, special_float


def to_float(x: object) -> float:
    """ConvertToFloat: float64, int and strings (parsed as strconv.ParseFloat does)."""
    if isinstance(x, bool | HTML) or not isinstance(x, int | float | str):
        raise TemplateError(f"can't convert {go_type(x)} to float")
    if not isinstance(x, str):
        return float(x)
    if not _GO_FLOAT.fullmatch(x):
        raise TemplateError(f"strconv.ParseFloat: parsing {go_quote(x)}: invalid syntax")
    digits = x.replace("_", "")
    v = float.fromhex(digits) if digits.lstrip("+-")[:2] in ("0x", "0X") else float(digits)
    if math.isinf(v) and x.lstrip("+-")[:1] not in "iI":
        raise TemplateError(f"strconv.ParseFloat: parsing {go_quote(x)}: value out of range")
    return v


# strconv.ParseFloat's syntax, Go's float literals: ASCII digits, `_` only between
# digits (or after 0x), a hexadecimal mantissa only with a `p` exponent ("0x10" is
# refused, "0x1p4" is 16), inf/infinity with an optional sign and nan without one, in
# any case. Python's float() differs: it takes "+nan" and other scripts' digits.
_D, _H = r"\d(?:_?\d)*", r"[0-9a-fA-F](?:_?[0-9a-fA-F])*"
_GO_FLOAT = re.compile(
    rf"[+-]?(?:(?:{_D}(?:\.(?:{_D})?)?|\.{_D})(?:[eE][+-]?{_D})?"
    rf"|0[xX](?:_?{_H}(?:\.(?:{_H})?)?|\.{_H})[pP][+-]?{_D}"
    r"|(?i:inf|infinity))"
    r"|(?i:nan)",
    re.ASCII,
)


def g4(v: float) -> str:
    """Go's ``%.4g``, the precision of every humanize function."""
    return f"{v:.4g}" if math.isfinite(v) else special_float(v)


def humanize(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return g4(v)
    if abs(v) >= 1:
        return _scale_up(v, "kMGTPEZY", 1000)
    v, prefix = _scale_down(v)
    return g4(v) + prefix


def humanize_1024(v: float) -> str:
    if abs(v) <= 1 or not math.isfinite(v):
        return g4(v)
    return _scale_up(v, ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"), 1024)


def humanize_percentage(v: float) -> str:
    return g4(v * 100) + "%"


def _scale_up(v: float, prefixes: Iterable[str], base: int) -> str:
    prefix = ""
    for p in prefixes:
        if abs(v) < base:
            break
        prefix, v = p, v / base
    return g4(v) + prefix


def _scale_down(v: float) -> tuple[float, str]:
    """A magnitude below 1 scaled up by thousands, and its SI prefix (milli to yocto)."""
    prefix = ""
    for p in "munpfazy":
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return v, prefix


def humanize_duration(v: float) -> str:
    """Seconds as ``1d 2h 3m 4s`` (whole seconds from a minute up), ``1.5s``, ``250ms``."""
    if not math.isfinite(v):
        return g4(v)
    if v == 0:
        return g4(v) + "s"
    if abs(v) < 1:
        v, prefix = _scale_down(v)
        return f"{g4(v)}{prefix}s"
    sign, v = ("-", -v) if v < 0 else ("", v)
    whole = int(v)
    days, hours, minutes, seconds = whole // 86400, whole // 3600 % 24, whole // 60 % 60, whole % 60
    if days:
        return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
    if hours:
        return f"{sign}{hours}h {minutes}m {seconds}s"
    if minutes:
        return f"{sign}{minutes}m {seconds}s"
    return f"{sign}{g4(v)}s"


def to_time(v: float) -> GoTime:
    if not math.isfinite(v):
        raise TemplateError("value is NaN or Inf")
    nanos = v * 1e9
    if not -(2.0**63) <= nanos <= 2.0**63 - 1:
        raise TemplateError(
            f"{go_float(v)} cannot be represented as a nanoseconds timestamp since it overflows int64"
        )
    # model.TimeFromUnixNano keeps milliseconds, truncating toward zero like Go's `/`.
    whole = int(nanos)
    return GoTime(abs(whole) // 1_000_000 * (1 if whole >= 0 else -1))


def humanize_timestamp(v: float) -> str:
    return g4(v) if not math.isfinite(v) else str(to_time(v))
