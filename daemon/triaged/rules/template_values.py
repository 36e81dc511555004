"""Template values: the Python values that stand in for Go's, their Go type names,
``%v`` text and truth.

Values are ``None`` (nil), bool, int, float (float64), str, dict (``map[string]string``;
:class:`AnyMap` for ``map[string]interface {}``), list (a query result), :class:`Record`
(a struct) and :class:`GoTime`. They print as Go's ``fmt`` prints them, so rendered
alerts match Prometheus byte for byte: ``1.234567e+06``, ``0.30000000000000004``, ``+Inf``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from triaged.rules.template_lex import TemplateError

TemplateQuery = Callable[[str], Iterable[tuple[Iterable[tuple[str, str]], float]]]
"""Runs a PromQL instant query at the alert's evaluation time: the ``query`` function."""


class AnyMap(dict[str, object]):
    """A ``map[string]interface {}``: a missing key is nil, not ``""``."""


class HTML(str):
    """An html/template.HTML, what ``safeHtml`` returns: it prints and compares as its
    text, but is not a ``string`` to functions that take one (``toUpper``, ``match``,
    ``humanize``…), which refuse it as Go does."""


@dataclass(frozen=True)
class Record:
    """A Go struct; ``pointer`` makes ``%v`` print ``&{…}`` as Go does for ``*T``."""

    type_name: str
    fields: Mapping[str, object]
    pointer: bool = False


@dataclass(frozen=True)
class GoTime:
    """A ``*time.Time`` (from ``toTime``): milliseconds since the epoch, UTC."""

    ms: int

    def __str__(self) -> str:
        t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=self.ms)
        frac = f".{t.microsecond // 1000:03d}".rstrip("0").rstrip(".")
        return f"{t.year:04d}-{t:%m-%d %H:%M:%S}{frac} +0000 UTC"


@dataclass(frozen=True)
class Env:
    """What the functions may see besides their arguments."""

    external_url: str = ""
    query: TemplateQuery | None = None


Func = Callable[[Env, list[object]], object]
"""A template function: called with the environment and the evaluated arguments."""


def truth(x: object) -> bool:
    """Go's template truth: false, 0, nil and empty strings, maps and lists are false."""
    if x is None:
        return False
    if isinstance(x, bool | int | float):
        return x != 0
    if isinstance(x, str | dict | list):
        return len(x) > 0
    return True


def map_get(m: dict[str, object], key: str) -> object:
    """``m[key]`` with ``missingkey=zero``, as Prometheus sets it: a missing key gives
    the map element type's zero value."""
    return m.get(key, None if isinstance(m, AnyMap) else "")


def string_arg(x: object) -> str:
    if not isinstance(x, str) or isinstance(x, HTML):
        raise wrong_type("string", x)
    return x


def wrong_type(expected: str, x: object) -> TemplateError:
    return TemplateError(f"wrong type for value; expected {expected}; got {go_type(x)}")


def go_type(x: object) -> str:
    match x:
        case None:
            return "<nil>"
        case bool():
            return "bool"
        case int():
            return "int"
        case float():
            return "float64"
        case HTML():
            return "template.HTML"
        case str():
            return "string"
        case AnyMap():
            return "map[string]interface {}"
        case dict():
            return "map[string]string"
        case list():
            return "template.queryResult"
        case Record():
            return x.type_name
    return "*time.Time"


def go_value(x: object) -> str:
    """Go's ``%v``."""
    match x:
        case None:
            return "<nil>"
        case bool():
            return "true" if x else "false"
        case float():
            return go_float(x)
        case dict():
            return "map[" + " ".join(f"{k}:{go_value(v)}" for k, v in sorted(x.items())) + "]"
        case list():
            return "[" + " ".join(go_value(v) for v in x) + "]"
        case Record():
            inner = " ".join(go_value(v) for v in x.fields.values())
            return ("&{" if x.pointer else "{") + inner + "}"
    return str(x)


def printable(x: object) -> str:
    """What ``{{ x }}`` writes: nil is ``<no value>``, a pointer is printed as its target."""
    if x is None:
        return "<no value>"
    if isinstance(x, Record) and x.pointer:
        return go_value(Record(x.type_name, x.fields))
    return go_value(x)


def go_float(v: float, upper: bool = False) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64): the shortest digits that read back as ``v``,
    in exponent form when the exponent is < -4 or >= 6 (Python's repr switches at 16)."""
    if not math.isfinite(v):
        return special_float(v)
    sign, digit_tuple, exponent = Decimal(repr(v)).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite, so never 'n' or 'F'
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text = f"{mantissa}{'E' if upper else 'e'}{point - 1:+03d}"
    elif point <= 0:
        text = "0." + "0" * -point + digits
    else:
        text = digits.ljust(point, "0") if point >= len(digits) else f"{digits[:point]}.{digits[point:]}"
    return ("-" if sign else "") + text


def special_float(v: float) -> str:
    """A NaN or an infinity as Go prints it."""
    return "NaN" if math.isnan(v) else "+Inf" if v > 0 else "-Inf"
