"""The subset of Prometheus' alert templating that rule files actually use.

Supported inside ``{{ … }}``: ``$labels.name``, ``$labels``, ``$value``,
``$externalLabels.name``, string and number literals, function calls written prefix
(``humanize $value``) or piped (``$value | humanizePercentage``), ``printf "%.1f" $value``,
``humanize``, ``humanize1024``, ``humanizePercentage``, ``humanizeDuration``, ``toUpper``,
``toLower``, ``title``. Anything else is an error reported at load time by
:func:`check_template`, not at 3 a.m. when the alert fires.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_BLOCK = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.DOTALL)


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class TemplateData:
    labels: Mapping[str, str]
    value: float
    external_labels: Mapping[str, str] = ()  # type: ignore[assignment]


def humanize(v: float) -> str:
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _plain(v)
    prefixes = (
        (1e24, "Y"),
        (1e21, "Z"),
        (1e18, "E"),
        (1e15, "P"),
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
    )
    if abs(v) >= 1:
        for size, prefix in prefixes:
            if abs(v) >= size:
                return f"{_g4(v / size)}{prefix}"
        return _g4(v)
    for size, prefix in ((1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p")):
        if abs(v) >= size:
            return f"{_g4(v / size)}{prefix}"
    return _g4(v)


def humanize_1024(v: float) -> str:
    if abs(v) < 1 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    for i, prefix in enumerate(("", "ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi")):
        if abs(v) < 1024 ** (i + 1):
            return f"{_g4(v / 1024**i)}{prefix}"
    return f"{_g4(v / 1024**8)}Yi"


def humanize_percentage(v: float) -> str:
    return f"{_g4(v * 100)}%"


def humanize_duration(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return "0s"
    if abs(v) < 1:
        for size, unit in ((1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
            if abs(v) >= size:
                return f"{_g4(v / size)}{unit}"
        return f"{_g4(v)}s"
    sign = "-" if v < 0 else ""
    seconds = abs(v)
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    frac = seconds - int(seconds)
    parts = []
    if days:
        parts.append(f"{days}d")
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    parts.append(f"{secs + frac:.4g}s" if frac else f"{secs}s")
    return sign + " ".join(parts)


def _g4(v: float) -> str:
    return f"{v:.4g}"


def _plain(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return f"{v:.15g}"


def _num(x: object) -> float:
    if isinstance(x, int | float):
        return float(x)
    try:
        return float(str(x))
    except ValueError as exc:
        raise TemplateError(f"expected a number, got {x!r}") from exc


_FUNCS: dict[str, Callable[[object], str]] = {
    "humanize": lambda x: humanize(_num(x)),
    "humanize1024": lambda x: humanize_1024(_num(x)),
    "humanizePercentage": lambda x: humanize_percentage(_num(x)),
    "humanizeDuration": lambda x: humanize_duration(_num(x)),
    "toUpper": lambda x: str(x).upper(),
    "toLower": lambda x: str(x).lower(),
    "title": lambda x: str(x).title(),
}


def render(template: str, data: TemplateData) -> str:
    """Expand every ``{{ … }}`` block. Raises :class:`TemplateError`."""
    return _BLOCK.sub(lambda m: _to_text(_eval_pipeline(m.group(1), data)), template)


def check_template(template: str) -> None:
    """Validate syntax and function names without real data."""
    render(template, TemplateData(labels={}, value=0.0, external_labels={}))


def _to_text(value: object) -> str:
    if isinstance(value, float):
        return _plain(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{v}" for k, v in sorted(value.items())) + "]"
    return str(value)


def _eval_pipeline(expr: str, data: TemplateData) -> object:
    if not expr:
        raise TemplateError("empty {{ }} block")
    stages = [s.strip() for s in expr.split("|")]
    result: object = None
    for i, stage in enumerate(stages):
        try:
            words = shlex.split(stage, posix=True)
        except ValueError as exc:
            raise TemplateError(f"cannot parse {stage!r}: {exc}") from exc
        if not words:
            raise TemplateError(f"empty pipeline stage in {expr!r}")
        args = [_operand(w, data) for w in words[1:]]
        if i > 0:
            args.append(result)
        result = _call(words[0], args, data) if _is_func(words[0]) else _atom(words, data)
    return result


def _is_func(word: str) -> bool:
    return word in _FUNCS or word == "printf"


def _atom(words: list[str], data: TemplateData) -> object:
    if len(words) != 1:
        raise TemplateError(f"unknown function {words[0]!r}")
    return _operand(words[0], data)


def _call(name: str, args: list[object], data: TemplateData) -> object:
    if name == "printf":
        if not args:
            raise TemplateError("printf needs a format")
        fmt, *rest = args
        try:
            return str(fmt) % tuple(rest)
        except (TypeError, ValueError) as exc:
            raise TemplateError(f"printf {fmt!r}: {exc}") from exc
    if len(args) != 1:
        raise TemplateError(f"{name} takes one argument, got {len(args)}")
    return _FUNCS[name](args[0])


def _operand(word: str, data: TemplateData) -> object:
    if word == "$value":
        return data.value
    if word == "$labels":
        return dict(data.labels)
    if word.startswith("$labels."):
        return data.labels.get(word[len("$labels.") :], "")
    if word.startswith("$externalLabels."):
        return dict(data.external_labels).get(word[len("$externalLabels.") :], "")
    if word.startswith("$"):
        raise TemplateError(f"unknown variable {word!r} (use $labels, $value)")
    try:
        return float(word) if any(c in word for c in ".eE") else int(word)
    except ValueError:
        pass
    if word in _FUNCS or word == "printf":
        raise TemplateError(f"function {word!r} used as a value")
    return word
