"""Alerts → incidents: one incident per service, worst severity wins, hold before
auto-resolve, reopen within the window, and every change recorded with its page."""

from __future__ import annotations

import pytest

from triaged.alerts.route import Route, Router
from triaged.incidents.human import HumanActions
from triaged.incidents.model import ALLOWED, Incident, IncidentStatus, TransitionError, transition
from triaged.incidents.service import IncidentPolicy, IncidentService
from triaged.model import Labels, Severity
from triaged.rules.alerting import Alert, AlertState
from triaged.store import Store, outbox
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
