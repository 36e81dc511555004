"""Alerts → incidents: one incident per service, worst severity wins, hold before
auto-resolve, reopen within the window, and every change recorded with its page."""

from __future__ import annotations

import pytest

from triaged.alerts.route import Route, Router
from triaged.incidents.human import HumanActions, StillFiringError
from triaged.incidents.model import ALLOWED, Incident, IncidentStatus, TransitionError, transition
from triaged.incidents.postmortem import gather
from triaged.incidents.postmortem_values import alert_values
from triaged.incidents.service import IncidentPolicy, IncidentService
from triaged.model import Labels, Severity
from triaged.rules.alerting import Alert, AlertState
from triaged.store import Store, outbox
from triaged.store import evidence as ev_rows
from triaged.store import incidents as rows


def alert(rule: str, severity: str, service: str = "api", value: float = 1.0, **extra: str) -> Alert:
    labels = Labels.of(alertname=rule, severity=severity, service=service, **extra)
    return Alert(rule=rule, labels=labels, annotations={"summary": f"{rule} on {service}"},
                 state=AlertState.FIRING, active_at=90.0, value=value, fired_at=100.0)  # fmt: skip


def service(store: Store, hold: float = 60, reopen: float = 600) -> IncidentService:
    router = Router([Route("pager")])
    return IncidentService(store, router, IncidentPolicy(resolve_hold_s=hold, reopen_window_s=reopen))


def opens(store: Store, incident_id: int) -> list[str]:
    return [r.event for r in outbox.rows_for_incident(store, incident_id)]


def test_first_firing_alert_opens_incident_and_queues_one_page(store: Store) -> None:
    svc = service(store)
    result = svc.sync([alert("HighP95Latency", "P1", value=0.74)], now=100)
    (incident,) = rows.list_incidents(store)
    assert result.opened == [incident.id]
    assert incident.severity is Severity.P1
    assert incident.title == "HighP95Latency on api"
    assert incident.detected_at == 90.0 and incident.opened_at == 100
    assert opens(store, incident.id) == ["open"]
    kinds = [e["kind"] for e in rows.timeline(store, incident.id)]
    assert kinds[:3] == ["opened", "alert_firing", "notification_queued"]


def test_sync_is_idempotent(store: Store) -> None:
    svc = service(store)
    alerts = [alert("A", "P1")]
    svc.sync(alerts, now=100)
    svc.sync(alerts, now=101)
    assert len(rows.list_incidents(store)) == 1
    assert opens(store, 1) == ["open"]


def test_one_outage_of_a_service_is_one_incident_and_one_page(store: Store) -> None:
    svc = service(store)
    svc.sync([alert("ServiceNotReady", "P0", instance="ready")], now=100)
    svc.sync([alert("ServiceNotReady", "P0", instance="ready"), alert("ServiceDown", "P0")], now=101)
    (incident,) = rows.list_incidents(store)
    assert {a["alertname"] for a in rows.incident_alerts(store, incident.id)} == {
        "ServiceNotReady",
        "ServiceDown",
    }
    assert opens(store, incident.id) == ["open"]


def test_other_services_get_their_own_incident(store: Store) -> None:
    svc = service(store)
    svc.sync([alert("A", "P1", service="api"), alert("A", "P1", service="payments")], now=100)
    assert len(rows.list_incidents(store)) == 2


def test_worse_severity_escalates_and_pages_again(store: Store) -> None:
    svc = service(store)
    svc.sync([alert("DBPoolSaturation", "P2")], now=100)
    result = svc.sync([alert("DBPoolSaturation", "P2"), alert("ServiceDown", "P0")], now=110)
    (incident,) = rows.list_incidents(store)
    assert result.escalated == [incident.id]
    assert incident.severity is Severity.P0
    assert incident.title == "ServiceDown on api"
    assert opens(store, incident.id) == ["open", "escalate"]


def test_auto_resolve_waits_for_the_hold_time(store: Store) -> None:
    svc = service(store, hold=60)
    svc.sync([alert("A", "P1")], now=100)
    svc.sync([], now=110)  # clear starts
    svc.sync([], now=169)
    assert rows.get_incident(store, 1).status is IncidentStatus.DETECTED  # type: ignore[union-attr]
    svc.sync([alert("A", "P1")], now=170)  # back before the hold ended: stays open, no new page
    svc.sync([], now=180)
    result = svc.sync([], now=240)
    incident = rows.get_incident(store, 1)
    assert incident is not None and incident.status is IncidentStatus.RESOLVED
    assert result.resolved == [1]
    assert incident.resolved_at == 240
    assert opens(store, 1) == ["open", "resolve"]


def test_alert_returning_within_the_window_reopens_instead_of_paging_new(store: Store) -> None:
    svc = service(store, hold=0, reopen=600)
    svc.sync([alert("A", "P1")], now=100)
    svc.sync([], now=110)
    svc.sync([], now=111)  # resolved
    result = svc.sync([alert("A", "P1")], now=200)
    assert result.reopened == [1] and result.opened == []
    assert len(rows.list_incidents(store)) == 1
    assert opens(store, 1) == ["open", "resolve", "reopen"]
    # A different rule after resolve is a new incident, not a reopen.
    svc.sync([], now=210)
    svc.sync([], now=211)
    svc.sync([alert("B", "P2")], now=300)
    assert len(rows.list_incidents(store)) == 2


def test_transition_table_rejects_invalid_moves() -> None:
    inc = Incident(id=1, group_key="k", service="s", title="t", severity=Severity.P1,
                   status=IncidentStatus.DETECTED, detected_at=0, opened_at=0, updated_at=0)  # fmt: skip
    transition(inc, IncidentStatus.ACKNOWLEDGED, 5)
    assert inc.acknowledged_at == 5
    with pytest.raises(TransitionError, match="postmortem draft is not possible now"):
        transition(inc, IncidentStatus.POSTMORTEM, 6)
    assert ALLOWED[IncidentStatus.CLOSED] == frozenset()
    assert IncidentStatus.DETECTED in ALLOWED[IncidentStatus.RESOLVED]  # reopen


def test_human_ack_is_recorded_with_who_and_why_and_announced(store: Store) -> None:
    svc = service(store)
    svc.sync([alert("A", "P1")], now=100)
    HumanActions(store, Router([Route("pager")])).move(1, IncidentStatus.ACKNOWLEDGED, "asha", "on it", 130)
    incident = rows.get_incident(store, 1)
    assert incident is not None and incident.acknowledged_at == 130
    last = rows.timeline(store, 1)[-1]
    assert (last["actor"], last["kind"], last["data"]["reason"]) == ("asha", "acknowledged", "on it")
    assert opens(store, 1) == ["open", "ack"]


def test_an_alert_that_clears_while_others_fire_is_recorded_as_resolved(store: Store) -> None:
    """ErrorRate clears while HighLatency keeps the incident open: it is resolved in the
    store with its time and value at clear, once on the timeline, and no longer blocks
    a hand resolve; when it returns it is firing again."""
    svc = service(store)
    svc.sync([alert("HighLatency", "P1"), alert("ErrorRate", "P2")], now=100)
    errors = ev_rows.ensure_series(
        store, 1, alertname="ErrorRate", expr="errors", role="value", labels={"service": "api"},
        op=">", threshold=0.05,
    )  # fmt: skip
    ev_rows.add_points(store, errors, [(90, 0.07), (100, 0.09), (110, 0.01), (120, 0.0)])
    for now in (110, 120, 130):
        svc.sync([alert("HighLatency", "P1")], now=now)
    by_name = {a["alertname"]: a for a in rows.incident_alerts(store, 1)}
    assert (by_name["ErrorRate"]["state"], by_name["ErrorRate"]["resolved_at"]) == ("resolved", 110)
    assert by_name["HighLatency"]["state"] == "firing"
    cleared = [e for e in rows.timeline(store, 1) if e["kind"] == "alert_resolved"]
    assert [(e["at"], e["message"]) for e in cleared] == [(110, "ErrorRate resolved")]
    assert alert_values(gather(store, 1, 130), by_name["ErrorRate"])["clear"] == 0.01
    with pytest.raises(StillFiringError, match=r"1 firing alert\(s\) \(HighLatency\)"):
        HumanActions(store, Router([])).move(1, IncidentStatus.RESOLVED, "alice", "", 131)

    svc.sync([alert("HighLatency", "P1"), alert("ErrorRate", "P2")], now=140)
    back = {a["alertname"]: a for a in rows.incident_alerts(store, 1)}["ErrorRate"]
    assert (back["state"], back["resolved_at"]) == ("firing", None)
    assert sum(1 for e in rows.timeline(store, 1) if e["message"].startswith("ErrorRate firing")) == 2


def test_an_incident_reopened_by_hand_stays_open_until_resolved_by_hand(store: Store) -> None:
    """No alert fires, yet on-call says customers still see errors: the daemon must not
    resolve it again (and page 'resolved') one hold later. Alerts that fire after the
    reopen and clear hand it back to the daemon."""
    svc = service(store, hold=60)
    human = HumanActions(store, Router([Route("pager")]))
    svc.sync([alert("HighLatency", "P1")], now=100)
    for now in (110, 120, 180):
        svc.sync([], now=now)
    assert (rows.get_incident(store, 1) or pytest.fail()).status is IncidentStatus.RESOLVED
    human.move(1, IncidentStatus.DETECTED, "alice", "customers still see checkout errors", 300)
    for now in (301, 305, 362, 1000, 5000):
        assert svc.sync([], now=now).resolved == []
    inc = rows.get_incident(store, 1)
    assert inc is not None and inc.status is IncidentStatus.DETECTED and inc.clear_since is None
    assert opens(store, 1) == ["open", "resolve", "reopen"]
    reopened = [e for e in rows.timeline(store, 1) if e["kind"] == "detected"][-1]
    assert "stays open until resolved by hand" in reopened["message"]

    svc.sync([alert("ErrorRate", "P2")], now=5100)  # the daemon sees it now ...
    svc.sync([], now=5110)  # ... clears ...
    assert svc.sync([], now=5170).resolved == [1]  # ... and resolves it after the hold
    assert opens(store, 1) == ["open", "resolve", "reopen", "resolve"]


def test_an_incident_reopened_by_hand_is_resolved_by_hand(store: Store) -> None:
    """Even when an alert row was left firing by a forced resolve and is only found
    clear after the reopen: it did not fire after the reopen, so it hands nothing back."""
    svc = service(store, hold=0)
    human = HumanActions(store, Router([]))
    svc.sync([alert("HighLatency", "P1")], now=100)
    human.move(1, IncidentStatus.RESOLVED, "alice", "rolled back", 110, force=True)
    svc.sync([], now=120)  # gone while resolved: its row still says firing
    human.move(1, IncidentStatus.DETECTED, "alice", "still broken", 200)
    for now in (201, 202, 300):
        assert svc.sync([], now=now).resolved == []
    assert [a["state"] for a in rows.incident_alerts(store, 1)] == ["resolved"]
    human.move(1, IncidentStatus.RESOLVED, "alice", "rolled back again", 400)
    inc = rows.get_incident(store, 1)
    assert inc is not None and inc.status is IncidentStatus.RESOLVED and inc.resolved_at == 400
