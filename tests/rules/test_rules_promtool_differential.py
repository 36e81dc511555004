"""Rule files and rule unit tests judged as promtool judges them: regressions found by
differential testing of ``triaged rules check``/``rules test`` against ``promtool check
rules``/``promtool test rules`` of Prometheus 2.42.

Every ``promtool`` column below is what promtool 2.42 answered for the same file (it
is not needed to run these tests). Where triaged deliberately answers otherwise, the
case says why in ``note``: it follows newer Prometheus (which triaged implements), or
it is stricter where promtool lets a mistake pass silently, and says so in its message.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from triaged.rules.format import check_rule_file
from triaged.rules.rule_tests import run_rule_test_file


@dataclass(frozen=True)
class RuleFileCase:
    id: str
    text: str
    promtool_ok: bool  # promtool 2.42 check rules: SUCCESS (exit 0)?
    message: str = ""  # part of triaged's error when it refuses the file
    triaged_ok: bool | None = None  # None: the same verdict as promtool
    note: str = ""  # why triaged answers otherwise

    @property
    def ok(self) -> bool:
        return self.promtool_ok if self.triaged_ok is None else self.triaged_ok


def _rule(body: str, kind: str = "alert: A") -> str:
    """A one-rule file; ``body`` holds the rule's other fields, one per line."""
    fields = "".join(f"        {line}\n" for line in body.splitlines())
    return f"groups:\n  - name: g\n    rules:\n      - {kind}\n{fields}"


_REC = "record: job:up:sum"

RULE_FILES = [
    # -- what promtool accepts ---------------------------------------------------------
    RuleFileCase("empty file", "", True),
    RuleFileCase("groups: null", "groups: null\n", True),
    RuleFileCase("a bare - in groups", "groups:\n  -\n", True),
    RuleFileCase("a bare - in rules", "groups:\n  - name: g\n    rules:\n      -\n", True),
    RuleFileCase("durations", _rule("expr: up == 0\nfor: 1h30m\nkeep_firing_for: 1w"), True),
    RuleFileCase("duration 0, 90s, 1d, 1y, 5ms", _rule("expr: up\nfor: 0\nkeep_firing_for: 90s"), True),
    RuleFileCase("for: 1y", _rule("expr: up\nfor: 1y"), True),
    RuleFileCase("for: 5ms", _rule("expr: up\nfor: 5ms"), True),
    RuleFileCase("for: 1d2h3m4s5ms", _rule("expr: up\nfor: 1d2h3m4s5ms"), True),
    RuleFileCase("keep_firing_for: null", _rule("expr: up\nkeep_firing_for:"), True),
    RuleFileCase("record for: 0s", _rule("expr: up\nfor: 0s", _REC), True),
    RuleFileCase("record keep_firing_for: 0", _rule("expr: up\nkeep_firing_for: 0", _REC), True),
    RuleFileCase("record annotations: {}", _rule("expr: up\nannotations: {}", _REC), True),
    # A recording rule's labels are never expanded: no template to parse.
    RuleFileCase("record label {{", _rule("expr: up\nlabels: {x: '{{ .Foo'}", _REC), True),
    RuleFileCase("record label severity: bogus", _rule("expr: up\nlabels: {severity: bogus}", _REC), True),
    RuleFileCase("limit: 1000.0", "groups:\n  - name: g\n    limit: 1000.0\n    rules: []\n", True),
    RuleFileCase("record name with colons", _rule("expr: up", "record: a:b:c"), True),
    RuleFileCase("alert name any text", _rule("expr: up", "alert: 5xx errors-high"), True),
    RuleFileCase("expr given as a number", _rule("expr: 1", _REC), True),
    RuleFileCase(
        "duplicate rule (a lint, not an error)",
        _rule("expr: up\n") + "      - alert: A\n        expr: up\n",
        True,
    ),
    RuleFileCase(
        "yaml anchor",
        "x: &l {severity: P1}\ngroups: []\n",
        False,
        "unknown top-level field 'x'",
    ),
    RuleFileCase(
        "anchor inside the groups",
        _rule("expr: up\nlabels: &l {severity: P1}")
        + "      - alert: B\n        expr: up\n        labels: *l\n",
        True,
    ),
    # -- what promtool refuses ---------------------------------------------------------
    RuleFileCase("for: 1.5m", _rule("expr: up\nfor: 1.5m"), False, "invalid duration '1.5m'"),
    RuleFileCase("for: 30m1h", _rule("expr: up\nfor: 30m1h"), False, "invalid duration '30m1h'"),
    RuleFileCase("for: 1m1m", _rule("expr: up\nfor: 1m1m"), False, "invalid duration '1m1m'"),
    RuleFileCase("for: -1m", _rule("expr: up\nfor: -1m"), False, "invalid duration '-1m'"),
    RuleFileCase("for: 5", _rule("expr: up\nfor: 5"), False, "give a unit"),
    RuleFileCase("for: ''", _rule("expr: up\nfor: ''"), False, "invalid duration ''"),
    RuleFileCase("for: 1ns", _rule("expr: up\nfor: 1ns"), False, "invalid duration '1ns'"),
    # promtool: "duration out of range" (past int64 nanoseconds, about 292 years).
    RuleFileCase("for: 293y", _rule("expr: up\nfor: 293y"), False, "invalid duration '293y'"),
    RuleFileCase(
        "for: 9999999999999999999y", _rule("expr: up\nfor: 9999999999999999999y"), False, "invalid duration"
    ),
    RuleFileCase(
        "interval: 1Y",
        "groups:\n  - name: g\n    interval: 1Y\n    rules: []\n",
        False,
        "invalid duration '1Y'",
    ),
    RuleFileCase(
        "record with for",
        _rule("expr: up\nfor: 5m", _REC),
        False,
        "invalid field 'for' in recording rule",
    ),
    RuleFileCase(
        "record with keep_firing_for",
        _rule("expr: up\nkeep_firing_for: 1m", _REC),
        False,
        "invalid field 'keep_firing_for' in recording rule",
    ),
    RuleFileCase(
        "record with annotations",
        _rule("expr: up\nannotations: {a: b}", _REC),
        False,
        "invalid field 'annotations' in recording rule",
    ),
    RuleFileCase("record name a-b", _rule("expr: up", "record: a-b"), False, "invalid metric name 'a-b'"),
    RuleFileCase("label name a-b", _rule("expr: up\nlabels: {a-b: x}"), False, "invalid label name 'a-b'"),
    RuleFileCase(
        "annotation name 0abc",
        _rule("expr: up\nannotations: {0abc: x}"),
        False,
        "invalid annotation name '0abc'",
    ),
    RuleFileCase(
        "label __name__", _rule("expr: up\nlabels: {__name__: x}"), False, "invalid label name '__name__'"
    ),
    RuleFileCase(
        "alert template that fails to parse",
        _rule("expr: up\nannotations: {a: '{{ $x }}'}"),
        False,
        'undefined variable "$x"',
    ),
    RuleFileCase(
        "alert label {{ if }}", _rule("expr: up\nlabels: {a: '{{ if }}'}"), False, "missing value for if"
    ),
    RuleFileCase("expr that fails to parse", _rule("expr: 'sum('"), False, "invalid expression"),
    RuleFileCase("no expr", _rule("for: 1m"), False, "needs an 'expr'"),
    RuleFileCase("unknown rule field", _rule("expr: up\nsummary: x"), False, "unknown rule field 'summary'"),
    RuleFileCase("group without a name", "groups:\n  - rules: []\n", False, "group needs a 'name'"),
    RuleFileCase(
        "duplicate group names",
        "groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n",
        False,
        "duplicate group name 'g'",
    ),
    RuleFileCase("tab indentation", "groups:\n\t- name: g\n", False, "invalid YAML"),
    RuleFileCase("limit: abc", "groups:\n  - name: g\n    limit: abc\n    rules: []\n", False, "limit"),
    # -- where triaged deliberately answers otherwise ----------------------------------
    RuleFileCase(
        "two YAML documents",
        _rule("expr: up") + "---\ngroups: []\n",
        True,
        "Prometheus ignores every rule after this '---'",
        triaged_ok=False,
        note="Prometheus reads only the first document: rules after '---' would silently never run",
    ),
    RuleFileCase(
        "group query_offset",
        "groups:\n  - name: g\n    query_offset: 1m\n    rules: []\n",
        False,
        triaged_ok=True,
        note="newer Prometheus (2.53+) field, which triaged implements",
    ),
    RuleFileCase(
        "holt_winters",
        _rule("expr: holt_winters(up[5m], 0.5, 0.5)"),
        True,
        "unknown function with name 'holt_winters'",
        triaged_ok=False,
        note="Prometheus 3 renamed it double_exponential_smoothing; triaged follows Prometheus 3",
    ),
    RuleFileCase(
        "unknown severity",
        _rule("expr: up\nlabels: {severity: bogus}"),
        True,
        "unknown severity 'bogus'",
        triaged_ok=False,
        note="an alert's severity decides how an incident pages; a typo must not page as P3",
    ),
    RuleFileCase(
        "record: null",
        _rule("expr: up", "record: null"),
        True,
        "('record' is empty)",
        triaged_ok=False,
        note="promtool 2.42 records a series named 'null' from the YAML null's text",
    ),
    RuleFileCase(
        "limit: 1.5",
        "groups:\n  - name: g\n    limit: 1.5\n    rules: []\n",
        True,
        "limit: expected an integer",
        triaged_ok=False,
        note="Go truncates it to 1; a fraction of an alert is a slip",
    ),
]


@pytest.mark.parametrize("case", RULE_FILES, ids=lambda c: c.id)
def test_rule_file_verdict(tmp_path: Path, case: RuleFileCase) -> None:
    path = tmp_path / "r.yml"
    path.write_text(case.text)
    _, errors = check_rule_file(path)
    messages = [e.message for e in errors]
    if case.ok:
        assert messages == []
    else:
        assert any(case.message in m for m in messages), messages


# -- unit test files ------------------------------------------------------------------

RULES = """\
groups:
  - name: g1
    rules:
      - alert: Up0
        expr: x > 0
        labels: {severity: P1}
        annotations: {v: '{{ $value }}', l: '{{ $labels.inst }}'}
      - alert: For2
        expr: x > 1
        for: 2m
        labels: {severity: P2}
      - alert: Ext
        expr: x > 0
        labels: {severity: P3}
        annotations: {e: '{{ $externalLabels.env }} {{ $externalURL }}'}
      - alert: Dup
        expr: x > 1
        labels: {k: a}
      - alert: Dup
        expr: x > 2
        labels: {k: b}
  - name: keep
    rules:
      - alert: K
        expr: y > 1
        keep_firing_for: 3m
"""


@dataclass(frozen=True)
class RuleTestCase:
    id: str
    body: str  # one test group's checks (and input_series when it has its own)
    promtool_passed: bool
    message: str = ""  # part of triaged's failure text
    triaged_passed: bool | None = None
    note: str = ""
    head: str = ""  # extra top-level keys
    series: str = "0 1 2 3 4 5 6 7 8 9 10"  # x{inst="a"}, one sample a minute

    @property
    def passed(self) -> bool:
        return self.promtool_passed if self.triaged_passed is None else self.triaged_passed


def _samples(expr: str, at: str, samples: str) -> str:
    return f"promql_expr_test:\n  - expr: '{expr}'\n    eval_time: {at}\n    exp_samples: {samples}\n"


def _alerts(name: str, at: str, alerts: str) -> str:
    return f"alert_rule_test:\n  - eval_time: {at}\n    alertname: {name}\n    exp_alerts: {alerts}\n"


# What Up0 fires with at 2m (x is 2 then).
_UP0_AT_2M = "{exp_labels: {inst: a, severity: P1}, exp_annotations: {v: '2', l: a}}"

TEST_FILES = [
    # -- series notation -----------------------------------------------------------------
    RuleTestCase(
        "0x5 is 0 six times",
        _samples("count_over_time(x[1h])", "30m", "[{labels: '{inst=\"a\"}', value: 6}]"),
        True,
        series="0x5",
    ),
    RuleTestCase(
        "negative step -1-1x3",
        _samples("x", "3m", "[{labels: 'x{inst=\"a\"}', value: -4}]"),
        True,
        series="-1-1x3",
    ),
    RuleTestCase(
        "gap _x3", _samples("x", "2m", "[{labels: 'x{inst=\"a\"}', value: 1}]"), True, series="1 _x3 5"
    ),
    RuleTestCase("stale ends the series", _samples("x", "1m", "[]"), True, series="1 stale"),
    RuleTestCase(
        "1x3 _x2 then a value",
        _samples("count_over_time(x[1h])", "30m", "[{labels: '{inst=\"a\"}', value: 5}]"),
        True,
        series="1x3 _x2 7",
    ),
    RuleTestCase(
        "exponent floats",
        _samples("x", "1m", "[{labels: 'x{inst=\"a\"}', value: 0.515}]"),
        True,
        series="1.5e-2+0.5x2",
    ),
    RuleTestCase(
        "Inf value", _samples("x", "0m", "[{labels: 'x{inst=\"a\"}', value: .inf}]"), True, series="Inf"
    ),
    RuleTestCase(
        "hex is no series value",
        _samples("x", "0m", "[]"),
        False,
        "invalid series value '0x1A'",
        series="0x1A",
    ),
    RuleTestCase(
        "Inf cannot repeat", _samples("x", "0m", "[]"), False, "invalid series value 'Infx3'", series="Infx3"
    ),
    RuleTestCase(
        "Inf cannot step",
        _samples("x", "0m", "[]"),
        False,
        "invalid series value '1+Infx2'",
        series="1+Infx2",
    ),
    RuleTestCase("number out of range", _samples("x", "0m", "[]"), False, "out of range", series="1e400"),
    RuleTestCase(
        "1+ is incomplete", _samples("x", "0m", "[]"), False, "invalid series value '1+'", series="1+"
    ),
    RuleTestCase(
        "a negative repetition",
        _samples("x", "0m", "[]"),
        False,
        "invalid series value '1+2x-3'",
        series="1+2x-3",
    ),
    # -- expected sample values ----------------------------------------------------------
    RuleTestCase(
        "value: Inf is a YAML string",
        _samples("x", "0m", "[{labels: 'x{inst=\"a\"}', value: Inf}]"),
        False,
        "write .inf",
        series="Inf",
    ),
    RuleTestCase(
        "value: 1e3 is a number",
        _samples("x", "0m", "[{labels: 'x{inst=\"a\"}', value: 1e3}]"),
        True,
        series="1000",
    ),
    RuleTestCase(
        "exact float compare",
        _samples("x * 0.1", "3m", "[{labels: '{inst=\"a\"}', value: 0.3}]"),
        False,
        "0.30000000000000004",
    ),
    RuleTestCase(
        "shortest float text",
        _samples("x / 3", "1m", "[{labels: '{inst=\"a\"}', value: 0.3333333333333333}]"),
        True,
    ),
    RuleTestCase("scalar result, no labels", _samples("1", "1m", "[{value: 1}]"), True),
    RuleTestCase(
        "labels must match whole",
        _samples("x", "1m", "[{labels: 'x', value: 1}]"),
        False,
        'got: {__name__="x", inst="a"} 1',
    ),
    RuleTestCase(
        "sample order does not matter",
        "input_series:\n  - series: 'y{a=\"2\"}'\n    values: '1'\n  - series: 'y{a=\"1\"}'\n    values: '2'\n"
        + _samples("y", "0m", "[{labels: 'y{a=\"2\"}', value: 1}, {labels: 'y{a=\"1\"}', value: 2}]"),
        True,
    ),
    # -- alerts ------------------------------------------------------------------------
    RuleTestCase("firing with annotations", _alerts("Up0", "2m", f"[{_UP0_AT_2M}]"), True),
    RuleTestCase("eval between steps uses the step before", _alerts("Up0", "2m59s", f"[{_UP0_AT_2M}]"), True),
    RuleTestCase(
        "annotations are compared too",
        _alerts("Up0", "2m", "[{exp_labels: {inst: a, severity: P1}}]"),
        False,
        "annotation l:",
    ),
    RuleTestCase(
        "alertname in exp_labels is overridden",
        _alerts(
            "Up0",
            "2m",
            "[{exp_labels: {alertname: Other, inst: a, severity: P1}, exp_annotations: {v: '2', l: a}}]",
        ),
        True,
    ),
    RuleTestCase("pending is not firing", _alerts("For2", "2m", "[]"), True),
    RuleTestCase(
        "for elapses exactly at the eval time",
        _alerts("For2", "4m", "[{exp_labels: {inst: a, severity: P2}}]"),
        True,
    ),
    RuleTestCase(
        "one second before for elapses",
        _alerts("For2", "3m59s", "[{exp_labels: {inst: a, severity: P2}}]"),
        False,
        "got:[]",
    ),
    RuleTestCase(
        "one alertname, two rules: the union, in any order",
        _alerts("Dup", "3m", "[{exp_labels: {k: b, inst: a}}, {exp_labels: {k: a, inst: a}}]"),
        True,
    ),
    RuleTestCase(
        "an expected alert listed twice",
        _alerts("Up0", "2m", f"[{_UP0_AT_2M}, {_UP0_AT_2M}]"),
        False,
        "alertname: Up0, time: 2m",
    ),
    RuleTestCase(
        "keep_firing_for holds the alert",
        "input_series:\n  - series: 'y'\n    values: '5 5 0 0 0 0 0'\n"
        + _alerts("K", "3m", "[{exp_labels: {}}]")
        + "  - eval_time: 5m\n    alertname: K\n    exp_alerts: []\n",
        True,
    ),
    RuleTestCase(
        "external labels and url",
        "external_labels: {env: prod}\nexternal_url: http://prom\n"
        + _alerts(
            "Ext", "0m", "[{exp_labels: {inst: a, severity: P3}, exp_annotations: {e: prod http://prom}}]"
        ),
        True,
        series="1",
    ),
    RuleTestCase(
        "group_eval_order",
        _alerts("Up0", "1m", "[{exp_labels: {inst: a, severity: P1}, exp_annotations: {v: '1', l: a}}]"),
        True,
        head="group_eval_order: [keep, g1]\n",
    ),
    RuleTestCase(
        "alertname missing",
        "alert_rule_test:\n  - eval_time: 2m\n    exp_alerts: []\n",
        False,
        "needs an 'alertname'",
    ),
    RuleTestCase(
        "unknown key",
        _alerts("Up0", "2m", "[]").replace("    alertname", "    exp_alert: []\n    alertname"),
        False,
        "unknown alert_rule_test case field 'exp_alert'",
    ),
    RuleTestCase(
        "repeated group in group_eval_order",
        _alerts("Up0", "0m", "[]"),
        False,
        "lists a group twice",
        head="group_eval_order: [g1, g1]\n",
    ),
    RuleTestCase(
        "a rule file that does not parse",
        _alerts("Up0", "0m", "[]"),
        False,
        "invalid expression",
        head="BROKEN",
    ),
    # -- where triaged deliberately answers otherwise ------------------------------------
    RuleTestCase(
        "NaN expected, NaN got",
        _samples("x / 0", "0m", "[{labels: '{inst=\"a\"}', value: .nan}]"),
        False,
        triaged_passed=True,
        note="2.42 compares with reflect.DeepEqual, so no NaN expectation can ever pass",
        series="0",
    ),
    RuleTestCase(
        "unknown alertname, nothing expected",
        _alerts("UpO", "2m", "[]"),
        True,
        "no alerting rule with this name",
        triaged_passed=False,
        note="a misspelt alertname would pass silently whatever the rules do",
    ),
    RuleTestCase(
        "group without an interval",
        _samples("x", "2m", "[{labels: 'x{inst=\"a\"}', value: 2}]").replace(
            "promql", "interval: null\npromql"
        ),
        False,
        triaged_passed=True,
        note="2.42 loads every sample at t=0; the documented default (newer promtool) is evaluation_interval",
    ),
    RuleTestCase(
        "fuzzy_compare",
        _samples("x * 0.1", "3m", "[{labels: '{inst=\"a\"}', value: 0.30000000000000004}]"),
        False,
        triaged_passed=True,
        note="a newer promtool field (2.42: field not found), which triaged implements",
        head="fuzzy_compare: true\n",
    ),
    RuleTestCase(
        "UTF-8 metric name in quotes",
        "input_series:\n  - series: '{\"y.z\", a=\"1\"}'\n    values: '1'\n"
        + _samples('{__name__="y.z"}', "0m", '[{labels: \'{__name__="y.z", a="1"}\', value: 1}]'),
        False,
        triaged_passed=True,
        note="Prometheus 3 syntax (2.42: parse error), which triaged's PromQL follows",
    ),
    RuleTestCase(
        "evaluation_interval: 0s",
        _alerts("Up0", "0m", "[]"),
        True,
        "evaluation_interval must be positive",
        triaged_passed=False,
        note="2.42 silently uses 1m",
        head="evaluation_interval: 0s\n",
    ),
    RuleTestCase(
        "eval_time missing",
        "alert_rule_test:\n  - alertname: Up0\n    exp_alerts: []\n",
        True,
        "needs an 'eval_time'",
        triaged_passed=False,
        note="2.42 checks at 0s; a forgotten eval_time is more likely than a meant 0s",
    ),
    RuleTestCase(
        "a rule file that does not exist",
        _alerts("Up0", "2m", f"[{_UP0_AT_2M}]"),
        True,
        "nope.yml",
        triaged_passed=False,
        note="2.42 only warns (no file match pattern) and tests the other files",
        head="MISSING",
    ),
    RuleTestCase(
        "group_eval_order names no group",
        _alerts("Up0", "0m", "[]"),
        True,
        "no rule group named 'nope'",
        triaged_passed=False,
        note="2.42 ignores it: a misspelt group would silently not be ordered",
        head="group_eval_order: [nope]\n",
    ),
]


def _test_file(case: RuleTestCase) -> str:
    files = "[rules.yml, nope.yml]" if case.head == "MISSING" else "[rules.yml]"
    head = case.head if case.head not in ("BROKEN", "MISSING") else ""
    interval = "" if "interval: null" in case.body else "    interval: 1m\n"
    body = case.body.replace("interval: null\n", "")
    series = (
        ""
        if body.startswith("input_series")
        else (f"input_series:\n  - series: 'x{{inst=\"a\"}}'\n    values: '{case.series}'\n")
    )
    group = textwrap.indent(series + body, "    ")
    return f"rule_files: {files}\n{head}tests:\n  - name: tg\n{interval}{group}"


@pytest.mark.parametrize("case", TEST_FILES, ids=lambda c: c.id)
def test_rule_test_outcome(tmp_path: Path, case: RuleTestCase) -> None:
    rules = RULES if case.head != "BROKEN" else RULES + "      - alert: Bad\n        expr: 'sum('\n"
    (tmp_path / "rules.yml").write_text(rules)
    path = tmp_path / "t.test.yml"
    path.write_text(_test_file(case))
    result = run_rule_test_file(path)
    assert result.ok == case.passed, "\n".join(result.failures)
    assert case.message in "\n".join(result.failures)
