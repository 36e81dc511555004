"""The functions an alert template can call: Prometheus' template functions, and
:data:`FUNCS`, which joins them with Go's built-ins (:mod:`template_builtins`).

Prometheus' functions cover queries (``query``, ``first``, ``label``, ``value``,
``sortByLabel``), strings and regexps, URLs and hosts, durations, and the
``humanize*`` family (:mod:`template_humanize`).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from urllib.parse import quote_plus, urlsplit

from triaged.durations import prometheus_duration
from triaged.promql.labelfuncs import expand_template
from triaged.re2 import translate
from triaged.rules.template_builtins import BUILTINS
from triaged.rules.template_humanize import (
    humanize,
    humanize_1024,
    humanize_duration,
    humanize_percentage,
    humanize_timestamp,
    to_float,
    to_time,
)
from triaged.rules.template_lex import TemplateError
from triaged.rules.template_printf import go_quote
from triaged.rules.template_values import HTML, AnyMap, Env, Func, Record, string_arg, wrong_type


def title(text: str) -> str:
    """cases.Title with NoLower: upper-case each word's first letter, keep the rest.
    A word runs on through letters, digits and ``_``, and through ``'`` ``.`` ``:``
    between two letters (Unicode word breaking), so ``it's`` and ``foo.bar`` stay one word."""
    out = []
    for i, ch in enumerate(text):
        prev = text[i - 1] if i else " "
        inside = prev.isalnum() or prev == "_"
        joined = prev in "'.:’" and i > 1 and text[i - 2].isalpha() and ch.isalpha()
        out.append(ch if inside or joined else ch.title())
    return "".join(out)


def to_upper(text: str) -> str:
    """strings.ToUpper: each character mapped on its own (Unicode's simple case
    mapping), so ``ß`` and ``ﬁ`` stay as they are, where Python's ``upper()`` makes
    ``SS`` and ``FI``. A character whose full mapping is longer takes its single-
    character titlecase if it has one (``ᾳ`` → ``ᾼ``), as the simple mapping does."""
    out = []
    for ch in text:
        upper = ch.upper()
        if len(upper) != 1:
            title = ch.title()
            upper = title if len(title) == 1 else ch
        out.append(upper)
    return "".join(out)


def to_lower(text: str) -> str:
    """strings.ToLower: each character on its own, so ``Σ`` is always ``σ`` (no final
    ``ς``) and ``İ`` is ``i`` (not ``i`` with a combining dot)."""
    return "".join(lower[0] for lower in (ch.lower() for ch in text))


def parse_duration(text: str) -> float:
    """model.ParseDuration (``1h30m``, ``500ms``, ``0``) as seconds."""
    seconds = prometheus_duration(text)
    if seconds is None:
        raise TemplateError(f"not a valid duration string: {go_quote(text)}")
    return seconds


def split_host_port(text: str) -> tuple[str, str] | None:
    """net.SplitHostPort, or None where Go returns an error."""
    colon = text.rfind(":")
    if colon < 0:
        return None
    if text.startswith("["):
        close = text.find("]")
        if close + 1 != colon or "[" in text[1:] or "]" in text[close + 1 :]:
            return None
        return text[1:close], text[colon + 1 :]
    host = text[:colon]
    if ":" in host or "[" in text or "]" in text:
        return None
    return host, text[colon + 1 :]


def strip_domain(text: str) -> str:
    host, port = split_host_port(text) or (text, "")
    try:
        ipaddress.ip_address(host)
        return text
    except ValueError:
        pass
    host = host.split(".")[0]
    if not port:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@functools.lru_cache(maxsize=256)
def go_regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(translate(pattern))
    except re.error as exc:
        raise TemplateError(f"error parsing regexp: {exc}: `{pattern}`") from None


def re_replace_all(pattern: str, repl: str, text: str) -> str:
    """regexp.ReplaceAllString. Unlike Python's ``re.sub``, Go skips an empty match
    right after a previous match, so ``reReplaceAll "(.*)" "<$1>"`` of ``ab`` is
    ``<ab>``, not ``<ab><>``."""
    regex = go_regex(pattern)
    out: list[str] = []
    pos = last_end = 0
    while pos <= len(text):
        m = regex.search(text, pos)
        if m is None:
            break
        out.append(text[last_end : m.start()])
        if m.end() > last_end or m.start() == 0:
            out.append(expand_template(repl, m))
        last_end = m.end()
        pos = max(m.end(), pos + 1)  # always move on by at least one character
    out.append(text[last_end:])
    return "".join(out)


def run_query(env: Env, expr: str) -> list[object]:
    if env.query is None:
        raise TemplateError("no query engine available to this template")
    return [_sample(dict(labels), value) for labels, value in env.query(expr)]


def _sample(labels: dict[str, str], value: float) -> Record:
    return Record("*template.sample", {"Labels": labels, "Value": float(value)}, pointer=True)


def sample_arg(x: object) -> Record:
    if not isinstance(x, Record) or x.type_name != "*template.sample":
        raise wrong_type("*template.sample", x)
    return x


def results_arg(x: object) -> list[object]:
    if not isinstance(x, list):
        raise wrong_type("template.queryResult", x)
    return x


def _first(results: list[object]) -> object:
    if not results:
        raise TemplateError("first() called on vector with no elements")
    return results[0]


def _label(name: str, sample: Record) -> str:
    labels = sample.fields["Labels"]
    assert isinstance(labels, dict)
    return str(labels.get(name, ""))


def _sort_by_label(name: str, results: list[object]) -> list[object]:
    return sorted(results, key=lambda s: _label(name, sample_arg(s)))


def _link(expr: str, tab: int) -> str:
    return f"/graph?g0.expr={quote_plus(expr, safe='')}&g0.tab={tab}"


# name → (function, fewest arguments, most arguments or None for any number)
PROMETHEUS_FUNCS: dict[str, tuple[Func, int, int | None]] = {
    "query": (lambda env, a: run_query(env, string_arg(a[0])), 1, 1),
    "first": (lambda env, a: _first(results_arg(a[0])), 1, 1),
    "label": (lambda env, a: _label(string_arg(a[0]), sample_arg(a[1])), 2, 2),
    "value": (lambda env, a: sample_arg(a[0]).fields["Value"], 1, 1),
    "strvalue": (lambda env, a: _label("__value__", sample_arg(a[0])), 1, 1),
    "sortByLabel": (lambda env, a: _sort_by_label(string_arg(a[0]), results_arg(a[1])), 2, 2),
    "args": (lambda env, a: AnyMap({f"arg{i}": v for i, v in enumerate(a)}), 0, None),
    "reReplaceAll": (lambda env, a: re_replace_all(*(string_arg(x) for x in a)), 3, 3),
    "match": (lambda env, a: go_regex(string_arg(a[0])).search(string_arg(a[1])) is not None, 2, 2),
    "safeHtml": (lambda env, a: HTML(string_arg(a[0])), 1, 1),
    "title": (lambda env, a: title(string_arg(a[0])), 1, 1),
    "toUpper": (lambda env, a: to_upper(string_arg(a[0])), 1, 1),
    "toLower": (lambda env, a: to_lower(string_arg(a[0])), 1, 1),
    "graphLink": (lambda env, a: _link(string_arg(a[0]), 0), 1, 1),
    "tableLink": (lambda env, a: _link(string_arg(a[0]), 1), 1, 1),
    "stripPort": (lambda env, a: (split_host_port(string_arg(a[0])) or (a[0], ""))[0], 1, 1),
    "stripDomain": (lambda env, a: strip_domain(string_arg(a[0])), 1, 1),
    "humanize": (lambda env, a: humanize(to_float(a[0])), 1, 1),
    "humanize1024": (lambda env, a: humanize_1024(to_float(a[0])), 1, 1),
    "humanizeDuration": (lambda env, a: humanize_duration(to_float(a[0])), 1, 1),
    "humanizePercentage": (lambda env, a: humanize_percentage(to_float(a[0])), 1, 1),
    "humanizeTimestamp": (lambda env, a: humanize_timestamp(to_float(a[0])), 1, 1),
    "toTime": (lambda env, a: to_time(to_float(a[0])), 1, 1),
    "pathPrefix": (lambda env, a: urlsplit(env.external_url).path, 0, 0),
    "externalURL": (lambda env, a: env.external_url, 0, 0),
    "parseDuration": (lambda env, a: parse_duration(string_arg(a[0])), 1, 1),
}

FUNCS = {**BUILTINS, **PROMETHEUS_FUNCS}
"""Every function a template can call, except ``and`` and ``or`` (see :data:`ARITY`)."""

# `and` and `or` short-circuit, so the evaluator runs them itself.
ARITY = {name: (low, high) for name, (_, low, high) in FUNCS.items()} | {"and": (1, None), "or": (1, None)}
"""Each function's (fewest, most) argument count, for the parser."""
