"""Daily reminders: postmortems coming due or late, action items due soon or overdue.

Each reminder is an outbox row (``Event.REMINDER``) routed like any notification, with
a dedup key per item per UTC day: running the job twice in a day, or after a restart,
never reminds twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

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
    remind_before_s: float = 86_400.0  # action items due within this are reminded


def day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def send_reminders(
    store: Store, router: Router, now: float, policy: ReminderPolicy, postmortems: PostmortemPolicy
) -> int:
    """Queue today's reminders. Returns how many outbox rows were added."""
    added = 0
    with store.atomic():
        for item in action_rows.list_items(store, statuses=(ActionStatus.OPEN, ActionStatus.IN_PROGRESS)):
            if item.due_at - now > policy.remind_before_s:
                continue
            inc = rows.get_incident(store, item.incident_id)
            if inc is not None:
                added += _enqueue(store, router, inc, _action_message(inc, item, now), now)
        for owed in postmortems_owed(store, now, postmortems):
            if owed.due_at - now > policy.remind_before_s and not owed.late:
                continue
            added += _enqueue(
                store, router, owed.incident, _postmortem_message(owed.incident, owed.due_at, now), now
            )
    return added


def _action_message(inc: Incident, item: ActionItem, now: float) -> Message:
    late = now - item.due_at
    when = f"overdue by {human(late)}" if late > 0 else f"due in {human(-late)}"
    body = [
        f"Action item #{item.id} for {item.owner} is {when}: {item.title}",
        f"Priority {item.priority}, {item.type}; from incident #{inc.id}: {inc.title}",
        f"Done?  triaged actions done {item.id}   (then someone verifies: triaged actions verify {item.id})",
    ]
    return _message(
        inc,
        f"triaged-reminder-action-{item.id}-{day(now)}",
        f"[reminder] {item.owner}: action item #{item.id} {when}",
        body,
    )


def _postmortem_message(inc: Incident, due_at: float, now: float) -> Message:
    late = now - due_at
    when = f"late by {human(late)}" if late > 0 else f"due in {human(-late)}"
    body = [
        f"The postmortem of {inc.severity.name} incident #{inc.id} is {when}: {inc.title}",
        f"Draft it from the recorded evidence:  triaged postmortem draft {inc.id}",
    ]
    return _message(
        inc,
        f"triaged-reminder-postmortem-{inc.id}-{day(now)}",
        f"[reminder] postmortem of incident #{inc.id} {when}",
        body,
    )


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
