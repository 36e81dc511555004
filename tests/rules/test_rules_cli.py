"""`triaged rules test|check` from the command line: output and exit codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from triaged.cli import cli

REPO = Path(__file__).resolve().parents[2]
WriteFiles = Callable[..., Path]  # the `write_files` fixture (conftest.py)

OK = """\
rule_files: [alerts.yml]
tests:
  - input_series:
      - series: 'up{job="api", instance="a:1"}'
        values: '0x6'
    alert_rule_test:
      - eval_time: 4m
        alertname: InstanceDown
        exp_alerts: []
"""


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_passing_file_exits_0(write_files: WriteFiles) -> None:
    path = write_files(OK)
    code, out = _invoke("rules", "test", str(path))
    assert (code, out.splitlines()) == (0, [f"Unit Testing: {path}", "  SUCCESS", ""])


def test_any_failing_file_exits_1_and_the_others_still_run(write_files: WriteFiles, tmp_path: Path) -> None:
    good = write_files(OK)
    bad = tmp_path / "bad.test.yml"
    bad.write_text(OK.replace("eval_time: 4m", "eval_time: 6m"))
    code, out = _invoke("rules", "test", str(bad), str(good))
    assert code == 1
    assert f"Unit Testing: {bad}\n  FAILED:\n    alertname: InstanceDown, time: 6m,\n" in out
    assert f"Unit Testing: {good}\n  SUCCESS" in out


def test_malformed_test_file_exits_1_with_file_and_line(write_files: WriteFiles) -> None:
    path = write_files(OK.replace("eval_time: 4m", "eval_time: soon"))
    code, out = _invoke("rules", "test", str(path))
    assert code == 1
    assert (
        f"  FAILED:\n    {path}:7: eval_time: invalid duration 'soon' (use e.g. 30s, 5m, 1h30m: whole numbers, largest unit first)\n"
        in out
    )


def test_bad_run_regex_is_a_usage_error(write_files: WriteFiles) -> None:
    code, out = _invoke("rules", "test", "--run", "(", str(write_files(OK)))
    assert code == 2
    assert "invalid regex" in out


def test_shipped_rules_pass_check_and_test() -> None:
    code, out = _invoke("rules", "check", str(REPO / "rules" / "bharatmart.rules.yml"))
    assert code == 0, out
    code, out = _invoke("rules", "test", str(REPO / "rules" / "bharatmart.rules.test.yml"))
    assert code == 0, out
    assert "  SUCCESS" in out
