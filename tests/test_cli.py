"""The command line as an SRE uses it: check before deploy, read incidents after."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from triaged.cli import cli

REPO = Path(__file__).resolve().parents[1]


def test_check_accepts_the_example_config() -> None:
    result = CliRunner().invoke(cli, ["check", "--config", str(REPO / "config" / "triaged.example.yaml")])
    assert result.exit_code == 0, result.output
    assert "ok (1 targets, 2 probes" in result.output


def test_check_reports_broken_rule_files_as_file_line_and_exits_1(tmp_path: Path) -> None:
    rules = tmp_path / "bad.rules.yml"
    rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(x[5m]\n")
    cfg = tmp_path / "triaged.yaml"
    cfg.write_text("rule_files: ['*.rules.yml']\n")
    result = CliRunner().invoke(cli, ["check", "--config", str(cfg)])
    assert result.exit_code == 1
    assert f"{rules}:5: rule 'A': invalid expression" in result.output


def test_check_reports_a_glob_matching_nothing(tmp_path: Path) -> None:
    cfg = tmp_path / "triaged.yaml"
    cfg.write_text("rule_files: ['rules/*.yml']\n")
    result = CliRunner().invoke(cli, ["check", "--config", str(cfg)])
    assert result.exit_code == 1
    assert "matches no file" in result.output


def test_check_reports_config_errors_with_line(tmp_path: Path) -> None:
    cfg = tmp_path / "triaged.yaml"
    cfg.write_text("targets:\n  - job: x\n")
    result = CliRunner().invoke(cli, ["check", "--config", str(cfg)])
    assert result.exit_code == 1
    assert f"{cfg}:2: missing required key 'url'" in result.output


def test_incidents_list_on_a_missing_db_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["incidents", "list", "--db", str(tmp_path / "nope.db")])
    assert result.exit_code == 1
    assert "no such database" in result.output


def test_rules_check_on_shipped_rules() -> None:
    result = CliRunner().invoke(cli, ["rules", "check", str(REPO / "rules" / "bharatmart.rules.yml")])
    assert result.exit_code == 0, result.output


def test_every_command_has_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "triaged", "--help"], capture_output=True, text=True, check=True
    )
    assert "triaged demo" in out.stdout
    for name in ("run", "check", "demo", "simulate", "incidents", "rules"):
        sub = subprocess.run(
            [sys.executable, "-m", "triaged", name, "--help"], capture_output=True, text=True
        )
        assert sub.returncode == 0 and len(sub.stdout) > 80, name
