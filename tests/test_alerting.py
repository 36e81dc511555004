"""The alert state machine as a table of (query result, now) → state, as in Prometheus."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from triaged.model import Labels
from triaged.rules.alerting import RESOLVED_RETENTION_S, AlertingRule, AlertState, RuleEvalError
from triaged.rules.format import RuleSpec

SERIES = Labels.of(__name__="latency", service="api")


def rule(for_s: float = 0, keep_s: float = 0, **labels: str) -> AlertingRule:
    spec = RuleSpec(
        name="HighLatency", expr="latency > 0.5", kind="alert", file="f.yml", line=1, group="g",
        for_s=for_s, keep_firing_for_s=keep_s, labels={"severity": "P1", **labels},
        annotations={"summary": "latency {{ $value }} on {{ $labels.service }}"},
    )  # fmt: skip
    return AlertingRule(spec)


def answer(*values: float) -> object:
    def query(expr: str, now: float) -> list[tuple[Labels, float]]:
        return [(SERIES, v) for v in values]

    return query


def states(r: AlertingRule) -> list[str]:
    return [a.state.value for a in r.alerts.values()]


# (seconds since start, query returns a value?, expected states after eval)
FOR_60 = [
    (0, True, ["pending"]),
    (30, True, ["pending"]),
    (60, True, ["firing"]),
    (90, True, ["firing"]),
    (120, False, ["inactive"]),  # resolved, kept for the pipeline
    (150, True, ["pending"]),  # a new instance: back to pending, not straight to firing
]


@pytest.mark.parametrize(("for_s", "steps"), [(60, FOR_60)])
def test_pending_firing_resolved_table(for_s: float, steps: Sequence[tuple[int, bool, list[str]]]) -> None:
    r = rule(for_s=for_s)
    for t, present, expected in steps:
        r.eval(1000.0 + t, answer(0.9) if present else answer())
        assert states(r) == expected, f"at +{t}s"


def test_pending_alert_that_clears_is_forgotten_not_resolved() -> None:
    r = rule(for_s=60)
    r.eval(0, answer(0.9))
    r.eval(30, answer())
    assert r.alerts == {}


def test_for_zero_fires_on_first_evaluation() -> None:
    r = rule()
    (alert,) = r.eval(10, answer(0.9))
    assert alert.state is AlertState.FIRING
    assert alert.fired_at == 10
    assert alert.active_at == 10


def test_keep_firing_for_holds_firing_after_condition_clears() -> None:
    r = rule(keep_s=30)
    r.eval(0, answer(0.9))
    r.eval(10, answer())
    assert states(r) == ["firing"]
    r.eval(39, answer())
    assert states(r) == ["firing"]
    r.eval(40, answer())
    assert states(r) == ["inactive"]


def test_resolved_alerts_are_dropped_after_retention() -> None:
    r = rule()
    r.eval(0, answer(0.9))
    r.eval(10, answer())
    r.eval(10 + RESOLVED_RETENTION_S + 1, answer())
    assert r.alerts == {}


def test_labels_and_annotations_are_templated_with_value() -> None:
    r = rule(team="{{ $labels.service }}-oncall")
    (alert,) = r.eval(0, answer(0.75))
    assert alert.labels.get("alertname") == "HighLatency"
    assert alert.labels.get("team") == "api-oncall"
    assert alert.labels.get("__name__") == ""
    assert alert.annotations["summary"] == "latency 0.75 on api"
    assert alert.value == 0.75


def test_duplicate_label_sets_after_templating_are_an_error() -> None:
    r = rule()
    with pytest.raises(RuleEvalError, match="same labelset"):
        r.eval(0, answer(0.9, 0.8))
