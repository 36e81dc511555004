"""The promtool unit-test file format (``promtool test rules``), parsed into frozen specs.

Every problem in a test file is reported at once as ``file:line: message``, like rule
files. Unknown keys are errors, as promtool's strict YAML decoding makes them: a
misspelt ``exp_alert`` would otherwise turn into a test that expects nothing. String
fields keep a scalar's text as written (``alertname: Off``, ``paging: no``), as
promtool's Go YAML decoding does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from triaged.confnode import duration
from triaged.errors import ConfigError
from triaged.model import Labels
from triaged.promql import ExprError, expand_series_values, parse_expr
from triaged.promql.notation import parse_series_labels
from triaged.rules.format import TEST_FILE_KEYS, string_map
from triaged.yamlfile import Node, Seq, load_yaml_file

_FILE_KEYS = {"rule_files", "evaluation_interval", "fuzzy_compare", "group_eval_order", "tests"}
_GROUP_KEYS = {
    "interval",
    "input_series",
    "name",
    "start_timestamp",
    "alert_rule_test",
    "promql_expr_test",
    "external_labels",
    "external_url",
}
_SERIES_KEYS = {"series", "values"}
_ALERT_CASE_KEYS = {"eval_time", "alertname", "exp_alerts"}
_ALERT_KEYS = {"exp_labels", "exp_annotations"}
_EXPR_CASE_KEYS = {"expr", "eval_time", "exp_samples"}
_SAMPLE_KEYS = {"labels", "value"}
DEFAULT_EVALUATION_INTERVAL_S = 60.0


@dataclass(frozen=True)
class InputSeries:
    labels: Labels
    values: tuple[float | None, ...]  # None: no sample at that step ("_")


@dataclass(frozen=True)
class ExpectedAlert:
    labels: Labels  # includes alertname, as the alert itself does
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class AlertCase:
    eval_time_s: float
    alertname: str
    expected: tuple[ExpectedAlert, ...]
    line: int | None = None


@dataclass(frozen=True)
class ExprCase:
    expr: str
    eval_time_s: float
    expected: tuple[tuple[Labels, float], ...]
    line: int | None = None


@dataclass(frozen=True)
class TestGroup:
    name: str
    interval_s: float
    start_s: float
    series: tuple[InputSeries, ...]
    alert_cases: tuple[AlertCase, ...]
    expr_cases: tuple[ExprCase, ...]
    external_labels: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""
    line: int | None = None

    def max_eval_time_s(self) -> float:
        times = [c.eval_time_s for c in self.alert_cases] + [c.eval_time_s for c in self.expr_cases]
        return max(times, default=0.0)


@dataclass(frozen=True)
class RuleTestFile:
    path: Path
    rule_files: tuple[str, ...]  # patterns, relative to the test file's directory
    evaluation_interval_s: float
    group_eval_order: tuple[str, ...]
    fuzzy_compare: bool
    tests: tuple[TestGroup, ...]
    rule_files_line: int | None = None


class RuleTestFileError(Exception):
    def __init__(self, errors: list[ConfigError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


def load_rule_test_file(path: str | Path) -> RuleTestFile:
    """Parse one test file. Raises :class:`RuleTestFileError` with every error found."""
    spec, errors = check_rule_test_file(path)
    if errors or spec is None:
        raise RuleTestFileError(errors)
    return spec


def check_rule_test_file(path: str | Path) -> tuple[RuleTestFile | None, list[ConfigError]]:
    """Every problem of one test file, and the file as far as it parses (its
    ``rule_files`` can be checked even when a test case is broken). None when the
    file is no test file at all."""
    try:
        doc = load_yaml_file(path)
    except ConfigError as exc:
        return None, [exc]
    if not isinstance(doc, Node):
        return None, [ConfigError("expected a mapping with 'rule_files' and 'tests'", file=str(path))]
    if "groups" in doc and not TEST_FILE_KEYS & doc.keys():
        return None, [doc.error(None, "this is a rule file: use triaged rules check")]
    errors: list[ConfigError] = []
    _unknown(doc, _FILE_KEYS, "test file", errors)
    rule_files = _string_list(doc, "rule_files", errors)
    if not rule_files and "rule_files" not in doc:
        errors.append(doc.error(None, "a test file needs 'rule_files'"))
    interval = _duration(doc, "evaluation_interval", errors, DEFAULT_EVALUATION_INTERVAL_S)
    if interval <= 0:
        errors.append(doc.error("evaluation_interval", "evaluation_interval must be positive"))
        interval = DEFAULT_EVALUATION_INTERVAL_S
    order = _string_list(doc, "group_eval_order", errors)
    if len(set(order)) != len(order):
        errors.append(doc.error("group_eval_order", "group_eval_order lists a group twice"))
    fuzzy = doc.get("fuzzy_compare", False)
    if not isinstance(fuzzy, bool):
        errors.append(doc.error("fuzzy_compare", "fuzzy_compare must be true or false"))
        fuzzy = False
    tests = [_test_group(raw, interval, errors) for raw in _node_list(doc, "tests", errors)]
    spec = RuleTestFile(
        path=Path(path),
        rule_files=tuple(rule_files),
        evaluation_interval_s=interval,
        group_eval_order=tuple(order),
        fuzzy_compare=fuzzy,
        tests=tuple(t for t in tests if t is not None),
        rule_files_line=doc.line_of("rule_files"),
    )
    return spec, errors


def _test_group(raw: Node, default_interval: float, errors: list[ConfigError]) -> TestGroup | None:
    before = len(errors)
    _unknown(raw, _GROUP_KEYS, "test group", errors)
    name = raw.text("name") if "name" in raw else ""
    if name is None:
        errors.append(raw.error("name", "name must be a string"))
    interval = _duration(raw, "interval", errors, default_interval)
    if interval <= 0:
        errors.append(raw.error("interval", "interval must be positive"))
    series = [_series(s, errors) for s in _node_list(raw, "input_series", errors)]
    alerts = [_alert_case(c, errors) for c in _node_list(raw, "alert_rule_test", errors)]
    exprs = [_expr_case(c, errors) for c in _node_list(raw, "promql_expr_test", errors)]
    external = string_map(raw, "external_labels", errors)
    url = raw.text("external_url") or ""
    start = _start_timestamp(raw, errors)
    if len(errors) != before:
        return None
    return TestGroup(
        name=str(name),
        interval_s=interval,
        start_s=start,
        series=tuple(s for s in series if s is not None),
        alert_cases=tuple(a for a in alerts if a is not None),
        expr_cases=tuple(e for e in exprs if e is not None),
        external_labels=external,
        external_url=url,
        line=raw.line,
    )


def _series(raw: Node, errors: list[ConfigError]) -> InputSeries | None:
    """The series and its values are checked apart, so a broken one hides nothing."""
    _unknown(raw, _SERIES_KEYS, "input series", errors)
    desc, text = raw.text("series"), raw.text("values") or ""
    labels: Labels | None = None
    if desc is None or not desc.strip():
        errors.append(raw.error("series" if "series" in raw else None, "input series needs a 'series'"))
    else:
        try:
            labels = parse_series_labels(desc)
        except ExprError as exc:
            errors.append(raw.error("series", str(exc)))
    values: list[float | None] | None = None
    if "{{" in text:
        errors.append(raw.error("values", "native histogram values are not supported; use classic buckets"))
    else:
        try:
            values = expand_series_values(text)
        except ExprError as exc:
            errors.append(raw.error("values", f"series {(desc or '').strip() or '?'}: {exc}"))
    if labels is None or values is None:
        return None
    return InputSeries(labels=labels, values=tuple(values))


def _alert_case(raw: Node, errors: list[ConfigError]) -> AlertCase | None:
    _unknown(raw, _ALERT_CASE_KEYS, "alert_rule_test case", errors)
    name = raw.text("alertname")
    if not name:
        errors.append(
            raw.error("alertname" if "alertname" in raw else None, "alert test needs an 'alertname'")
        )
    eval_time = _eval_time(raw, errors)
    expected: list[ExpectedAlert] = []
    for alert in _node_list(raw, "exp_alerts", errors):
        _unknown(alert, _ALERT_KEYS, "expected alert", errors)
        labels = string_map(alert, "exp_labels", errors)
        notes = string_map(alert, "exp_annotations", errors)
        # The user lists the rule's labels; the alert also carries its own name.
        expected.append(ExpectedAlert(Labels.of(labels, alertname=name or ""), notes))
    if eval_time is None or not name:
        return None
    return AlertCase(eval_time, name, tuple(expected), raw.line)


def _expr_case(raw: Node, errors: list[ConfigError]) -> ExprCase | None:
    _unknown(raw, _EXPR_CASE_KEYS, "promql_expr_test case", errors)
    expr = raw.text("expr")
    valid = True  # a broken expr still lets its eval_time and samples be checked
    if expr is None or not expr.strip():
        errors.append(raw.error("expr" if "expr" in raw else None, "promql test needs an 'expr'"))
        valid = False
    else:
        try:
            parse_expr(expr)
        except ExprError as exc:
            errors.append(raw.error("expr", f"invalid expression: {exc}"))
            valid = False
    eval_time = _eval_time(raw, errors)
    samples: list[tuple[Labels, float]] = []
    for sample in _node_list(raw, "exp_samples", errors):
        _unknown(sample, _SAMPLE_KEYS, "expected sample", errors)
        desc, value = sample.text("labels"), sample.get("value")
        try:
            labels: Labels | None = parse_series_labels(desc or "{}")
        except ExprError as exc:
            errors.append(sample.error("labels", str(exc)))
            labels = None
        number = _number(value)
        if number is None:
            errors.append(_value_error(sample, value))
        if labels is not None and number is not None:
            samples.append((labels, number))
    if eval_time is None or expr is None or not valid:
        return None
    return ExprCase(expr, eval_time, tuple(samples), raw.line)


def _number(value: Any) -> float | None:
    """A sample value as promtool reads it: a YAML number (``1``, ``1e3``, ``.inf``).
    Any string is refused, ``'1'`` too: Go's YAML will not decode a quoted scalar into
    a float64, and promtool refuses the whole file (cannot unmarshal !!str)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# What YAML 1.2 would read as a number if it were not quoted or tagged.
_YAML12_NUMBER = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)


def _value_error(sample: Node, value: Any) -> ConfigError:
    if isinstance(value, str) and value.strip().lstrip("+-").lower() in ("inf", "nan"):
        spelled = {"inf": ".inf", "+inf": ".inf", "-inf": "-.inf"}.get(value.strip().lower(), ".nan")
        return sample.error(
            "value", f"value {value!r} is a string to YAML: write {spelled}, as promtool needs"
        )
    if isinstance(value, str) and _YAML12_NUMBER.fullmatch(value.strip()):
        why = "is a string to YAML (quoted or tagged): write the number bare, as promtool needs"
        return sample.error("value", f"value {value!r} {why}")
    return sample.error("value" if "value" in sample else None, "sample needs a numeric 'value'")


def _eval_time(raw: Node, errors: list[ConfigError]) -> float | None:
    if "eval_time" not in raw:
        errors.append(raw.error(None, "test case needs an 'eval_time'"))
        return None
    before = len(errors)
    value = _duration(raw, "eval_time", errors, 0.0)
    return None if len(errors) != before else value


def _start_timestamp(raw: Node, errors: list[ConfigError]) -> float:
    value = raw.get("start_timestamp", 0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime):  # YAML already parsed an unquoted RFC3339 timestamp
        return value.timestamp()
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        errors.append(raw.error("start_timestamp", f"start_timestamp: not a Unix time or RFC3339: {value!r}"))
        return 0.0


def _unknown(raw: Node, allowed: set[str], what: str, errors: list[ConfigError]) -> None:
    for key in raw:
        if key not in allowed:
            errors.append(raw.error(key, f"unknown {what} field {key!r}"))


def _duration(raw: Node, key: str, errors: list[ConfigError], default: float) -> float:
    """A duration as promtool reads one (model.Duration) and the config checks one: a
    bare number other than 0 is refused, ``eval_time: 4`` is not 4 seconds."""
    try:
        return duration(raw, key, default, strict=True)
    except ConfigError as exc:
        errors.append(exc)
        return default


def _node_list(raw: Node, key: str, errors: list[ConfigError]) -> list[Node]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(raw.error(key, f"'{key}' must be a list"))
        return []
    nodes = [v for v in value if isinstance(v, Node)]
    if len(nodes) != len(value):
        errors.append(raw.error(key, f"each entry of '{key}' must be a mapping"))
    return nodes


def _string_list(raw: Node, key: str, errors: list[ConfigError]) -> list[str]:
    value = raw.get(key)
    if value is None:
        return []
    texts = [value.text(i) for i in range(len(value))] if isinstance(value, Seq) else [None]
    if any(t is None for t in texts):
        errors.append(raw.error(key, f"'{key}' must be a list of strings"))
        return []
    return [t for t in texts if t is not None]
