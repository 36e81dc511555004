"""Daily reminders: postmortems coming due or late, action items due soon or overdue,
and done items still waiting for someone to verify them.

Each reminder is an outbox row (``Event.REMINDER``) routed like any notification, with
a dedup key per item per local day (the zone of ``remind_at``): running the job twice
in a day, or after a restart, never reminds twice. The daemon's job keys the day by the
day's ``remind_at`` slot (:func:`last_slot`), so a catch-up run at start-up and the
scheduled run share keys. Local, not UTC: a slot near midnight moves across the UTC
date line when the clocks change, and two days' slots would share a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from triaged.alerts.route import Router
from triaged.incidents.actions import ActionItem, ActionStatus
from triaged.incidents.model import Incident
from triaged.incidents.postmortem_due import PostmortemPolicy, postmortems_owed
from triaged.incidents.timing import human
from triaged.messages import Event, Message
from triaged.store import actions as action_rows
from triaged.store import incidents as rows
from triaged.store import outbox
from triaged.store.db import Store


@dataclass(frozen=True)
class ReminderPolicy:
    # Action items due within this are reminded; a done item unverified this long too.
    remind_before_s: float = 86_400.0
    remind_at: tuple[int, int] = (9, 0)  # the daily job's (hour, minute), local time
    tz: tzinfo | None = None  # None: the machine's zone, as the scheduler's cron uses


def day(ts: float, policy: ReminderPolicy) -> str:
    """The local date of ``ts`` in the reminders' zone: the day a reminder is for."""
    return _local(ts, policy).strftime("%Y-%m-%d")


def _local(ts: float, policy: ReminderPolicy) -> datetime:
    return datetime.fromtimestamp(ts, policy.tz) if policy.tz else datetime.fromtimestamp(ts).astimezone()


def last_slot(now: float, policy: ReminderPolicy) -> float:
    """The latest daily ``remind_at`` at or before ``now``."""
    local = _local(now, policy)
    hour, minute = policy.remind_at
    slot = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if slot > local:
        slot -= timedelta(days=1)
    return slot.timestamp()


def slot_passed_today(now: float, policy: ReminderPolicy) -> bool:
    """Whether today's ``remind_at`` (local) has come: a daemon that starts after it
    missed today's job (a cron job has no catch-up), so it runs it at start-up."""
    return _local(last_slot(now, policy), policy).date() == _local(now, policy).date()


def send_reminders(
    store: Store,
    router: Router,
    now: float,
    policy: ReminderPolicy,
    postmortems: PostmortemPolicy,
    *,
    slot: float | None = None,
) -> int:
    """Queue today's reminders. Returns how many outbox rows were added. ``slot``: the
    scheduled time this run stands for (its local day keys the reminders); default ``now``."""
    added = 0
    today = day(now if slot is None else slot, policy)
    with store.atomic():
        for item in action_rows.list_items(store, statuses=(ActionStatus.OPEN, ActionStatus.IN_PROGRESS)):
            if item.due_at - now > policy.remind_before_s:
                continue
            inc = rows.get_incident(store, item.incident_id)
            if inc is not None:
                added += _enqueue(store, router, inc, _action_message(inc, item, now, today), now)
        for item in action_rows.list_items(store, statuses=(ActionStatus.DONE,)):
            # A day's grace: whoever verifies gets a chance before being reminded.
            if item.done_at is None or now - item.done_at < policy.remind_before_s:
                continue
            inc = rows.get_incident(store, item.incident_id)
            if inc is not None:
                added += _enqueue(store, router, inc, _verify_message(inc, item, now, today), now)
        for owed in postmortems_owed(store, now, postmortems):
            if owed.due_at - now > policy.remind_before_s and not owed.late:
                continue
            message = _postmortem_message(owed.incident, owed.due_at, owed.record, now, today)
            added += _enqueue(store, router, owed.incident, message, now)
    return added


def _verify_message(inc: Incident, item: ActionItem, now: float, today: str) -> Message:
    """A done item is not closed until someone checks the change did what it promised.
    The incident's owner is asked when there is one (a second pair of eyes); else the
    item's own owner."""
    assert item.done_at is not None
    who = inc.assignee or item.owner
    body = [
        f"Action item #{item.id} ({item.owner}) was marked done {human(now - item.done_at)} ago and"
        f" is not verified yet: {item.title}",
        f"From incident #{inc.id}: {inc.title}",
        f"Did it work?  triaged actions verify {item.id}"
        f"   (if not: triaged actions verify {item.id} --failed -m 'what the check found')",
    ]
    return _message(
        inc,
        f"triaged-reminder-verify-{item.id}-{today}",
        f"[reminder] {who}: verify action item #{item.id} (done {human(now - item.done_at)} ago)",
        body,
    )


def _action_message(inc: Incident, item: ActionItem, now: float, today: str) -> Message:
    late = now - item.due_at
    when = f"overdue by {human(late)}" if late > 0 else f"due in {human(-late)}"
    body = [
        f"Action item #{item.id} for {item.owner} is {when}: {item.title}",
        f"Priority {item.priority}, {item.type}; from incident #{inc.id}: {inc.title}",
        f"Done?  triaged actions done {item.id}   (then someone verifies: triaged actions verify {item.id})",
    ]
    return _message(
        inc,
        f"triaged-reminder-action-{item.id}-{today}",
        f"[reminder] {item.owner}: action item #{item.id} {when}",
        body,
    )


def _postmortem_message(
    inc: Incident, due_at: float, record: dict[str, Any] | None, now: float, today: str
) -> Message:
    late = now - due_at
    when = f"late by {human(late)}" if late > 0 else f"due in {human(-late)}"
    body = [
        f"The postmortem of {inc.severity.name} incident #{inc.id} is {when}: {inc.title}",
        *_postmortem_next(inc.id, record, now),
    ]
    return _message(
        inc,
        f"triaged-reminder-postmortem-{inc.id}-{today}",
        f"[reminder] postmortem of incident #{inc.id} {when}",
        body,
    )


def _postmortem_next(incident_id: int, record: dict[str, Any] | None, now: float) -> list[str]:
    """What is left: draft it, or (once drafted) where the draft is and how to finish."""
    if record is None:
        return [f"Draft it from the recorded evidence:  triaged postmortem draft {incident_id}"]
    flagged = int(record.get("findings") or 0)
    review = f"; {flagged} blameful phrase(s) were flagged when drafted" if flagged else ""
    return [
        f"Drafted {human(now - record['drafted_at'])} ago by {record['drafted_by']}: {record['path']}",
        "Left: fill in root cause, impact and lessons, action items with owners"
        f"{review}; then  triaged postmortem check {incident_id}  and"
        f"  triaged postmortem complete {incident_id}",
    ]


def _message(inc: Incident, key: str, title: str, body: list[str]) -> Message:
    return Message(
        dedup_key=key,
        event=Event.REMINDER,
        incident_id=inc.id,
        severity=inc.severity,
        title=title,
        body="\n".join(body),
        service=inc.service,
        started_at=inc.detected_at,
        resolved_at=inc.resolved_at,
        labels=dict(inc.labels),
    )


def _enqueue(store: Store, router: Router, inc: Incident, message: Message, now: float) -> int:
    added = 0
    for receiver in router.receivers(inc.labels, inc.severity, Event.REMINDER):
        if outbox.enqueue(
            store,
            incident_id=inc.id,
            event=Event.REMINDER.value,
            receiver=receiver,
            dedup_key=message.dedup_key,
            payload=message.to_dict(),
            now=now,
        ):
            added += 1
    return added
