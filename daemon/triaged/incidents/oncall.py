"""On-call edits beyond status moves: who owns an incident and how bad it is.

Written next to ``HumanActions`` rather than inside it so the incident service stays
about alerts; the same rules apply: timestamped with who and why, one transaction, a
worse severity pages again through the outbox.
"""

from __future__ import annotations

from triaged.alerts.route import Router
from triaged.incidents.hand_severity import holds_note
from triaged.incidents.model import Incident
from triaged.incidents.notify import Notifications
from triaged.incidents.page_message import build_message
from triaged.messages import Event
from triaged.model import Severity
from triaged.store import incidents as rows
from triaged.store.db import Store


class OnCall:
    def __init__(self, store: Store, router: Router | None) -> None:
        # None (the CLI): escalations are recorded for the running daemon to route.
        self.store = store
        self.router = router

    def assign(self, incident_id: int, assignee: str, actor: str, reason: str, now: float) -> Incident:
        assignee = assignee.strip()
        if not assignee:
            raise ValueError("assignee must not be empty")
        with self.store.atomic():
            inc = self._get(incident_id)
            previous = inc.assignee
            inc.assignee = assignee
            inc.updated_at = now
            rows.update_incident(self.store, inc)
            rows.add_timeline(
                self.store,
                inc.id,
                now,
                "assigned",
                f"assigned to {assignee}"
                + (f" (was {previous})" if previous else "")
                + (f": {reason}" if reason else ""),
                actor=actor,
                data={"from": previous, "to": assignee, "reason": reason},
            )
        return inc

    def set_severity(
        self, incident_id: int, severity: Severity, actor: str, reason: str, now: float
    ) -> Incident:
        """Change severity by hand. A worse severity is announced like an escalation.
        The alerts firing now are what the human judged: the daemon only overrides the
        choice for an alert worse than the worst of them (see ``IncidentService``)."""
        with self.store.atomic():
            inc = self._get(incident_id)
            old = inc.severity
            if old == severity:
                raise ValueError(f"incident #{incident_id} is already {severity}")
            seen = self._worst_firing(inc.id)
            inc.severity = severity
            inc.severity_set_by, inc.severity_seen = actor, seen
            inc.updated_at = now
            rows.update_incident(self.store, inc)
            verb = "raised" if severity < old else "lowered"
            rows.add_timeline(
                self.store,
                inc.id,
                now,
                "severity",
                f"severity {verb} {old} → {severity}"
                + (f": {reason}" if reason else "")
                + holds_note(old, severity, seen),
                actor=actor,
                data={
                    "from": old.name,
                    "to": severity.name,
                    "reason": reason,
                    "seen": seen.name if seen is not None else None,
                },
            )
            if severity < old and inc.is_open:
                self._announce(inc, now)
        return inc

    def _announce(self, inc: Incident, now: float) -> None:
        # Through Notifications, as an automatic escalation: the same routing labels,
        # timing, ordering and timeline entries.
        Notifications(self.store, self.router).enqueue(
            inc, build_message(self.store, inc, Event.ESCALATE, None), now
        )

    def _worst_firing(self, incident_id: int) -> Severity | None:
        firing = [r for r in rows.incident_alerts(self.store, incident_id) if r["state"] == "firing"]
        return min((Severity[r["severity"]] for r in firing), default=None)

    def _get(self, incident_id: int) -> Incident:
        inc = rows.get_incident(self.store, incident_id)
        if inc is None:
            raise LookupError(f"no incident #{incident_id}")
        return inc
