"""Rule files and rule tests read as promtool and Prometheus read them: what they accept
is accepted (any alert name, a group whose rules are all commented out, a bare `team:`
label, `external_url`, a series given twice), what they refuse is refused (fractional
or repeated duration units, `__name__` in rule labels, unknown top-level keys), and a
label that names the alert can no longer stop the daemon's cycle."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from triaged.app import build
from triaged.config import load_config
from triaged.durations import parse_duration
from triaged.errors import ConfigError
from triaged.model import Labels
from triaged.rules.alerting import AlertingRule
from triaged.rules.format import check_rule_file
from triaged.rules.group import RuleGroup
from triaged.rules.rule_tests import run_rule_test_file
from triaged.testing.clock import FakeClock


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path) -> list[str]:
    return [str(e).removeprefix(f"{path}:") for e in check_rule_file(path)[1]]


def rule_file(rules: str, extra: str = "") -> str:
    return f"{extra}groups:\n  - name: g\n    rules:\n" + textwrap.indent(textwrap.dedent(rules), "      ")


# -- what Prometheus refuses --------------------------------------------------------------


@pytest.mark.parametrize("text", ["1.5m", "5m5m", "1m1h", "1h 30m", "m", "5", "-5m", "1e3s"])
def test_durations_that_prometheus_refuses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text, strict=True)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("90s", 90.0), ("1h30m", 5400.0), ("500ms", 0.5), ("1d2h3m4s5ms", 93784.005)],
)
def test_durations_as_prometheus_writes_them_are_read(text: str, seconds: float) -> None:
    assert parse_duration(text, strict=True) == pytest.approx(seconds)
    assert parse_duration(text) == pytest.approx(seconds)


def test_the_daemon_config_still_takes_the_durations_it_always_took(tmp_path: Path) -> None:
    """Strict parsing is for rule files (promtool parity): a config that ran before an
    upgrade must not be refused after it."""
    path = write(
        tmp_path, "t.yaml", "storage: {db: t.db}\nincidents: {resolve_hold: 2.5s, reopen_window: 1.5h}\n"
    )
    incidents = load_config(path).incidents
    assert (incidents.resolve_hold_s, incidents.reopen_window_s) == (2.5, 5400.0)
    assert parse_duration("1.5h") == 5400.0 and parse_duration("30m1h") == 5400.0


def test_a_fractional_for_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yml", rule_file("- alert: A\n  expr: up == 0\n  for: 1.5m\n"))
    assert problems(path) == [
        "6: for: invalid duration '1.5m' (use e.g. 30s, 5m, 1h30m: whole numbers, largest unit first)"
    ]


def test_name_label_and_unknown_top_level_keys_and_unsupported_functions_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yml",
        rule_file(
            """\
            - record: job:up:sum
              expr: sum by (job) (up)
              labels: {__name__: other}
            - alert: Info
              expr: info(up) == 0
            """,
            extra="x-common: &common {severity: P2}\n",
        ),
    )
    assert problems(path) == [
        "1: unknown top-level field 'x-common' (a rule file has only 'groups')",
        "7: rule 'job:up:sum': invalid label name '__name__'",
        "9: rule 'Info': function 'info' is not supported here",
    ]


# -- what Prometheus accepts ----------------------------------------------------------------


def test_alert_names_are_any_text_and_an_empty_group_is_fine(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yml",
        """\
        groups:
          - name: commented
            rules:
              # - alert: Old
              #   expr: up == 0
          - name: g
            rules:
              - {alert: 5xxErrors, expr: up == 0, labels: {severity: P1, team: }}
              - {alert: high-cpu, expr: up == 0, labels: {severity: P2}}
        """,
    )
    groups, errors = check_rule_file(path)
    assert errors == []
    assert [len(g.rules) for g in groups] == [0, 2]
    assert [r.name for r in groups[1].rules] == ["5xxErrors", "high-cpu"]
    assert groups[1].rules[0].labels["team"] == ""  # a bare `team:` is "", and then dropped


def test_an_alertname_label_is_overridden_by_the_rule_name_in_a_rule_test(tmp_path: Path) -> None:
    write(
        tmp_path,
        "r.yml",
        rule_file(
            """\
            - alert: AlertOverride
              expr: m > 0
              labels: {alertname: Other, severity: P2, team: }
              annotations: {link: '{{ $externalURL }}/graph', url: '{{ .ExternalURL }}'}
            """
        ),
    )
    test = write(
        tmp_path,
        "r.test.yml",
        """\
        rule_files: [r.yml]
        tests:
          - interval: 1m
            external_url: https://prom.example.com
            input_series:
              - {series: 'm{a="1"}', values: '0 0'}
              - {series: 'm{a="1"}', values: '1 1'}
            alert_rule_test:
              - eval_time: 1m
                alertname: AlertOverride
                exp_alerts:
                  - exp_labels: {a: "1", severity: P2}
                    exp_annotations: {link: https://prom.example.com/graph, url: https://prom.example.com}
        """,
    )
    result = run_rule_test_file(test)
    # The second definition of m{a="1"} wins, whole, as promtool loads it: the alert fires.
    assert result.failures == []


# -- a bug in one rule does not stop the others --------------------------------------------


def test_an_unexpected_error_in_one_rule_leaves_the_other_rules_evaluating(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yml",
        rule_file(
            "- {alert: Broken, expr: vector(1), labels: {severity: P1}}\n"
            "- {alert: Fine, expr: vector(2), labels: {severity: P1}}\n"
        ),
    )
    (spec,) = check_rule_file(path)[0]
    group = RuleGroup(spec, 60.0, [AlertingRule(r) for r in spec.rules])

    def query(expr: str, now: float) -> list[tuple[Labels, float]]:
        if expr == "vector(1)":
            raise KeyError("a bug")
        return [(Labels(), 2.0)]

    alerts = group.eval(100.0, query, lambda *_: None, lambda: 0.0)
    assert [a.labels.get("alertname") for a in alerts] == ["Fine"]
    broken = group.health[spec.rules[0].key]
    assert (broken.health, broken.last_error) == ("err", "internal error: KeyError: 'a bug'")


@pytest.mark.usefixtures("default_logging")
def test_the_daemon_says_once_when_a_rule_starts_failing_and_when_it_recovers(tmp_path: Path) -> None:
    limited = "groups:\n  - name: g\n    limit: {limit}\n    rules:\n      - {{alert: Many, expr: up == 1}}\n"
    rules = write(tmp_path, "r.rules.yml", limited.format(limit=1))
    config = write(
        tmp_path, "t.yaml", "storage: {db: t.db}\nrule_files: ['*.rules.yml']\nevaluation_interval: 1s\n"
    )
    clock = FakeClock(1_790_000_000.0)
    daemon = build(load_config(config), sources=[], clock=clock)
    two = [(Labels.from_pairs([("__name__", "up"), ("job", j)]), 1.0) for j in ("a", "b")]
    try:
        with capture_logs() as logs:
            for step in range(3):  # two alerts against a limit of one, three times
                daemon.storage.append_batch("test", two, int((clock.now() + step) * 1000))
                daemon.cycle(clock.now() + step)
            rules.write_text(limited.format(limit=0))
            assert daemon.reload().ok
            daemon.storage.append_batch("test", two, int((clock.now() + 3) * 1000))
            daemon.cycle(clock.now() + 3)
        failed = [e for e in logs if e["event"] == "rule_failed"]
        assert len(failed) == 1 and "Many" in failed[0]["rule"]
        assert failed[0]["error"] == "exceeded limit of 1 with 2 alerts"
        assert [e["event"] for e in logs if e["event"].startswith("rule_")] == [
            "rule_failed",
            "rule_recovered",
        ]
    finally:
        daemon.close()
        daemon.store.close()


# -- the config's external_url ---------------------------------------------------------------


def test_external_url_in_the_config_is_checked_and_kept_without_a_trailing_slash(tmp_path: Path) -> None:
    good = write(tmp_path, "a.yaml", "storage: {db: t.db}\nexternal_url: https://triaged.example.com/\n")
    assert load_config(good).external_url == "https://triaged.example.com"
    bad = write(tmp_path, "b.yaml", "storage: {db: t.db}\nexternal_url: triaged.example.com\n")
    with pytest.raises(ConfigError, match="external_url: expected an http"):
        load_config(bad)
