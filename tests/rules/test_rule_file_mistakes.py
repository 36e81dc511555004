"""Rule files and rule tests as an SRE gets them wrong: durations without a unit are
refused as Prometheus and promtool refuse them, every problem comes in one run, and a
file given to the wrong command says which command it needs."""

from __future__ import annotations

import textwrap
from pathlib import Path

from click.testing import CliRunner

from triaged.cli import cli


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


RULES = """\
groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 1m
        labels: {severity: P0}
"""


# -- 1. durations without a unit ---------------------------------------------------------
def test_rules_check_refuses_a_bare_number_as_a_duration(tmp_path: Path) -> None:
    rules = write(
        tmp_path / "a.rules.yml",
        """\
        groups:
          - name: g
            interval: 30
            query_offset: 10
            rules:
              - alert: Down
                expr: up == 0
                for: 5
                keep_firing_for: 2
                labels: {severity: P0}
        """,
    )
    code, out = run("rules", "check", str(rules))
    assert code == 1
    assert out.splitlines() == [
        f"{rules}:3: interval: 30 is not a valid duration: give a unit, e.g. 30s or 30m",
        f"{rules}:4: query_offset: 10 is not a valid duration: give a unit, e.g. 10s or 10m",
        f"{rules}:8: for: 5 is not a valid duration: give a unit, e.g. 5s or 5m",
        f"{rules}:9: keep_firing_for: 2 is not a valid duration: give a unit, e.g. 2s or 2m",
    ]


def test_zero_needs_no_unit_as_in_prometheus(tmp_path: Path) -> None:
    rules = write(tmp_path / "a.rules.yml", RULES.replace("for: 1m", "for: 0\n        keep_firing_for: '0'"))
    code, out = run("rules", "check", str(rules))
    assert code == 0, out


def test_rules_test_refuses_a_bare_number_as_a_duration(tmp_path: Path) -> None:
    write(tmp_path / "a.rules.yml", RULES)
    test = write(
        tmp_path / "a.test.yml",
        """\
        rule_files: [a.rules.yml]
        evaluation_interval: 60
        tests:
          - interval: 60
            input_series:
              - series: 'up{job="x"}'
                values: '0x5'
            alert_rule_test:
              - eval_time: 4
                alertname: Down
                exp_alerts: []
            promql_expr_test:
              - expr: up
                eval_time: 0
                exp_samples: [{labels: 'up{job="x"}', value: 0}]
        """,
    )
    code, out = run("rules", "test", str(test))
    assert code == 1
    assert "SUCCESS" not in out
    for line, key, n in ((2, "evaluation_interval", 60), (4, "interval", 60), (9, "eval_time", 4)):
        assert (
            f"    {test}:{line}: {key}: {n} is not a valid duration: give a unit, e.g. {n}s or {n}m\n" in out
        )
    assert ":14:" not in out  # eval_time: 0 is fine


# -- 2. every problem in one run ---------------------------------------------------------
def test_rules_test_reports_test_file_and_rule_file_problems_together(tmp_path: Path) -> None:
    write(tmp_path / "broken.rules.yml", RULES.replace("up == 0", "up == (").replace("1m", "5"))
    test = write(
        tmp_path / "a.test.yml",
        """\
        rule_files: [broken.rules.yml, missing.rules.yml]
        tests:
          - input_series:
              - series: 'up{job="x"'
                values: '1 1 zz'
            alert_rule_test:
              - eval_time: 1m
                exp_alerts: []
            promql_expr_test:
              - expr: 'up =='
                eval_time: 1m
                exp_samples:
                  - labels: '{}'
                    value: zero
        """,
    )
    code, out = run("rules", "test", str(test))
    assert code == 1
    problems = [line.strip() for line in out.splitlines() if line.startswith("    ")]
    rules = tmp_path / "broken.rules.yml"
    assert problems[0] == f"{test}:1: rule_files: 'missing.rules.yml' matches no file"
    assert problems[1].startswith(f"{test}:4: invalid series descriptor")
    assert problems[2] == f"{test}:5: series up{{job=\"x\": invalid series value 'zz'"
    assert problems[3] == f"{test}:7: alert test needs an 'alertname'"
    assert problems[4].startswith(f"{test}:10: invalid expression:")
    assert problems[5] == f"{test}:14: sample needs a numeric 'value'"
    assert problems[6].startswith(f"{rules}:5: rule 'Down': invalid expression")
    assert problems[7] == f"{rules}:6: for: 5 is not a valid duration: give a unit, e.g. 5s or 5m"
    assert len(problems) == 8


def test_rules_check_warns_about_a_file_that_also_has_errors(tmp_path: Path) -> None:
    rules = write(
        tmp_path / "a.rules.yml",
        """\
        groups:
          - name: g
            rules:
              - alert: NoSeverity
                expr: up == 0
              - alert: Broken
                expr: up ==
        """,
    )
    code, out = run("rules", "check", str(rules))
    assert code == 1
    assert f"{rules}:7: rule 'Broken': invalid expression" in out
    assert f"{rules}:4: warning: alert 'NoSeverity' has no 'severity' label" in out
    assert f"{rules}:6: warning: alert 'Broken' has no 'severity' label" in out
    assert ": ok (" not in out


def test_a_rule_file_given_to_rules_test_says_to_use_rules_check(tmp_path: Path) -> None:
    rules = write(tmp_path / "a.rules.yml", RULES)
    code, out = run("rules", "test", str(rules))
    assert code == 1
    assert out.splitlines()[1:3] == [
        "  FAILED:",
        f"    {rules}:1: this is a rule file: use triaged rules check",
    ]
    assert "unknown test file field" not in out and "needs 'rule_files'" not in out


def test_a_test_file_given_to_rules_check_says_to_use_rules_test(tmp_path: Path) -> None:
    write(tmp_path / "a.rules.yml", RULES)
    test = write(tmp_path / "a.test.yml", "rule_files: [a.rules.yml]\ntests: []\n")
    code, out = run("rules", "check", str(test))
    assert (code, out.strip()) == (1, f"{test}:1: this is a rule test file: use triaged rules test")


def test_rules_check_warns_of_a_duplicate_rule_as_promtool_lints(tmp_path: Path) -> None:
    """Same name and labels twice (a copy-paste slip): a warning, exit 0. A warning and
    a critical variant of one alert differ in labels and are not duplicates."""
    rules = write(
        tmp_path / "a.rules.yml",
        """\
        groups:
          - name: g
            rules:
              - {alert: Down, expr: up == 0, labels: {severity: P1}}
              - {alert: Down, expr: up == 0, for: 5m, labels: {severity: P0}}
          - name: h
            rules:
              - {alert: Down, expr: up < 1, labels: {severity: P1}}
        """,
    )
    code, out = run("rules", "check", str(rules))
    assert code == 0, out
    assert [line for line in out.splitlines() if "duplicate" in line] == [
        f"{rules}:8: warning: duplicate rule 'Down': its name and labels are those of line 4"
    ]
