"""Daily reminders through the outbox, stepped with a fake clock: due soon, overdue and
late postmortems are reminded once per item per day, and delivered by the dispatcher."""

from __future__ import annotations

from triaged.alerts.route import Route, Router
from triaged.incidents.actions import ActionStatus
from triaged.incidents.followup import FollowUp, NewItem
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.incidents.reminders import ReminderPolicy, send_reminders
from triaged.messages import Event
from triaged.model import Severity
from triaged.outbox.dispatcher import Dispatcher
from triaged.store import Store
from triaged.store import actions as action_rows
from triaged.testing.clock import FakeClock
from triaged.testing.notifier import RecordingNotifier

from .conftest import T0, MakeIncident

HOUR = 3600.0


def item(follow: FollowUp, incident_id: int, title: str, owner: str, due_in_h: float) -> int:
    return follow.add(incident_id, NewItem(title, owner, f"{due_in_h}h", "high", "short-term"), "lead", T0).id


def test_owners_are_reminded_once_a_day_of_items_due_soon_or_overdue(
    store: Store, make_incident: MakeIncident
) -> None:
    clock = FakeClock(T0)
    inc = make_incident(severity=Severity.P1, resolved_at=300.0)
    quiet = make_incident(severity=Severity.P3, service="batch", resolved_at=300.0)
    follow = FollowUp(store)
    soon = item(follow, inc.id, "Add a readiness check for the payment gateway", "alice", 12)
    later = item(follow, inc.id, "Move the DB pool limit into validated config", "bob", 120)
    overdue = item(follow, quiet.id, "Alert on batch queue age above ten minutes", "carol", 1)
    finished = item(follow, inc.id, "Document the payment gateway failover runbook", "dan", 2)
    follow.move(finished, ActionStatus.DONE, "dan", T0 + 60)

    recorder = RecordingNotifier("pager")
    dispatcher = Dispatcher(store, {"pager": recorder})
    router = Router([Route("pager", events=frozenset({Event.REMINDER}))])
    policy, pms = ReminderPolicy(remind_before_s=24 * HOUR), PostmortemPolicy(due_s=48 * HOUR)

    clock.advance(2 * HOUR)  # day 1, 02:00 after T0
    assert send_reminders(store, router, clock.now(), policy, pms) == 2
    assert send_reminders(store, router, clock.now() + HOUR, policy, pms) == 0, "once per item per day"
    dispatcher.dispatch(clock.now())
    titles = sorted(m.title for m in recorder.sent)
    assert titles == [
        f"[reminder] alice: action item #{soon} due in 10h",
        f"[reminder] carol: action item #{overdue} overdue by 1h",
    ]
    assert all(m.event == "reminder" for m in recorder.sent)
    assert recorder.sent[0].dedup_key.startswith("triaged-reminder-action-")

    clock.advance(24 * HOUR)  # the next day: the postmortem is now due within a day
    assert send_reminders(store, router, clock.now(), policy, pms) == 4
    dispatcher.dispatch(clock.now())
    new = sorted(m.title for m in recorder.sent[2:])
    assert new == [
        f"[reminder] alice: action item #{soon} overdue by 14h",
        f"[reminder] carol: action item #{overdue} overdue by 1d1h",
        # Done a day ago and not verified yet: whoever verifies is reminded.
        f"[reminder] dan: verify action item #{finished} (done 1d1h59m ago)",
        f"[reminder] postmortem of incident #{inc.id} due in 22h5m",
    ]
    assert all(f"#{later} " not in t for t in new), "items due in five days are left alone"


def test_late_postmortems_are_reminded_until_completed(store: Store, make_incident: MakeIncident) -> None:
    inc = make_incident(severity=Severity.P0, resolved_at=0.0)
    router = Router([Route("pager", events=frozenset({Event.REMINDER}))])
    now = T0 + 50 * HOUR
    assert send_reminders(store, router, now, ReminderPolicy(), PostmortemPolicy()) == 1
    from triaged.store import outbox

    (row,) = outbox.rows_for_incident(store, inc.id)
    assert row.event == "reminder" and "late by 2h" in row.payload["title"]
    assert action_rows.list_items(store) == []


def test_a_reminder_slot_near_midnight_reminds_every_day_across_a_clock_change(
    store: Store, make_incident: MakeIncident
) -> None:
    """remind_at 00:30 in London: on the Monday after the clocks go forward the slot is
    23:30 UTC on Sunday, the same UTC day as Sunday's 00:30 GMT slot. Keyed by UTC day,
    Monday's reminder was taken for Sunday's and never sent."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from triaged.incidents.reminders import last_slot

    london = ZoneInfo("Europe/London")  # BST from 01:00 GMT on 2027-03-28
    policy = ReminderPolicy(remind_at=(0, 30), tz=london)
    inc = make_incident(severity=Severity.P0, resolved_at=0.0)  # its postmortem is late
    router = Router([Route("pager", events=frozenset({Event.REMINDER}))])
    sent = []
    for date in (27, 28, 29, 30):
        now = datetime(2027, 3, date, 0, 31, tzinfo=london).timestamp()
        sent.append(
            send_reminders(store, router, now, policy, PostmortemPolicy(), slot=last_slot(now, policy))
        )
    assert sent == [1, 1, 1, 1], f"late postmortem of #{inc.id} reminded each day"
