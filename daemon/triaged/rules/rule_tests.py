"""``triaged rules test``: promtool-format unit tests for rule files.

Each test group gets a fresh tsdb, engine and :class:`RuleManager`, so the rules run
through exactly the code the daemon runs. As in promtool, time steps from the start by
``evaluation_interval``; the input samples up to each step are written first, then every
group is evaluated in ``group_eval_order``. An alert case is checked after the last
step at or before its ``eval_time`` (that stepping is what lets ``for:`` elapse), and
only firing alerts count. PromQL cases run after the stepping, so they also see the
series that recording rules wrote.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from triaged.durations import format_duration
from triaged.errors import ConfigError
from triaged.model import STALE_NAN, Labels, is_stale
from triaged.promql import Engine, ExprError, Scalar, Vector
from triaged.rules.alerting import AlertingRule, AlertState, QueryFunc
from triaged.rules.format import GroupSpec, check_rule_file
from triaged.rules.manager import RuleManager, expand_rule_paths
from triaged.rules.rule_test_format import (
    AlertCase,
    ExprCase,
    RuleTestFile,
    TestGroup,
    check_rule_test_file,
)
from triaged.tsdb.storage import Storage, StorageLimits

__all__ = ["FileResult", "engine_query", "format_file_result", "run_rule_test_file", "run_rule_tests"]

AlertView = tuple[Labels, Mapping[str, str]]


@dataclass
class FileResult:
    path: str
    groups_run: int = 0
    failures: list[str] = field(default_factory=list)  # one text block per failing case

    @property
    def ok(self) -> bool:
        return not self.failures


def engine_query(engine: Engine) -> QueryFunc:
    """The daemon's query function: a vector as (labels, value) pairs, a scalar as one
    sample without labels; anything else is an error of the rule."""

    def query(expr: str, now: float) -> list[tuple[Labels, float]]:
        result = engine.instant(expr, round(now * 1000))
        if isinstance(result, Vector):
            return [(s.labels, s.value) for s in result]
        if isinstance(result, Scalar):
            return [(Labels(), result.value)]
        raise ExprError(f"expression must return a vector or scalar, got {type(result).__name__}")

    return query


def run_rule_test_file(path: str | Path, run: re.Pattern[str] | None = None) -> FileResult:
    """Run every test group of one file (or those whose name matches ``run``). A
    malformed test file and broken rule files are reported together, every problem
    at once; then nothing runs."""
    result = FileResult(str(path))
    spec, errors = check_rule_test_file(path)
    if spec is None:
        result.failures.extend(str(e) for e in errors)
        return result
    groups, rule_errors = _load_rules(spec)
    if errors or rule_errors:
        result.failures.extend(str(e) for e in _test_file_first([*errors, *rule_errors], str(spec.path)))
        return result
    for group in spec.tests:
        if run is not None and not run.search(group.name):
            continue
        result.groups_run += 1
        result.failures.extend(run_rule_tests(spec, groups, group))
    return result


def _test_file_first(errors: list[ConfigError], test_file: str) -> list[ConfigError]:
    """The test file's own problems in line order, then its rule files' as found."""
    own = sorted((e for e in errors if e.file == test_file), key=lambda e: e.line or 0)
    return own + [e for e in errors if e.file != test_file]


def _load_rules(spec: RuleTestFile) -> tuple[list[GroupSpec], list[ConfigError]]:
    """The rule groups under test, and every problem of the rule files. Groups of a
    broken file still count for ``group_eval_order``, so it is not reported as well."""
    paths, errors = expand_rule_paths(
        spec.rule_files, spec.path.parent, listed_in=str(spec.path), line=spec.rule_files_line
    )
    groups: list[GroupSpec] = []
    for path in paths:
        found, problems = check_rule_file(path)
        groups.extend(found)
        errors.extend(problems)
    known = {g.name for g in groups}
    for name in spec.group_eval_order:
        if name not in known:
            errors.append(ConfigError(f"group_eval_order: no rule group named {name!r}", file=str(spec.path)))
    return _ordered(groups, spec.group_eval_order), errors


def _ordered(groups: list[GroupSpec], order: Sequence[str]) -> list[GroupSpec]:
    """Groups named in ``group_eval_order`` first, in that order; the rest keep file order."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(groups, key=lambda g: rank.get(g.name, len(rank)))


def run_rule_tests(spec: RuleTestFile, groups: Sequence[GroupSpec], test: TestGroup) -> list[str]:
    """Run one test group; returns the failure texts (empty when it passes)."""
    storage = Storage(StorageLimits(retention_ms=None))
    engine = Engine(storage)
    query = engine_query(engine)
    manager = RuleManager(
        spec.evaluation_interval_s, dict(test.external_labels), external_url=test.external_url
    )
    manager.load(groups)
    feeder = _SeriesFeeder(storage, test)
    recorder = _Recorder(storage)
    header = [f"    name: {test.name},"] if test.name else []
    failures: list[str] = []
    pending = sorted(test.alert_cases, key=lambda c: c.eval_time_s)
    start_ms = round(test.start_s * 1000)
    step_ms = round(spec.evaluation_interval_s * 1000)
    last_ms = round(test.max_eval_time_s() * 1000)
    offset_ms = 0
    while offset_ms <= last_ms:
        now_ms = start_ms + offset_ms
        feeder.feed_until(now_ms)
        manager.evaluate_due(now_ms / 1000, query, recorder.record, force=True)
        broken = _rule_errors(manager, now_ms / 1000, offset_ms)
        if broken:
            # promtool stops a group at the first failing evaluation: later results mean nothing.
            return [*failures, "\n".join(header + broken)]
        while pending and round(pending[0].eval_time_s * 1000) < offset_ms + step_ms:
            failures.extend(_check_alert_case(manager, pending.pop(0), header))
        offset_ms += step_ms
    for case in test.expr_cases:
        failures.extend(_check_expr_case(engine, case, start_ms, spec.fuzzy_compare, header))
    return failures


class _SeriesFeeder:
    """Writes the input samples into the tsdb step by step, as scrapes would have."""

    def __init__(self, storage: Storage, test: TestGroup) -> None:
        self.storage = storage
        start_ms = round(test.start_s * 1000)
        interval_ms = round(test.interval_s * 1000)
        points: list[tuple[int, int, Labels, float]] = []
        # A series given twice is its last definition, whole, as promtool loads it.
        last = {series.labels: series for series in test.series}
        for order, series in enumerate(last.values()):
            for i, value in enumerate(series.values):
                if value is not None:  # "_": nothing was scraped at this step
                    points.append((start_ms + i * interval_ms, order, series.labels, value))
        points.sort(key=lambda p: (p[0], p[1]))
        self.points = points
        self.next = 0

    def feed_until(self, t_ms: int) -> None:
        while self.next < len(self.points) and self.points[self.next][0] <= t_ms:
            t, _, labels, value = self.points[self.next]
            self.storage.append(labels, t, STALE_NAN if is_stale(value) else value)
            self.next += 1


class _Recorder:
    """Writes recording-rule results back as the daemon does: keyed by rule, so a series
    a rule stopped producing is marked stale and rules never mark each other's output."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def record(self, rule_key: str, samples: list[tuple[Labels, float]], now: float) -> None:
        self.storage.append_batch(f"rule-test-record:{rule_key}", samples, round(now * 1000))


def _rule_errors(manager: RuleManager, now: float, offset_ms: int) -> list[str]:
    out: list[str] = []
    for group in manager.groups:
        for rule in group.rules:
            spec = rule.spec if isinstance(rule, AlertingRule) else rule
            health = group.health[spec.key]
            if health.health == "err" and health.last_eval == now:
                out.append(f"    rule: {spec.name}, time: {_dur(offset_ms)}, err: {health.last_error}")
    return out


def _firing(manager: RuleManager, alertname: str) -> list[AlertView] | None:
    """Firing alerts of every rule with this name (promtool takes the union), or None
    when no alerting rule has the name, so a misspelt alertname never passes silently."""
    rules = [r for r in manager.alerting_rules() if r.name == alertname]
    if not rules:
        return None
    return [
        (a.labels, dict(a.annotations))
        for r in rules
        for a in r.alerts.values()
        if a.state is AlertState.FIRING
    ]


def _check_alert_case(manager: RuleManager, case: AlertCase, header: list[str]) -> list[str]:
    got = _firing(manager, case.alertname)
    where = f"    alertname: {case.alertname}, time: {_dur(case.eval_time_s * 1000)},"
    if got is None:
        return ["\n".join([*header, where, "        err: no alerting rule with this name in rule_files"])]
    exp = [(e.labels, dict(e.annotations)) for e in case.expected]
    exp.sort(key=_alert_sort_key)
    got.sort(key=_alert_sort_key)
    if exp == got:
        return []
    lines = [*header, where, "        exp:" + _alerts_text(exp), "        got:" + _alerts_text(got)]
    lines += _alert_diff(exp, got)
    return ["\n".join(lines)]


def _alert_sort_key(alert: AlertView) -> tuple[Labels, list[tuple[str, str]]]:
    return alert[0], sorted(alert[1].items())


def _alerts_text(alerts: Sequence[AlertView]) -> str:
    if not alerts:
        return "[]"
    lines = ["["]
    for i, (labels, notes) in enumerate(alerts):
        lines += [f"            {i}:", f"              Labels:{_map_text(labels)}"]
        lines.append(f"              Annotations:{_map_text(notes.items())}")
    lines.append("            ]")
    return "\n".join(lines)


def _alert_diff(exp: Sequence[AlertView], got: Sequence[AlertView]) -> list[str]:
    """Say what differs, so nobody has to compare two long label lines by eye."""
    exp_by, got_by = dict(exp), dict(got)
    missing = [labels for labels in exp_by if labels not in got_by]
    extra = [labels for labels in got_by if labels not in exp_by]
    lines = ["        diff:"]
    if len(missing) == 1 and len(extra) == 1:
        lines.append("            labels: " + _pairs_diff(missing[0], extra[0]))
        lines += _notes_diff(exp_by[missing[0]], got_by[extra[0]])
    else:
        lines += [f"            missing (expected, not firing): {_map_text(labels)}" for labels in missing]
        lines += [f"            unexpected (firing, not expected): {_map_text(labels)}" for labels in extra]
    for labels in exp_by.keys() & got_by.keys():
        if exp_by[labels] != got_by[labels]:
            lines.append(f"            alert {_map_text(labels)}:")
            lines += _notes_diff(exp_by[labels], got_by[labels], " " * 14)
    return lines


def _pairs_diff(exp: Iterable[tuple[str, str]], got: Iterable[tuple[str, str]]) -> str:
    e, g = dict(exp), dict(got)
    parts = []
    for key in sorted(e.keys() | g.keys()):
        if e.get(key) != g.get(key):
            if key in e:
                parts.append(f"-{key}={_quote(e[key])}")
            if key in g:
                parts.append(f"+{key}={_quote(g[key])}")
    return " ".join(parts) or "(same)"


def _notes_diff(exp: Mapping[str, str], got: Mapping[str, str], indent: str = " " * 12) -> list[str]:
    lines = []
    for key in sorted(exp.keys() | got.keys()):
        if exp.get(key) != got.get(key):
            lines.append(f"{indent}annotation {key}:")
            lines.append(f"{indent}  exp: {_quote(exp[key]) if key in exp else '(absent)'}")
            lines.append(f"{indent}  got: {_quote(got[key]) if key in got else '(absent)'}")
    return lines


def _check_expr_case(
    engine: Engine, case: ExprCase, start_ms: int, fuzzy: bool, header: list[str]
) -> list[str]:
    where = f"    expr: {_quote(case.expr)}, time: {_dur(case.eval_time_s * 1000)},"
    try:
        got = engine_query(engine)(case.expr, (start_ms + round(case.eval_time_s * 1000)) / 1000)
    except (ExprError, ValueError, ArithmeticError) as exc:
        return ["\n".join([*header, f"{where} err: {exc}"])]
    exp = sorted(case.expected, key=lambda s: s[0])
    got = sorted(got, key=lambda s: s[0])
    if len(exp) == len(got) and all(
        el == gl and _same_value(ev, gv, fuzzy) for (el, ev), (gl, gv) in zip(exp, got, strict=True)
    ):
        return []
    lines = [*header, where, f"        exp: {_samples_text(exp)}", f"        got: {_samples_text(got)}"]
    return ["\n".join(lines)]


def _same_value(exp: float, got: float, fuzzy: bool) -> bool:
    if math.isnan(exp) or math.isnan(got):
        return math.isnan(exp) and math.isnan(got)
    if exp == got:
        return True
    # fuzzy_compare: forgive a difference in the last bit of the mantissa.
    return fuzzy and abs(exp - got) <= math.ulp(max(abs(exp), abs(got)))


def _samples_text(samples: list[tuple[Labels, float]]) -> str:
    if not samples:
        return "nil"
    return ", ".join(f"{_map_text(labels)} {_value_text(v)}" for labels, v in samples)


def _value_text(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)


def _map_text(pairs: Iterable[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{k}={_quote(v)}" for k, v in sorted(pairs)) + "}"


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _dur(ms: float) -> str:
    return format_duration(ms / 1000) if ms else "0s"


def format_file_result(result: FileResult) -> str:
    """promtool's report: ``Unit Testing: FILE`` then ``SUCCESS`` or ``FAILED:`` and
    each failure, separated by blank lines."""
    lines = [f"Unit Testing: {result.path}"]
    if result.ok:
        lines.append("  SUCCESS")
    else:
        lines.append("  FAILED:")
        for failure in result.failures:
            lines += [failure if failure.startswith("    ") else f"    {failure}", ""]
    return "\n".join(lines).rstrip("\n")
