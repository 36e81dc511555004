"""Mistakes `triaged check` used to accept: a log level that is no level, a timeout
longer than its interval, two targets that would write the same series, a label name
Prometheus refuses, a `${VAR}` that silently empties a path, and a PromQL syntax error
that did not show what it was about."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from triaged.app import build_sources
from triaged.cli import cli
from triaged.config import load_config
from triaged.sources.scrape import Scraper

RULES = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        labels: {severity: P1}\n"
BASE = "storage: {db: ./t.db}\nrule_files: [a.rules.yml]\nnotifiers: [{name: log, type: log}]\n"


def write_config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "a.rules.yml").write_text(RULES)
    config = tmp_path / "triaged.yaml"
    config.write_text(BASE + text)
    return config


def check(config: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["check", "--config", str(config)])
    return result.exit_code, result.output.splitlines()


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "log: {level: loud}\n",
            4,
            "log.level 'loud' is not a level: use debug, info, warning, error, critical",
        ),
        ("scrape: {interval: 5s, timeout: 30s}\n", 4, "timeout 30s is longer than the interval 5s"),
        (
            "probes:\n  - {job: health, url: 'http://127.0.0.1:1/h', interval: 2s, timeout: 3s}\n",
            5,
            "timeout 3s is longer than the interval 2s",
        ),
        (
            "targets:\n  - {job: a, url: 'http://127.0.0.1:1/m'}\n  - {job: a, url: 'http://127.0.0.1:1/m'}\n",
            6,
            "targets[1] has the same job 'a', instance '127.0.0.1:1' as targets[0] (line 5): both would"
            " write the same series; remove one or give one another label",
        ),
        (  # another path on the same host:port is the same instance, as in Prometheus
            "targets:\n  - job: a\n    url: http://127.0.0.1:1/m\n  - job: a\n    url: http://127.0.0.1:1/other\n",
            7,
            "targets[1] has the same job 'a', instance '127.0.0.1:1' as targets[0] (line 5)",
        ),
        (
            "probes:\n  - {job: h, url: 'http://127.0.0.1:1/h'}\n  - {job: h, url: 'http://127.0.0.1:1/h'}\n",
            6,
            "probes[1] has the same job 'h', instance 'http://127.0.0.1:1/h' as probes[0] (line 5)",
        ),
        (
            "targets:\n  - job: a\n    url: http://127.0.0.1:1/m\n    labels:\n      bad-name: x\n",
            8,
            "labels: 'bad-name' is not a valid label name (letters, digits and _, not starting with a digit)",
        ),
        (
            "targets:\n  - job: a\n    url: http://127.0.0.1:1/m\n    labels:\n      __name__: x\n",
            8,
            "labels: '__name__': label names starting with __ are reserved for internal use",
        ),
        (
            "probes:\n  - {job: h, url: 'http://127.0.0.1:1/a', labels: {instance: api}}\n"
            "  - {job: h, url: 'http://127.0.0.1:1/b', labels: {instance: api}}\n",
            6,
            "probes[1] has the same job 'h', instance 'api' as probes[0] (line 5)",
        ),
        ("external_labels: {1dc: x}\n", 4, "external_labels: '1dc' is not a valid label name"),
        ("incidents:\n  group_by: ['...', service]\n", 5, "group_by: '...' (every label) stands alone"),
        ("incidents:\n  group_by: [service, team, service]\n", 5, "group_by: service given twice"),
        ("incidents:\n  group_by: [service-name]\n", 5, "group_by: 'service-name' is not a valid label name"),
    ],
)
def test_check_refuses(tmp_path: Path, text: str, line: int, message: str) -> None:
    config = write_config(tmp_path, text)
    code, lines = check(config)
    assert code == 1
    assert any(out.startswith(f"{config}:{line}: {message}") for out in lines), lines


def test_two_targets_told_apart_by_a_label_or_job_are_fine(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        "targets:\n  - {job: a, url: 'http://127.0.0.1:1/m', labels: {path: m}}\n"
        "  - {job: a, url: 'http://127.0.0.1:1/other', labels: {path: other}}\n"
        "  - {job: b, url: 'http://127.0.0.1:1/m'}\n"
        "log: {level: warn}\n",
    )
    code, lines = check(config)
    assert code == 0, lines
    assert load_config(config).log_level == "warning"


def test_job_and_instance_target_labels_win_as_in_prometheus(tmp_path: Path, httpserver: HTTPServer) -> None:
    """Prometheus sets `job` and `instance` only when a target's labels do not."""
    httpserver.expect_request("/metrics").respond_with_data("shop_up 1\n")
    config = write_config(
        tmp_path,
        f"targets:\n  - job: a\n    url: {httpserver.url_for('/metrics')}\n"
        "    labels: {job: shop, instance: api-1, zone: ''}\n",
    )
    assert check(config)[0] == 0
    cfg = load_config(config)
    assert cfg.targets[0].job == "shop"
    [scraper] = build_sources(cfg)
    assert isinstance(scraper, Scraper)
    got = scraper.collect(1000.0)
    scraper.close()
    assert got.error is None
    labels = {dict(labels)["__name__"]: dict(labels) for labels, _ in got.samples}
    assert labels["shop_up"] == {"__name__": "shop_up", "job": "shop", "instance": "api-1"}
    assert labels["up"]["instance"] == "api-1"


def test_a_probe_timeout_defaults_to_at_most_its_interval(tmp_path: Path) -> None:
    config = write_config(tmp_path, "probes:\n  - {job: h, url: 'http://127.0.0.1:1/h', interval: 2s}\n")
    assert check(config)[0] == 0
    assert load_config(config).probes[0].timeout_s == 2.0


def test_an_unset_variable_without_a_default_in_storage_db_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATE_DIRECTRY", raising=False)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    (tmp_path / "a.rules.yml").write_text(RULES)
    config = tmp_path / "triaged.yaml"
    config.write_text(
        "storage:\n  db: ${STATE_DIRECTRY}/triaged.db\nrule_files: [a.rules.yml]\n"
        "notifiers: [{name: log, type: log}]\n"
    )
    warning = f"{config}:2: warning: storage.db: ${{STATE_DIRECTRY}} is not set: the path becomes /triaged.db"
    assert load_config(config).warnings == (warning,)
    checked = CliRunner().invoke(cli, ["check", "-c", str(config)])
    assert checked.exit_code == 0, checked.output
    assert checked.stderr.strip() == warning, "check shows it, and passes"
    config.write_text(config.read_text().replace("${STATE_DIRECTRY}", "${STATE_DIRECTORY:-.}"))
    assert load_config(config).warnings == ()


def test_an_unset_variable_in_rule_files_is_named_beside_matches_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`triaged check` run by hand on the systemd config: the rule files "match no
    file", and the warning says why (the variable systemd sets is not set here)."""
    monkeypatch.delenv("CONFIGURATION_DIRECTORY", raising=False)
    config = tmp_path / "triaged.yaml"
    config.write_text(
        "storage: {db: ./t.db}\nrule_files: ['${CONFIGURATION_DIRECTORY}/rules/*.rules.yml']\n"
        "notifiers: [{name: log, type: log}]\n"
    )
    checked = CliRunner().invoke(cli, ["check", "-c", str(config)])
    assert checked.exit_code == 1
    warning = (
        f"{config}:2: warning: rule_files: ${{CONFIGURATION_DIRECTORY}} is not set:"
        " '${CONFIGURATION_DIRECTORY}/rules/*.rules.yml' becomes '/rules/*.rules.yml'"
    )
    assert warning in checked.output, checked.output
    assert "matches no file" in checked.output


def test_a_promql_syntax_error_quotes_the_expression_and_says_where(tmp_path: Path) -> None:
    rules = tmp_path / "r.yml"
    rules.write_text(
        'groups:\n- name: g\n  rules:\n  - alert: A\n    expr: |\n      up{job="x"}\n        == = 0\n'
        "    labels: {severity: P1}\n"
    )
    result = CliRunner().invoke(cli, ["rules", "check", str(rules)])
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        f"{rules}:5: rule 'A': invalid expression: parse error: 2:6: unexpected \"=\", expected an expression"
        " in 'up{job=\"x\"} == = 0'"
    )


def test_check_refuses_a_pagerduty_notifier_whose_key_is_not_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`triaged run` would refuse to start without the integration key: `check` must
    say so first, naming the variable, not report ok."""
    config = write_config(tmp_path, "")
    pagerduty = "notifiers: [{name: pd, type: pagerduty, routing_key_env: TRIAGED_TEST_PD_KEY}]"
    config.write_text(BASE.replace("notifiers: [{name: log, type: log}]", pagerduty))
    monkeypatch.delenv("TRIAGED_TEST_PD_KEY", raising=False)
    code, lines = check(config)
    assert code == 1
    wanted = f"{config}: notifiers.pd: $TRIAGED_TEST_PD_KEY is empty or unset (the PagerDuty integration key)"
    assert wanted in lines, lines
    monkeypatch.setenv("TRIAGED_TEST_PD_KEY", "R0UT1NGKEY")
    assert check(config)[0] == 0
