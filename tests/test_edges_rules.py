"""Alert state machine details no other test pinned down (found by a mutation audit):
``keep_firing_for`` restarting when the condition returns, a firing alert's value kept
current, and the restart tolerance's boundary."""

from __future__ import annotations

from collections.abc import Callable

from triaged.model import Labels
from triaged.rules.alerting import AlertingRule, AlertState, RestorePolicy
from triaged.rules.format import RuleSpec

SERIES = Labels.of(__name__="latency", service="api")
Query = Callable[[str, float], list[tuple[Labels, float]]]


def rule(*, for_s: float = 0, keep_s: float = 0) -> AlertingRule:
    spec = RuleSpec(
        name="HighLatency", expr="latency > 0.5", kind="alert", file="f.yml", line=1, group="g",
        for_s=for_s, keep_firing_for_s=keep_s, labels={"severity": "P1"},
        annotations={"summary": "latency {{ $value }}"},
    )  # fmt: skip
    return AlertingRule(spec)


def answer(*values: float) -> Query:
    def query(expr: str, now: float) -> list[tuple[Labels, float]]:
        return [(SERIES, v) for v in values]

    return query


def state(r: AlertingRule) -> AlertState:
    (alert,) = r.alerts.values()
    return alert.state


def test_keep_firing_for_starts_again_when_the_condition_comes_back() -> None:
    """keep_firing_for: 30s debounces a flapping condition: it clears at 10 s, is back at
    20 s and clears again at 25 s, so the alert keeps firing until 55 s. Counting from
    the first clear would resolve it at 40 s (and start the incident's resolve hold)."""
    r = rule(keep_s=30)
    r.eval(0, answer(0.9))
    r.eval(10, answer())
    r.eval(20, answer(0.9))
    r.eval(25, answer())
    r.eval(40, answer())
    assert state(r) is AlertState.FIRING
    r.eval(54, answer())
    assert state(r) is AlertState.FIRING
    r.eval(55, answer())
    assert state(r) is AlertState.INACTIVE


def test_a_firing_alert_carries_the_latest_value() -> None:
    """The incident and its pages show the alert's value: while it keeps firing, that is
    the value of the last evaluation (latency got worse), not the one it started with."""
    r = rule()
    r.eval(0, answer(0.9))
    (alert,) = r.eval(15, answer(2.5))
    assert alert.state is AlertState.FIRING
    assert alert.value == 2.5
    assert alert.annotations["summary"] == "latency 2.5"


def test_a_pending_timer_is_restored_after_an_outage_of_exactly_the_tolerance() -> None:
    """As Prometheus: an outage of exactly ``for_outage_tolerance`` (1 h) is still
    tolerated, so the 20 minutes already served of a 1 h ``for`` are kept and it fires
    40 minutes after the restart, not a whole hour later."""
    before = rule(for_s=3600)
    before.eval(0, answer(0.9))
    before.eval(1200, answer(0.9))  # 20 min pending, then the daemon stops
    after = rule(for_s=3600)
    after.restore(before.alerts.values(), after_outage=RestorePolicy())
    back = 1200 + 3600.0
    after.eval(back, answer(0.9))
    (alert,) = after.alerts.values()
    assert (alert.state, alert.active_at) == (AlertState.PENDING, 3600.0)
    after.eval(back + 2400, answer(0.9))
    assert state(after) is AlertState.FIRING
