"""Malformed test files are reported as `file:line: message`, every problem at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from triaged.rules.rule_test_format import RuleTestFileError, load_rule_test_file
from triaged.rules.rule_tests import format_file_result, run_rule_test_file

WriteFiles = Callable[..., Path]  # the `write_files` fixture (conftest.py)


def _errors(path: Path) -> list[str]:
    with pytest.raises(RuleTestFileError) as info:
        load_rule_test_file(path)
    return [str(e) for e in info.value.errors]


def test_every_problem_is_located(write_files: WriteFiles) -> None:
    path = write_files(
        """\
        rule_files: [alerts.yml]
        evaluation_interval: 1 minute
        tests:
          - interval: 1m
            input_series:
              - series: 'up{job="api"'
                values: '1 2'
              - series: 'up{job="db"}'
                values: '1+1x 2'
            alert_rule_test:
              - eval_time: 5m
                exp_alerts: []
              - eval_time: 5m
                alertname: InstanceDown
                exp_alert: []
            promql_expr_test:
              - expr: 'sum(up'
                eval_time: 1m
              - expr: up
                exp_samples:
                  - labels: 'up{job="api"}'
                    value: many
        """
    )
    assert _errors(path) == [
        f"{path}:2: evaluation_interval: invalid duration '1 minute' (use e.g. 30s, 5m, 1h30m: whole numbers, largest unit first)",
        f"{path}:6: invalid series descriptor 'up{{job=\"api\"'" + _suffix(_errors(path)[1]),
        f"{path}:9: series up{{job=\"db\"}}: invalid series value '1+1x'",
        f"{path}:11: alert test needs an 'alertname'",
        f"{path}:15: unknown alert_rule_test case field 'exp_alert'",
        _errors(path)[5],
        f"{path}:19: test case needs an 'eval_time'",
        f"{path}:22: sample needs a numeric 'value'",
    ]
    assert _errors(path)[5].startswith(f"{path}:17: invalid expression: ")


def _suffix(message: str) -> str:
    """The parser's own wording after the descriptor; only the location is ours."""
    return message.split("'up{job=\"api\"'", 1)[1]


def test_unknown_top_level_key_and_wrong_types(write_files: WriteFiles) -> None:
    path = write_files(
        """\
        rule_file: [alerts.yml]
        tests:
          - input_series: 'up 1 2 3'
            external_labels: [a, b]
        """
    )
    assert _errors(path) == [
        f"{path}:1: unknown test file field 'rule_file'",
        f"{path}:1: a test file needs 'rule_files'",
        f"{path}:3: 'input_series' must be a list",
        f"{path}:4: 'external_labels' must be a mapping of strings",
    ]


def test_invalid_yaml_and_native_histograms(write_files: WriteFiles) -> None:
    path = write_files("rule_files: [alerts.yml\ntests: []\n")
    [message] = _errors(path)
    assert message.startswith(f"{path}:2: invalid YAML: ")
    path = write_files(
        """\
        rule_files: [alerts.yml]
        tests:
          - input_series:
              - series: 'latency'
                values: '{{schema:0 sum:5 count:4 buckets:[1 2 1]}}'
        """
    )
    assert _errors(path) == [f"{path}:5: native histogram values are not supported; use classic buckets"]


def test_broken_rule_file_and_missing_rule_file_fail_the_run(write_files: WriteFiles) -> None:
    path = write_files(
        "rule_files: [alerts.yml, missing/*.yml]\ntests: []\n", "groups:\n  - name: g\n    rules: 5\n"
    )
    result = run_rule_test_file(path)
    rule_file = path.parent / "alerts.yml"
    assert result.failures == [
        f"{path}:1: rule_files: 'missing/*.yml' matches no file:"
        f" directory {path.parent / 'missing'} does not exist",
        f"{rule_file}:3: group 'g': 'rules' must be a list",
    ]
    text = format_file_result(result)
    assert text.splitlines()[:3] == [f"Unit Testing: {path}", "  FAILED:", f"    {result.failures[0]}"]


def test_group_eval_order_must_name_real_groups(write_files: WriteFiles) -> None:
    path = write_files("rule_files: [alerts.yml]\ngroup_eval_order: [availabilty]\ntests: []\n")
    assert run_rule_test_file(path).failures == [
        f"{path}: group_eval_order: no rule group named 'availabilty'"
    ]


def test_start_timestamp_shifts_series_and_time(write_files: WriteFiles) -> None:
    path = write_files(
        """\
        rule_files: [alerts.yml]
        tests:
          - start_timestamp: "2026-11-27T00:00:00Z"
            input_series:
              - series: 'up{job="api", instance="a:1"}'
                values: '1 1'
            promql_expr_test:
              - expr: time() - timestamp(up)
                eval_time: 1m30s
                exp_samples:
                  - labels: '{job="api", instance="a:1"}'
                    value: 30
              - expr: time()
                eval_time: 1m
                exp_samples:
                  - value: 1795737660
        """
    )
    result = run_rule_test_file(path)
    assert result.ok, result.failures
