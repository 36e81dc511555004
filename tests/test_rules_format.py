"""Rule files: the Prometheus format loads, and every error is located file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from triaged.rules.format import RuleFileError, load_rule_file
from triaged.rules.manager import RuleManager

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "x.rules.yml"
    p.write_text(text)
    return p


def errors_of(path: Path) -> list[str]:
    with pytest.raises(RuleFileError) as info:
        load_rule_file(path)
    return [str(e) for e in info.value.errors]


def test_shipped_rules_load_with_severities_and_for() -> None:
    groups = load_rule_file(REPO / "rules" / "bharatmart.rules.yml")
    rules = {r.name: r for g in groups for r in g.rules}
    assert {"HighP95Latency", "PaymentFailureRateHigh", "DBPoolSaturation", "ChaosInProduction",
            "ServiceDown", "ServiceNotReady", "StartupFailures"} <= set(rules)  # fmt: skip
    assert rules["HighP95Latency"].severity.name == "P1"
    assert rules["DBPoolSaturation"].severity.name == "P2"
    assert rules["ServiceDown"].severity.name == "P0"
    assert rules["HighP95Latency"].for_s == 120


def test_every_error_in_a_file_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """groups:
  - name: g
    rules:
      - alert: Good
        expr: up == 0
      - alert: BadExpr
        expr: sum(rate(x[5m]
      - alert: BadFor
        expr: up == 0
        for: ten minutes
      - alert: BadSeverity
        expr: up == 0
        labels: {severity: urgent}
      - alert: BadTemplate
        expr: up == 0
        annotations: {summary: "{{ $nope }}"}
      - record: x
        alert: y
        expr: up
""",
    )
    errs = errors_of(path)
    assert any(e.startswith(f"{path}:7:") and "BadExpr" in e and "invalid expression" in e for e in errs), (
        errs
    )
    assert any(e.startswith(f"{path}:10:") and "for" in e for e in errs), errs
    assert any(e.startswith(f"{path}:13:") and "urgent" in e for e in errs), errs
    assert any(e.startswith(f"{path}:16:") and "template" in e for e in errs), errs
    assert any(e.startswith(f"{path}:17:") and "exactly one of" in e for e in errs), errs
    assert len(errs) == 5


def test_unknown_fields_and_missing_expr(tmp_path: Path) -> None:
    path = write(tmp_path, "groups:\n  - name: g\n    rules:\n      - alert: A\n        exprr: up\n")
    errs = errors_of(path)
    assert any(":5:" in e and "unknown rule field 'exprr'" in e for e in errs), errs
    assert any("needs an 'expr'" in e for e in errs), errs


def test_invalid_yaml_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "groups:\n  - name: g\n    rules: [\n")
    (err,) = errors_of(path)
    assert err.startswith(f"{path}:4:") and "invalid YAML" in err


def test_duplicate_group_names(tmp_path: Path) -> None:
    path = write(tmp_path, "groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n")
    assert any("duplicate group name" in e for e in errors_of(path))


def test_reload_keeps_alert_state_of_unchanged_rules(tmp_path: Path) -> None:
    from triaged.model import Labels

    path = write(tmp_path, "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n"
                           "        for: 1m\n      - alert: B\n        expr: up == 1\n")  # fmt: skip
    manager = RuleManager(15)
    manager.load(load_rule_file(path))
    series = [(Labels.of(__name__="up", job="x"), 0.0)]
    manager.evaluate_due(100, lambda e, t: series if "== 0" in e else [], lambda k, s, t: None)
    (a_rule, _) = manager.alerting_rules()
    assert len(a_rule.alerts) == 1
    # B changes, A does not: A keeps its pending alert (and its `for` timer).
    path.write_text(path.read_text().replace("up == 1", "up == 2"))
    manager.load(load_rule_file(path))
    (a_after, _) = manager.alerting_rules()
    assert next(iter(a_after.alerts.values())).active_at == 100


def test_group_labels_reach_alerts_and_rule_labels_win(tmp_path: Path) -> None:
    from triaged.model import Labels

    path = write(
        tmp_path,
        "groups:\n  - name: g\n    labels: {team: payments, severity: P3}\n    rules:\n"
        "      - alert: A\n        expr: up == 0\n        labels: {severity: P1}\n",
    )
    manager = RuleManager(15)
    manager.load(load_rule_file(path))
    series = [(Labels.of(__name__="up", job="x"), 0.0)]
    alerts, _ = manager.evaluate_due(100, lambda e, t: series, lambda k, s, t: None)
    (alert,) = alerts
    assert alert.labels.get("team") == "payments"
    assert alert.labels.get("severity") == "P1"


def test_group_labels_reach_recorded_series_and_rule_labels_win(tmp_path: Path) -> None:
    from triaged.model import Labels

    path = write(
        tmp_path,
        "groups:\n  - name: g\n    labels: {team: payments, tier: '2'}\n    rules:\n"
        "      - record: job:up:sum\n        expr: sum by (job) (up)\n        labels: {tier: '1'}\n",
    )
    manager = RuleManager(15)
    manager.load(load_rule_file(path))
    written: list[tuple[Labels, float]] = []
    series = [(Labels.of(job="x"), 3.0)]
    manager.evaluate_due(100, lambda e, t: series, lambda k, s, t: written.extend(s))
    assert written == [(Labels.of(__name__="job:up:sum", job="x", team="payments", tier="1"), 3.0)]


def test_alert_without_severity_loads_with_a_warning(tmp_path: Path) -> None:
    from triaged.rules.format import rule_warnings

    path = write(
        tmp_path,
        "groups:\n  - name: g\n    rules:\n"
        "      - alert: NoSeverity\n        expr: up == 0\n"
        "      - alert: HasOne\n        expr: up == 0\n        labels: {severity: P1}\n"
        "      - record: x\n        expr: up\n"
        "  - name: h\n    labels: {severity: P2}\n    rules:\n"
        "      - alert: FromGroup\n        expr: up == 0\n",
    )
    groups = load_rule_file(path)
    (warning,) = rule_warnings(groups)
    assert warning.startswith(f"{path}:4: warning:") and "NoSeverity" in warning and "P3" in warning


@pytest.mark.usefixtures("default_logging")
def test_templated_severity_loads_and_resolves_per_alert(tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    from triaged.model import Labels, Severity

    path = write(
        tmp_path,
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n"
        '        labels: {severity: "{{ $labels.sev }}"}\n',
    )
    (group,) = load_rule_file(path)
    assert group.rules[0].severity is Severity.P3
    manager = RuleManager(15)
    manager.load([group])
    series = [
        (Labels.of(__name__="up", job="x", sev="critical"), 0.0),
        (Labels.of(__name__="up", job="y", sev="urgent"), 0.0),
    ]
    with capture_logs() as logs:
        alerts, _ = manager.evaluate_due(100, lambda e, t: series, lambda k, s, t: None)
    assert sorted(a.labels.get("severity") for a in alerts) == ["critical", "urgent"]
    unknown = [e for e in logs if e["event"] == "alert_severity_unknown"]
    assert [(e["severity"], e["using"]) for e in unknown] == [("urgent", "P3")]
    with capture_logs() as logs:
        manager.evaluate_due(200, lambda e, t: series, lambda k, s, t: None)
    assert not [e for e in logs if e["event"] == "alert_severity_unknown"]  # once per alert


def test_literal_bad_severity_in_group_labels_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "groups:\n  - name: g\n    labels: {severity: urgent}\n    rules: []\n")
    (err,) = errors_of(path)
    assert err.startswith(f"{path}:3:") and "urgent" in err
