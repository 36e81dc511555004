"""What each receiver shows the on-call: the runbook and description, who acted, and
an escalation that reads as one, rendered from one message by every notifier."""

from __future__ import annotations

from triaged.alerts.route import Route, Router
from triaged.incidents.human import HumanActions
from triaged.incidents.model import Incident, IncidentStatus
from triaged.incidents.oncall import OnCall
from triaged.messages import AlertSummary, Event, Message
from triaged.model import Severity
from triaged.notifiers.oci_ons import render
from triaged.notifiers.pagerduty import pagerduty_event
from triaged.notifiers.webhook import alertmanager_payload
from triaged.store import Store, announcements, outbox
from triaged.store import incidents as rows

S = IncidentStatus
RUNBOOK = "https://runbooks.example.com/api/latency"
ANNOTATIONS = {"summary": "api is slow", "description": "p95 is 2 s on api", "runbook_url": RUNBOOK}


def incident(store: Store) -> Incident:
    """A paged P1 incident with one recorded firing alert, as the daemon leaves it."""
    inc = rows.insert_incident(
        store, Incident(0, "g", "api", "api is slow", Severity.P1, S.DETECTED, 0, 0, 0)
    )
    rows.upsert_incident_alert(
        store,
        inc.id,
        {
            "fingerprint": "f1", "alertname": "HighLatency", "labels": {"alertname": "HighLatency", "service": "api"},
            "annotations": ANNOTATIONS, "severity": "P1", "state": "firing", "expr": "lat > 1",
            "active_at": 0.0, "fired_at": 0.0, "resolved_at": None, "value": 2.0,
        },
    )  # fmt: skip
    return inc


def queued(store: Store, inc: Incident, event: str) -> Message:
    (row,) = [r for r in outbox.rows_for_incident(store, inc.id) if r.event == event]
    return Message.from_dict(row.payload)


def message(event: Event, title: str, body: str = "b") -> Message:
    alert = AlertSummary("HighLatency", {"alertname": "HighLatency"}, ANNOTATIONS, 2.0, "firing", 1.0)
    return Message(
        f"triaged-7-{event}", event, 7, Severity.P0, title, body, "api", 1.0,
        annotations=ANNOTATIONS, alerts=(alert,),
    )  # fmt: skip


def test_an_ack_by_hand_says_who_and_why_and_asks_for_no_ack(store: Store) -> None:
    inc = incident(store)
    HumanActions(store, Router([Route("pager")])).move(inc.id, S.ACKNOWLEDGED, "asha", "on it", 10)
    ack = queued(store, inc, "ack")
    assert ack.title == "[P1][ACK] api is slow"
    assert "Acknowledged by asha: on it" in ack.body
    assert "Acknowledge:" not in ack.body
    assert f"Runbook: {RUNBOOK}" in ack.body and "p95 is 2 s on api" in ack.body
    assert [a.rule for a in ack.alerts] == ["HighLatency"]


def test_without_a_router_the_change_is_left_to_the_daemon(store: Store) -> None:
    inc = incident(store)
    HumanActions(store, None).move(inc.id, S.INVESTIGATING, "asha", "", 10)
    assert outbox.rows_for_incident(store, inc.id) == []
    (intent,) = announcements.pending(store)
    assert (intent.event, intent.severity, intent.on_timeline) == ("ack", "P1", False)
    assert "Acknowledged by asha (investigating)" in intent.payload["body"]


def test_a_hand_escalation_names_the_severity_it_came_from(store: Store) -> None:
    inc = incident(store)
    OnCall(store, Router([Route("pager")])).set_severity(inc.id, Severity.P0, "asha", "all down", 10)
    esc = queued(store, inc, "escalate")
    assert esc.title == "[P0][ESCALATED from P1] api is slow"
    assert "Escalated P1 → P0 by asha: all down" in esc.body
    assert esc.alerts[0].annotations["runbook_url"] == RUNBOOK


def test_pagerduty_links_the_runbook_and_carries_the_annotations() -> None:
    event = pagerduty_event(message(Event.OPEN, "[P0] api is slow"), "KEY", "triaged")
    assert event["links"] == [{"href": RUNBOOK, "text": "Runbook"}]
    details = event["payload"]["custom_details"]
    assert details["annotations"]["description"] == "p95 is 2 s on api"
    assert details["alerts"][0]["annotations"]["runbook_url"] == RUNBOOK


def test_every_receiver_tells_an_escalation_from_a_new_page(store: Store) -> None:
    inc = incident(store)
    OnCall(store, Router([Route("pager")])).set_severity(inc.id, Severity.P0, "asha", "", 10)
    esc = queued(store, inc, "escalate")
    assert pagerduty_event(esc, "K", "t")["payload"]["summary"].startswith("[P0][ESCALATED from P1] ")
    assert alertmanager_payload(esc, "hook")["title"].startswith("[P0][ESCALATED from P1] ")
    assert render(esc)[0].startswith("[P0][ESCALATED from P1] ")


def test_ons_keeps_the_message_tags_and_does_not_tag_twice() -> None:
    title, _ = render(message(Event.ESCALATE, "[P0][ESCALATED from P1] api is slow"))
    assert title == "[P0][ESCALATED from P1] api is slow"
    title, _ = render(message(Event.ACK, "[P0][ACK] api is slow"))
    assert title == "[P0][ACK] api is slow"


def test_ons_ack_notice_has_no_ack_command_and_no_repeated_lines() -> None:
    _, body = render(message(Event.ACK, "[P0][ACK] api is slow", f"Acknowledged by asha\nRunbook: {RUNBOOK}"))
    assert "Acknowledge:" not in body
    assert body.count(f"Runbook: {RUNBOOK}") == 1
    _, page = render(message(Event.OPEN, "[P0] api is slow"))
    assert "Acknowledge: triaged incidents ack 7" in page


def test_webhook_without_alerts_still_shows_the_runbook() -> None:
    bare = Message(
        "triaged-7-ack", Event.ACK, 7, Severity.P1, "[P1][ACK] x", "b", "api", 1.0, annotations=ANNOTATIONS
    )
    (alert,) = alertmanager_payload(bare, "hook")["alerts"]
    assert alert["annotations"]["runbook_url"] == RUNBOOK
