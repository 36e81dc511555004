"""The escalation policy: when nobody acknowledges a page, page the next person.

Re-pages (:mod:`triaged.outbox.repage`) wake the same on-call again; a primary who is
asleep, out of signal or off sick never answers them. ``escalation_policy:`` names who
is paged next, and when::

    escalation_policy:
      - {after: 15m, to: secondary-oncall}
      - {after: 30m, to: eng-manager, severities: [P0]}

Each step pages its receiver once per incident lifetime, counted from the open (or the
reopen), while the incident is still unacknowledged. The page is recorded like a
re-page: the ack cancels it if it has not gone yet, and the receiver then hears the
incident's ack and resolve as every receiver that was paged does. Steps pause while
every firing alert of the incident is muted, as re-pages do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import structlog

from triaged.alerts.route import Destination, EscalationStep, Router
from triaged.durations import format_duration
from triaged.incidents.model import Incident
from triaged.incidents.notify import Notifications
from triaged.incidents.page_message import build_message, dedup_key
from triaged.messages import Event
from triaged.outbox.repage import awaiting_ack
from triaged.store.db import Store

log = structlog.get_logger("triaged.outbox")


class Escalation:
    def __init__(self, store: Store, router: Router, steps: Sequence[EscalationStep] = ()) -> None:
        self.store = store
        self.steps = list(steps)
        self.notify = Notifications(store, router)

    def sweep(self, now: float) -> int:
        """Record the escalation pages that are due at ``now``. Returns how many."""
        if not self.steps:
            return 0
        added = 0
        with self.store.atomic():
            for incident in awaiting_ack(self.store):
                added += sum(self._page(s, incident, now) for s in self.steps if self._due(s, incident, now))
        return added

    @staticmethod
    def _due(step: EscalationStep, incident: Incident, now: float) -> bool:
        return incident.severity in step.severities and now - incident.lifetime.started_at >= step.after_s

    def _page(self, step: EscalationStep, incident: Incident, now: float) -> int:
        waited = format_duration(step.after_s)
        message = build_message(self.store, incident, Event.REPAGE, None)
        message = replace(
            message,
            # One per step and lifetime: a re-run after a crash records nothing twice.
            dedup_key=f"{dedup_key(incident, Event.REPAGE)}-unacked-{int(step.after_s)}s-{step.to}",
            title=f"[{incident.severity.name}][NO ACK IN {waited}] {incident.title}",
            body=f"Nobody has acknowledged this page for {waited}: escalated to {step.to}.\n" + message.body,
        )
        dest = Destination(receiver=step.to, path=f"escalation policy (no ack in {waited})")
        added = self.notify.enqueue(incident, message, now, only=dest)
        if added:
            log.warning("escalated_unacknowledged", incident_id=incident.id, to=step.to, after_s=step.after_s)
        return added
