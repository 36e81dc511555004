"""What on-call engineers do to an incident by hand: move it through the lifecycle or
add a note, each step timestamped with who and why, and announced where routed."""

from __future__ import annotations

from triaged.alerts.route import Router
from triaged.incidents.model import Incident, IncidentStatus, transition
from triaged.incidents.notify import Notifications
from triaged.incidents.service import build_message
from triaged.messages import Event
from triaged.store import incidents as rows
from triaged.store.db import Store


class HumanActions:
    """What on-call engineers do to an incident, each step timestamped with who and why."""

    def __init__(self, store: Store, router: Router) -> None:
        self.store = store
        self.router = router

    def move(self, incident_id: int, target: IncidentStatus, actor: str, reason: str, now: float) -> Incident:
        with self.store.atomic():
            incident = self._get(incident_id)
            previous = incident.status
            transition(incident, target, now)
            rows.update_incident(self.store, incident)
            text = f"{previous} → {target}" + (f": {reason}" if reason else "")
            rows.add_timeline(
                self.store,
                incident.id,
                now,
                target.value,
                text,
                actor=actor,
                data={"from": previous.value, "to": target.value, "reason": reason},
            )
            event = {
                IncidentStatus.ACKNOWLEDGED: Event.ACK,
                IncidentStatus.RESOLVED: Event.RESOLVE,
                IncidentStatus.DETECTED: Event.REOPEN,
            }.get(target)
            if event is not None:
                message = build_message(self.store, incident, event, None)
                Notifications(self.store, self.router).enqueue(incident, message, now, on_timeline=False)
        return incident

    def note(self, incident_id: int, actor: str, text: str, now: float) -> None:
        with self.store.atomic():
            self._get(incident_id)
            rows.add_timeline(self.store, incident_id, now, "note", text, actor=actor)

    def _get(self, incident_id: int) -> Incident:
        incident = rows.get_incident(self.store, incident_id)
        if incident is None:
            raise LookupError(f"no incident #{incident_id}")
        return incident
