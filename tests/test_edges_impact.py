"""Impact numbers no other test pinned down (found by a mutation audit): the worst value
a postmortem reports per alert, which series become an incident's evidence and how
often, and an SLI with no data yet."""

from __future__ import annotations

import pytest

from triaged.alerts.route import Route, Router
from triaged.incidents.evidence import EvidencePolicy, EvidenceRecorder
from triaged.incidents.model import Incident, IncidentStatus
from triaged.incidents.postmortem import gather
from triaged.incidents.postmortem_values import alert_values
from triaged.incidents.service import IncidentPolicy, IncidentService
from triaged.incidents.slo import SLO, SLORecorder, budget, samples_for
from triaged.model import Labels, Severity
from triaged.promql import Engine
from triaged.rules.alerting import Alert, AlertState
from triaged.store import Store
from triaged.store import evidence as ev_rows
from triaged.store import incidents as rows
from triaged.tsdb import Storage

T0 = 1_790_000_000.0


def alert(rule: str, severity: str, expr: str) -> Alert:
    labels = Labels.of(alertname=rule, severity=severity, service="api")
    return Alert(rule=rule, labels=labels, annotations={"summary": f"{rule} on api"}, state=AlertState.FIRING,
                 active_at=90.0, value=1.0, fired_at=100.0, expr=expr)  # fmt: skip


def second_alert_clears_at_110(
    store: Store, rule: str, expr: str, points: list[tuple[float, float | None]], *, now: float
) -> dict[str, float | None]:
    """HighLatency keeps incident #1 open; ``rule`` (``<value> <op> <threshold>``,
    pending at 90, firing at 100) clears at 110. Its evidence is ``points``; returns its
    postmortem values at ``now``."""
    svc = IncidentService(store, Router([Route("pager")]), IncidentPolicy(resolve_hold_s=600))
    latency = alert("HighLatency", "P1", "latency > 0.5")
    svc.sync([latency, alert(rule, "P2", expr)], now=100)
    for t in (110, now):
        svc.sync([latency], now=t)
    value_expr, op, threshold = expr.split(" ")
    series = ev_rows.ensure_series(store, 1, alertname=rule, expr=value_expr, role="value",
                                   labels={"service": "api"}, op=op, threshold=float(threshold))  # fmt: skip
    ev_rows.add_points(store, series, points)
    (row,) = [a for a in rows.incident_alerts(store, 1) if a["alertname"] == rule]
    assert row["resolved_at"] == 110
    return alert_values(gather(store, 1, now), row)


def test_the_worst_value_of_a_below_threshold_rule_is_its_lowest(store: Store) -> None:
    """`availability < 0.99` at 0.98, 0.90, 0.95: the postmortem's worst is 0.90 (the
    deepest dip), not 0.98, the mildest value it fired on."""
    values = second_alert_clears_at_110(
        store, "LowAvailability", "availability < 0.99",
        [(90, 0.98), (100, 0.90), (105, 0.95), (110, 0.995)], now=120,
    )  # fmt: skip
    assert values["worst"] == pytest.approx(0.90)
    assert values["clear"] == pytest.approx(0.995)


def test_the_worst_value_of_a_not_equal_rule_is_the_value_it_fired_on(store: Store) -> None:
    """`ready != 1` fired on 0 and cleared at 1: its worst is 0; the healthy 1 seen at
    clear is not a "worst" value."""
    values = second_alert_clears_at_110(
        store, "NotReady", "ready != 1", [(90, 0.0), (100, 0.0), (110, 1.0)], now=120
    )
    assert values["worst"] == 0.0
    assert values["clear"] == 1.0


def test_the_worst_value_counts_only_while_that_alert_was_active(store: Store) -> None:
    """ErrorRate pended at 90 and cleared at 110 while the incident stayed open: an
    earlier blip (0.5 at 0) and a later climb (0.3 at 150, pending again) belong to
    other episodes, so its worst is 0.09."""
    values = second_alert_clears_at_110(
        store, "ErrorRate", "errors > 0.05",
        [(0, 0.5), (90, 0.07), (100, 0.09), (110, 0.01), (150, 0.3)], now=160,
    )  # fmt: skip
    assert values["pending"] == pytest.approx(0.07)
    assert values["worst"] == pytest.approx(0.09)
    assert values["clear"] == pytest.approx(0.01)


def open_latency_incident(store: Store) -> Incident:
    return rows.insert_incident(store, Incident(
        id=0, group_key="service=api", service="api", title="HighLatency on api", severity=Severity.P1,
        status=IncidentStatus.DETECTED, detected_at=T0, opened_at=T0, updated_at=T0, rule="HighLatency",
        expr="latency > 0.5", labels={"service": "api"},
    ))  # fmt: skip


def latency_storage(*series: Labels) -> Storage:
    storage = Storage()
    for t in range(-1200, 121, 5):
        for labels in series:
            storage.append(labels, int((T0 + t) * 1000), 0.9)
    return storage


def test_evidence_holds_the_incidents_own_service_not_another_ones(store: Store) -> None:
    """api's latency incident: payments' latency (a different service) is not charted
    in api's postmortem; api's own series is."""
    inc = open_latency_incident(store)
    storage = latency_storage(
        Labels.of(__name__="latency", service="api"), Labels.of(__name__="latency", service="payments")
    )
    EvidenceRecorder(store, Engine(storage), EvidencePolicy()).record(T0 + 30)
    assert [s["labels"].get("service") for s in ev_rows.series_for(store, inc.id)] == ["api"]


def test_evidence_keeps_at_most_max_series(store: Store) -> None:
    """The evidence bound is exact: with max_series 2 and three api instances, two
    series are kept (a bound that lets one more through is no bound)."""
    inc = open_latency_incident(store)
    storage = latency_storage(*(Labels.of(__name__="latency", service="api", instance=i) for i in "abc"))
    EvidenceRecorder(store, Engine(storage), EvidencePolicy(max_series=2)).record(T0 + 30)
    assert len(ev_rows.series_for(store, inc.id)) == 2


def test_evidence_of_an_open_incident_grows_one_point_per_step(store: Store) -> None:
    """Cycles run every 5 s, the evidence step is 15 s: after the backfill, points are
    added at +15 s and +30 s, not at every cycle (which would spend the point budget
    three times as fast and thin the chart early)."""
    inc = open_latency_incident(store)
    storage = latency_storage(Labels.of(__name__="latency", service="api"))
    recorder = EvidenceRecorder(store, Engine(storage), EvidencePolicy(step_s=15))
    start = T0 + 30
    for dt in range(0, 35, 5):
        recorder.record(start + dt)
    (series,) = ev_rows.series_for(store, inc.id)
    assert [t - start for t, _ in series["points"] if t > start] == [15.0, 30.0]


def test_an_sli_without_data_records_a_gap_not_a_perfect_score(store: Store) -> None:
    """The request counter only appears ten minutes after the daemon starts: those ten
    minutes are a gap. Recording them as covered, with no traffic, would shrink the
    extrapolated allowance and overstate how much budget the errors afterwards spent."""
    storage = Storage()
    for i in range(600, 1201, 10):  # 10 req/s from +600 s, 1 of them failing
        t_ms = int((T0 + i) * 1000)
        storage.append(Labels.of(__name__="req_total", code="200"), t_ms, 9.0 * (i - 600))
        storage.append(Labels.of(__name__="req_total", code="500"), t_ms, 1.0 * (i - 600))
    slo = SLO(
        "api", 'sum(rate(req_total{code!~"5.."}[1m]))', "sum(rate(req_total[1m]))", 0.99, 3600.0, "", 60.0
    )
    recorder = SLORecorder(store, Engine(storage), [slo])
    assert [recorder.record(T0 + t) for t in range(60, 600, 60)] == [0] * 9
    for t in range(660, 1201, 60):
        recorder.record(T0 + t)
    now = T0 + 1200
    samples = samples_for(store, slo, now)
    assert samples and min(s[0] for s in samples) >= T0 + 660
    b = budget(slo, samples, now)
    assert b.events.covered_s == pytest.approx(600.0)
    assert b.sli == pytest.approx(0.9)


def test_without_evidence_the_record_keeps_a_below_threshold_rules_deepest_dip(store: Store) -> None:
    """No chart data for `availability < 0.99` (evidence off, or the query failed): the
    incident record's peak is still its worst value, 0.90, not the mildest, 0.98, and
    the postmortem's "firing" value is the one it fired on, not its latest."""
    svc = IncidentService(store, Router([Route("pager")]), IncidentPolicy())
    dip = alert("LowAvailability", "P1", "availability < 0.99")
    for t, v in ((100, 0.98), (110, 0.90), (120, 0.95)):
        svc.sync([_with_value(dip, v)], now=t)
    (row,) = rows.incident_alerts(store, 1)
    assert (row["value"], row["peak"]) == (0.95, 0.90)
    values = alert_values(gather(store, 1, 130), row)
    assert (values["firing"], values["worst"]) == (0.98, 0.90)


def test_a_missing_value_does_not_erase_the_peak(store: Store) -> None:
    """An alert whose value is NaN for a cycle keeps the worst value seen before."""
    svc = IncidentService(store, Router([Route("pager")]), IncidentPolicy())
    high = alert("HighLatency", "P1", "latency > 0.5")
    for t, v in ((100, 0.7), (110, float("nan")), (120, 0.6)):
        svc.sync([_with_value(high, v)], now=t)
    (row,) = rows.incident_alerts(store, 1)
    assert row["peak"] == 0.7


def _with_value(a: Alert, value: float) -> Alert:
    return Alert(rule=a.rule, labels=a.labels, annotations=a.annotations, state=a.state,
                 active_at=a.active_at, value=value, fired_at=a.fired_at, expr=a.expr)  # fmt: skip
