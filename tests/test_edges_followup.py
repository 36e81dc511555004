"""Follow-up details no other test pinned down (found by a mutation audit): recurrence
without a service label, reminders for items in progress, and the daily slot's edges."""

from __future__ import annotations

from datetime import UTC, datetime

from triaged.alerts.route import Route, Router
from triaged.incidents.actions import ActionStatus
from triaged.incidents.followup import FollowUp, NewItem, flag_recurrence
from triaged.incidents.model import Incident, IncidentStatus
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.incidents.reminders import ReminderPolicy, last_slot, send_reminders, slot_passed_today
from triaged.messages import Event
from triaged.model import Severity
from triaged.store import Store, outbox
from triaged.store import incidents as rows

T0 = 1_790_000_000.0
HOUR = 3600.0
REMINDERS = Router([Route("pager", events=frozenset({Event.REMINDER}))])


def incident(store: Store, *, rule: str, service: str, opened: float, status: IncidentStatus) -> Incident:
    group = f"service={service}" if service else f"alertname={rule}"
    return rows.insert_incident(store, Incident(
        id=0, group_key=group, service=service, title=f"{rule} {service}".strip(), severity=Severity.P2,
        status=status, detected_at=opened, opened_at=opened, updated_at=opened, rule=rule, expr=f"{rule} > 1",
        labels={"service": service} if service else {"alertname": rule},
    ))  # fmt: skip


def item(store: Store, incident_id: int, title: str, due: str, now: float = T0) -> int:
    return (
        FollowUp(store).add(incident_id, NewItem(title, "alice", due, "high", "short-term"), "lead", now).id
    )


def reminder_keys(store: Store, incident_id: int) -> list[str]:
    return [r.dedup_key for r in outbox.rows_for_incident(store, incident_id) if r.event == "reminder"]


def test_a_rule_without_a_service_label_that_fires_again_is_a_recurrence(store: Store) -> None:
    """DiskFull carries no service label. It fires again while last time's action item
    is still open: on-call is told "this happened before" (a recurrence, which the
    postmortem lists under what did not go well), not a vague "related" hint."""
    first = incident(store, rule="DiskFull", service="", opened=T0, status=IncidentStatus.RESOLVED)
    pending = item(store, first.id, "Rotate the batch logs daily", "7d")
    again = incident(store, rule="DiskFull", service="", opened=T0 + 86_400, status=IncidentStatus.DETECTED)
    flagged = flag_recurrence(store, again, T0 + 86_400)
    assert [a.id for a in flagged] == [pending]
    kinds = [e["kind"] for e in rows.timeline(store, again.id)]
    assert "recurrence" in kinds and "related_items" not in kinds


def test_items_in_progress_are_reminded_like_open_ones(store: Store) -> None:
    """Starting work on an action item does not stop its due-date reminder: an item
    someone picked up and forgot is the one most likely to slip."""
    inc = incident(store, rule="HighLatency", service="api", opened=T0, status=IncidentStatus.DETECTED)
    started = item(store, inc.id, "Add a readiness check", "12h")
    FollowUp(store).move(started, ActionStatus.IN_PROGRESS, "alice", T0 + 60)
    policy = ReminderPolicy(remind_before_s=24 * HOUR)
    assert send_reminders(store, REMINDERS, T0 + 2 * HOUR, policy, PostmortemPolicy()) == 1
    assert reminder_keys(store, inc.id) == [f"triaged-reminder-action-{started}-2026-09-21"]


def test_an_item_due_exactly_one_reminder_period_ahead_is_reminded(store: Store) -> None:
    """ "Due within a day" includes an item due in exactly 24 h."""
    inc = incident(store, rule="HighLatency", service="api", opened=T0, status=IncidentStatus.DETECTED)
    due_in_a_day = item(store, inc.id, "Document the failover runbook", "24h")
    policy = ReminderPolicy(remind_before_s=24 * HOUR)
    assert send_reminders(store, REMINDERS, T0, policy, PostmortemPolicy()) == 1
    assert reminder_keys(store, inc.id) == [f"triaged-reminder-action-{due_in_a_day}-2026-09-21"]


def test_the_daily_job_run_at_exactly_its_time_reminds_for_that_day(store: Store) -> None:
    """The scheduler fires the job at 09:00:00 sharp: that run stands for today's slot,
    so today's reminders go out. Taking it for yesterday's slot would reuse yesterday's
    dedup keys and remind nobody today."""
    policy = ReminderPolicy(remind_before_s=7 * 24 * HOUR, remind_at=(9, 0), tz=UTC)
    day1 = datetime(2026, 9, 21, 9, 0, 0, 500_000, tzinfo=UTC).timestamp()
    day2 = datetime(2026, 9, 22, 9, 0, 0, tzinfo=UTC).timestamp()
    assert last_slot(day2, policy) == day2
    assert slot_passed_today(day2, policy)
    inc = incident(
        store, rule="HighLatency", service="api", opened=day1 - HOUR, status=IncidentStatus.DETECTED
    )
    overdue = item(store, inc.id, "Alert on queue age", "1h", now=day1 - HOUR)
    for now in (day1, day2):
        send_reminders(store, REMINDERS, now, policy, PostmortemPolicy(), slot=last_slot(now, policy))
    assert reminder_keys(store, inc.id) == [
        f"triaged-reminder-action-{overdue}-2026-09-21",
        f"triaged-reminder-action-{overdue}-2026-09-22",
    ]
