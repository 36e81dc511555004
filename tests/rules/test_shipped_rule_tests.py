"""The tests shipped beside rules/bharatmart.rules.yml pass and cover every alert both ways."""

from __future__ import annotations

from pathlib import Path

from triaged.rules.format import load_rule_file
from triaged.rules.rule_test_format import load_rule_test_file
from triaged.rules.rule_tests import run_rule_test_file

RULES = Path(__file__).resolve().parents[2] / "rules"


def test_shipped_rule_tests_pass() -> None:
    result = run_rule_test_file(RULES / "bharatmart.rules.test.yml")
    assert result.ok, "\n".join(result.failures)
    assert result.groups_run >= 14


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    alerts = {
        r.name: r
        for g in load_rule_file(RULES / "bharatmart.rules.yml")
        for r in g.rules
        if r.kind == "alert"
    }
    cases = [c for t in load_rule_test_file(RULES / "bharatmart.rules.test.yml").tests for c in t.alert_cases]
    for name, rule in alerts.items():
        firing = [e for c in cases if c.alertname == name for e in c.expected]
        quiet = [c for c in cases if c.alertname == name and not c.expected]
        assert firing, f"{name}: no case where it fires"
        assert quiet, f"{name}: no case where it must stay quiet"
        for expected in firing:
            assert expected.labels.get("severity") == rule.labels["severity"], name
            assert expected.labels.get("service") == "bharatmart-api", name
            # Exact comparison: the expectation must list every annotation the rule renders.
            assert set(expected.annotations) == set(rule.annotations), name
            assert "{{" not in expected.annotations["summary"], name
