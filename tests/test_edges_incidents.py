"""Incident grouping, severity and reopen details that no other test pinned down (found
by a mutation audit): each test names what on-call would see go wrong."""

from __future__ import annotations

from triaged.alerts.flap import FlapPolicy, judge
from triaged.alerts.route import Route, Router
from triaged.alerts.silence import Silence, parse_matchers
from triaged.incidents.model import Incident, IncidentStatus
from triaged.incidents.muting import MutePolicy, MuteStage
from triaged.incidents.service import IncidentPolicy, IncidentService
from triaged.model import Labels, Severity
from triaged.rules.alerting import Alert, AlertState
from triaged.store import Store, outbox, silences
from triaged.store import incidents as rows


def alert(rule: str, severity: str, *, active_at: float = 90.0, value: float = 1.0) -> Alert:
    labels = Labels.of(alertname=rule, severity=severity, service="api")
    return Alert(rule=rule, labels=labels, annotations={"summary": f"{rule} on api"},
                 state=AlertState.FIRING, active_at=active_at, value=value, fired_at=active_at)  # fmt: skip


def service(
    store: Store, *, hold: float = 0, reopen: float = 600, mutes: MuteStage | None = None
) -> IncidentService:
    policy = IncidentPolicy(resolve_hold_s=hold, reopen_window_s=reopen)
    return IncidentService(store, Router([Route("pager")]), policy, mutes=mutes)


def the_incident(store: Store) -> Incident:
    (incident,) = rows.list_incidents(store)
    return incident


def test_an_incident_opened_by_two_alerts_is_titled_after_the_worse_one(store: Store) -> None:
    """A P2 pool warning pending since earlier and a P0 outage fire in the same cycle:
    the page and the incident list must say "ServiceDown", not the older, milder alert."""
    svc = service(store)
    svc.sync(
        [alert("DBPoolSaturation", "P2", active_at=50.0), alert("ServiceDown", "P0", active_at=95.0)], 100
    )
    incident = the_incident(store)
    assert incident.severity is Severity.P0
    assert incident.title == "ServiceDown on api"
    assert incident.rule == "ServiceDown"
    (page,) = outbox.rows_for_incident(store, incident.id)
    assert "ServiceDown on api" in page.payload["title"]


def test_detection_time_is_when_the_first_alert_of_the_group_went_pending(store: Store) -> None:
    """Time to detect is measured from the earliest pending alert of the group: taking
    a later one would report the outage as shorter than it was."""
    svc = service(store)
    svc.sync([alert("HighLatency", "P1", active_at=40.0), alert("ErrorRate", "P2", active_at=80.0)], 100)
    incident = the_incident(store)
    assert incident.detected_at == 40.0
    assert incident.opened_at == 100.0


def test_a_reopen_by_a_worse_alert_raises_the_severity_and_pages_at_it(store: Store) -> None:
    """A P2 incident resolves, then the same rule comes back alongside a P0 within the
    reopen window: the reopened incident (and its page) is P0, not the stale P2."""
    svc = service(store, hold=0, reopen=600)
    svc.sync([alert("DBPoolSaturation", "P2")], 100)
    svc.sync([], 110)
    assert svc.sync([], 111).resolved == [1]
    result = svc.sync([alert("DBPoolSaturation", "P2"), alert("ServiceDown", "P0")], 200)
    assert result.reopened == [1] and result.opened == []
    incident = the_incident(store)
    assert incident.status is IncidentStatus.DETECTED
    assert incident.severity is Severity.P0
    reopen = [r for r in outbox.rows_for_incident(store, 1) if r.event == "reopen"]
    assert len(reopen) == 1
    assert reopen[0].payload["severity"] == "P0"
    assert any(e["kind"] == "escalated" for e in rows.timeline(store, 1))


def test_alerts_returning_exactly_at_the_end_of_the_reopen_window_reopen(store: Store) -> None:
    """'Within the reopen window' includes its last second: the incident resolved 600 s
    ago reopens instead of paging as a brand-new incident."""
    svc = service(store, hold=0, reopen=600)
    svc.sync([alert("HighLatency", "P1")], 100)
    svc.sync([], 110)
    assert svc.sync([], 111).resolved == [1]
    result = svc.sync([alert("HighLatency", "P1")], 111 + 600)
    assert (result.reopened, result.opened) == ([1], [])
    assert len(rows.list_incidents(store)) == 1


def test_a_silenced_alert_of_an_open_incident_is_not_recorded_as_resolved(store: Store) -> None:
    """ErrorRate fires on an open incident, then on-call silences it while it keeps
    firing: the timeline must not claim "ErrorRate resolved", and its row stays firing
    (a silence mutes the page, it does not end the problem)."""
    svc = service(store, hold=60, mutes=MuteStage(store, MutePolicy()))
    both = [alert("HighLatency", "P1"), alert("ErrorRate", "P2")]
    svc.sync(both, 100)
    silences.add(
        store, Silence(0, parse_matchers(["alertname=ErrorRate"]), 105, 105 + 3600, "asha", "known", 105)
    )
    for now in (110, 120, 130):
        svc.sync(both, now)
    by_name = {a["alertname"]: a for a in rows.incident_alerts(store, 1)}
    assert by_name["ErrorRate"]["state"] == "firing"
    assert by_name["ErrorRate"]["resolved_at"] is None
    assert not [e for e in rows.timeline(store, 1) if e["kind"] == "alert_resolved"]


def test_a_rule_start_exactly_one_window_ago_still_counts_towards_flapping() -> None:
    """The flap window includes its first second: four returns spread over exactly one
    hour are a flapping rule (and its reopens stop paging)."""
    policy = FlapPolicy(window_s=3600.0, threshold=4)
    now = 10_000.0
    verdict = judge([now - 3600.0, now - 2400.0, now - 1200.0, now], now, policy)
    assert verdict.flapping and verdict.starts == 4
    assert not judge([now - 3601.0, now - 2400.0, now - 1200.0, now], now, policy).flapping
