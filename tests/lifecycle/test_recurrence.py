"""A new incident with the same rule or service re-flags earlier open action items."""

from __future__ import annotations

from triaged.alerts.route import Router
from triaged.incidents.actions import ActionStatus
from triaged.incidents.followup import FollowUp, NewItem, flag_recurrence
from triaged.incidents.lifecycle import Lifecycle
from triaged.incidents.model import IncidentStatus
from triaged.promql import Engine
from triaged.store import Store
from triaged.store import incidents as rows
from triaged.tsdb import Storage

from .conftest import T0, MakeIncident


def test_recurrence_flags_the_still_open_items_of_earlier_incidents(
    store: Store, make_incident: MakeIncident
) -> None:
    first = make_incident(rule="DBPoolSaturation", service="api", resolved_at=600.0)
    follow = FollowUp(store)
    open_item = follow.add(
        first.id,
        NewItem("Raise DB_POOL_MAX and validate it at startup", "alice", "7d", "high", "immediate"),
        "x",
        T0,
    )
    closed = follow.add(
        first.id,
        NewItem("Alert on DB pool above eighty percent", "bob", "7d", "medium", "monitoring"),
        "x",
        T0,
    )
    follow.move(closed.id, ActionStatus.DONE, "bob", T0 + 10)
    follow.move(closed.id, ActionStatus.VERIFIED, "carol", T0 + 20)
    other = make_incident(rule="Unrelated", service="billing", resolved_at=600.0)
    follow.add(
        other.id,
        NewItem("Retry billing exports on gateway timeouts", "dan", "7d", "low", "long-term"),
        "x",
        T0,
    )

    again = make_incident(
        rule="DBPoolSaturation", service="api", status=IncidentStatus.DETECTED, detected=86_400, opened=86_460
    )
    # Through the daemon hook, as Daemon.cycle calls it after incidents.sync.
    Lifecycle(store, Engine(Storage()), Router([])).after_sync([again.id], [], T0 + 86_460)

    (entry,) = [e for e in rows.timeline(store, again.id) if e["kind"] == "recurrence"]
    assert entry["message"].startswith(
        f"this happened before (incident #{first.id}); these action items are still open"
    )
    assert f"#{open_item.id} Raise DB_POOL_MAX" in entry["message"] and "owner alice" in entry["message"]
    assert entry["data"]["action_ids"] == [open_item.id]


def test_no_flag_without_open_items(store: Store, make_incident: MakeIncident) -> None:
    make_incident(rule="A", service="api")
    new = make_incident(rule="A", service="api", status=IncidentStatus.DETECTED, opened=999)
    assert flag_recurrence(store, new, T0 + 999) == []
    assert [e for e in rows.timeline(store, new.id) if e["kind"] == "recurrence"] == []


def test_review_another_rule_of_the_same_service_is_not_a_recurrence(
    store: Store, make_incident: MakeIncident
) -> None:
    first = make_incident(rule="DiskFull", service="api", resolved_at=600.0)
    item = FollowUp(store).add(
        first.id,
        NewItem("Rotate the api access logs every hour", "asha", "7d", "medium", "short-term"),
        "x",
        T0,
    )
    new = make_incident(rule="HighLatency", service="api", status=IncidentStatus.DETECTED, opened=999)
    assert [a.id for a in flag_recurrence(store, new, T0 + 999)] == [item.id]
    kinds = {e["kind"]: e["message"] for e in rows.timeline(store, new.id)}
    assert "recurrence" not in kinds, "a different rule did not happen before"
    assert kinds["related_items"].startswith(
        f"other incidents of service api (#{first.id}, other rules) have unfinished action items"
    )
    assert f"#{item.id} Rotate the api access logs" in kinds["related_items"]


def test_review_a_grouped_alert_of_the_same_rule_is_a_recurrence(
    store: Store, make_incident: MakeIncident
) -> None:
    first = make_incident(rule="HighLatency", service="api", resolved_at=600.0)
    rows.upsert_incident_alert(
        store,
        first.id,
        {
            "fingerprint": "f", "alertname": "DBPoolSaturation", "labels": {"alertname": "DBPoolSaturation"},
            "annotations": {}, "severity": "P1", "state": "resolved", "expr": "m > 1",
            "active_at": T0, "fired_at": T0 + 60, "resolved_at": T0 + 300, "value": 2.0,
        },
    )  # fmt: skip
    FollowUp(store).add(
        first.id,
        NewItem("Raise DB_POOL_MAX and validate it at startup", "alice", "7d", "high", "immediate"),
        "x",
        T0,
    )
    new = make_incident(rule="DBPoolSaturation", service="api", status=IncidentStatus.DETECTED, opened=999)
    flag_recurrence(store, new, T0 + 999)
    kinds = [e["kind"] for e in rows.timeline(store, new.id)]
    assert kinds == ["recurrence"]


def test_the_same_rule_on_another_service_is_related_not_a_recurrence(
    store: Store, make_incident: MakeIncident
) -> None:
    """ServiceDown on `payments` did not happen before because `search` went down last
    week: the note says the rule fired elsewhere, and the postmortem leaves it out."""
    first = make_incident(rule="ServiceDown", service="search", resolved_at=600.0)
    item = FollowUp(store).add(
        first.id, NewItem("Add a readiness probe to search", "asha", "7d", "medium", "short-term"), "x", T0
    )
    new = make_incident(rule="ServiceDown", service="payments", status=IncidentStatus.DETECTED, opened=999)
    assert [a.id for a in flag_recurrence(store, new, T0 + 999)] == [item.id]
    kinds = {e["kind"]: e["message"] for e in rows.timeline(store, new.id)}
    assert "recurrence" not in kinds
    assert kinds["related_items"].startswith(f"the same rule fired on other services (#{first.id})")
