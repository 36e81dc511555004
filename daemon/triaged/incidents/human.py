"""What on-call engineers do to an incident by hand: move it through the lifecycle or
add a note, each step timestamped with who and why, and announced where routed.

Announced moves (ack, resolve, reopen) are routed here when a router is given (the
daemon's HTTP API); without one (the CLI) they are recorded for the running daemon to
route, in the same transaction as the move.

Repeating a step is not an error (two responders ack the same page): it changes
nothing and says so. Resolving by hand while alerts still fire, unsilenced, is
refused unless forced: the next evaluation would reopen the incident and page again.
"""

from __future__ import annotations

from triaged.alerts.route import Router
from triaged.alerts.silence import Silencer
from triaged.incidents.model import Incident, IncidentStatus, TransitionError, draft_outdated, transition
from triaged.incidents.notify import Notifications
from triaged.incidents.page_message import build_message
from triaged.messages import Event
from triaged.store import incidents as rows
from triaged.store import silences
from triaged.store.db import Store

S = IncidentStatus
# Being further along includes the step: an incident under investigation is acknowledged.
_INCLUDES: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    S.ACKNOWLEDGED: frozenset({S.ACKNOWLEDGED, S.INVESTIGATING, S.MITIGATED}),
}


class AlreadyDoneError(Exception):
    """The incident is already where the move would take it; nothing was changed."""

    def __init__(self, incident: Incident) -> None:
        super().__init__(f"incident #{incident.id} is already {incident.status}")
        self.incident = incident


class StillFiringError(TransitionError):
    """A hand resolve refused: alerts of the incident still fire."""


class HumanActions:
    """What on-call engineers do to an incident, each step timestamped with who and why."""

    def __init__(self, store: Store, router: Router | None) -> None:
        """``router`` None: announcements are left to the daemon (see ``Notifications``)."""
        self.store = store
        self.router = router

    def move(
        self,
        incident_id: int,
        target: IncidentStatus,
        actor: str,
        reason: str,
        now: float,
        *,
        force: bool = False,
    ) -> Incident:
        """Raises :class:`AlreadyDoneError`, :class:`StillFiringError`, ``TransitionError`` or
        ``LookupError``; nothing is recorded then."""
        with self.store.atomic():
            incident = self._get(incident_id)
            previous = incident.status
            if previous in _INCLUDES.get(target, frozenset({target})):
                raise AlreadyDoneError(incident)
            if target is S.RESOLVED and not force:
                self._refuse_if_firing(incident, now)
            transition(incident, target, now, actor=actor)
            if target is S.DETECTED:
                self._refuse_if_group_open(incident)
            rows.update_incident(self.store, incident)
            text = f"{previous} → {target}" + (f": {reason}" if reason else "")
            if target is S.DETECTED:
                # No alert fires (or the daemon would have reopened it): the daemon must
                # not resolve it again on its own a hold later, against on-call's word.
                text += "; it stays open until resolved by hand, or until alerts that fire from now on clear"
                text += draft_outdated(previous, incident.id)
            rows.add_timeline(
                self.store,
                incident.id,
                now,
                target.value,
                text,
                actor=actor,
                data={"from": previous.value, "to": target.value, "reason": reason},
            )
            event = _event(previous, target)
            if event is not None:
                message = build_message(self.store, incident, event, None)
                Notifications(self.store, self.router).enqueue(incident, message, now, on_timeline=False)
        return incident

    def note(self, incident_id: int, actor: str, text: str, now: float) -> None:
        if not text.strip():
            raise ValueError("a note needs some text")
        with self.store.atomic():
            self._get(incident_id)
            rows.add_timeline(self.store, incident_id, now, "note", text, actor=actor)

    def _refuse_if_firing(self, incident: Incident, now: float) -> None:
        """Refuse while an alert of the incident fires unmuted. Muted means a silence
        (asked here: one added a second ago counts) or any mute the daemon recorded at
        its last evaluation, maintenance windows and inhibition included, whose
        settings live in the daemon's config rather than the store."""
        silencer = Silencer(silences.current(self.store, now))
        muted = silences.active_mutes(self.store)
        loud = [
            a
            for a in rows.incident_alerts(self.store, incident.id)
            if a["state"] == "firing"
            and a["fingerprint"] not in muted
            and not silencer.active_for(a["labels"], now)
        ]
        if loud:
            names = ", ".join(sorted({a["alertname"] for a in loud}))
            raise StillFiringError(
                f"incident #{incident.id} still has {len(loud)} firing alert(s) ({names}): resolved now,"
                " it would reopen and page at the next evaluation. Let it resolve when they clear,"
                " silence them first (triaged silence add), or resolve with --force"
            )

    def _refuse_if_group_open(self, incident: Incident) -> None:
        """One open incident per group (the store enforces it): a reopen while a newer
        incident of the same group is open would break that, so point at the open one."""
        other = next((i for i in rows.open_incidents(self.store) if i.group_key == incident.group_key), None)
        if other is not None and other.id != incident.id:
            raise TransitionError(
                f"incident #{other.id} is open for the same group ({incident.group_key}):"
                f" work on it there (triaged incidents note {other.id} …), or resolve it before"
                f" reopening #{incident.id}"
            )

    def _get(self, incident_id: int) -> Incident:
        incident = rows.get_incident(self.store, incident_id)
        if incident is None:
            raise LookupError(f"no incident #{incident_id}")
        return incident


def _event(previous: IncidentStatus, target: IncidentStatus) -> Event | None:
    """What receivers are told of a move. Investigating or mitigating straight from
    detected is an ack for them: it stops their escalation as `ack` would."""
    if target is S.ACKNOWLEDGED or (previous is S.DETECTED and target in (S.INVESTIGATING, S.MITIGATED)):
        return Event.ACK
    return {S.RESOLVED: Event.RESOLVE, S.DETECTED: Event.REOPEN}.get(target)
