"""Re-page unacknowledged incidents until someone acknowledges them.

Every ``interval`` (per severity, or the route's ``repeat_interval``) an incident
still in ``detected`` gets a re-page to each receiver that paged it, unless every
alert of it that still fires is muted. Each re-page has
its own dedup key (``…-repage-N``), counted from the outbox, so a crash mid-sweep
re-records nothing and a re-send is recognisable. A re-page queued before the ack
but not yet delivered is cancelled at send time: acknowledging stops the pages at once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

import structlog

from triaged.alerts.route import Router
from triaged.incidents.model import Incident, IncidentStatus
from triaged.incidents.notify import Notifications
from triaged.incidents.page_message import build_message, dedup_key
from triaged.messages import Event
from triaged.model import Severity
from triaged.store import incidents as rows
from triaged.store import notify_state, silences
from triaged.store.db import Store
from triaged.store.outbox import OutboxRow

log = structlog.get_logger("triaged.outbox")


@dataclass(frozen=True)
class RepagePolicy:
    intervals: Mapping[Severity, float] = field(
        default_factory=lambda: {Severity.P0: 600.0, Severity.P1: 1800.0}
    )


class Repager:
    def __init__(self, store: Store, router: Router, policy: RepagePolicy | None = None) -> None:
        self.store = store
        self.policy = policy or RepagePolicy()
        self.notify = Notifications(store, router)

    def sweep(self, now: float) -> int:
        """Record the re-pages that are due at ``now``. Returns how many."""
        added = 0
        with self.store.atomic():
            for incident in awaiting_ack(self.store):
                for dest in self.notify.destinations(incident, Event.REPAGE):
                    interval = dest.repeat_interval_s
                    if interval is None:
                        interval = self.policy.intervals.get(incident.severity)
                    if not interval:
                        continue
                    last, count, unsent = notify_state.page_history(self.store, incident.id, dest.receiver)
                    # A page still undelivered is not repeated: the receiver gets it when it is back.
                    start = incident.lifetime.started_at  # after a reopen: since the reopen
                    if unsent or now - (last if last is not None else start) < interval:
                        continue
                    message = build_message(self.store, incident, Event.REPAGE, None)
                    n = count + 1
                    message = replace(
                        message,
                        dedup_key=f"{dedup_key(incident, Event.REPAGE)}-{n}",
                        title=f"[{incident.severity.name}][RE-PAGE {n}] {incident.title}",
                        body=f"Still unacknowledged {(now - start) / 60:.0f}m after it"
                        + (" reopened.\n" if incident.reopened_at is not None else " opened.\n")
                        + message.body,
                    )
                    added += self.notify.enqueue(incident, message, now, only=dest)
                    log.info("repage_queued", incident_id=incident.id, receiver=dest.receiver, repage=n)
        return added


def awaiting_ack(store: Store) -> list[Incident]:
    """Open incidents nobody has acknowledged, but for those whose firing alerts are
    all muted: what re-pages and the escalation policy page about."""
    muted = silences.active_mutes(store)
    return [
        incident
        for incident in rows.open_incidents(store)
        if incident.status is IncidentStatus.DETECTED and not _all_muted(store, incident.id, muted)
    ]


def _all_muted(store: Store, incident_id: int, muted: Collection[str]) -> bool:
    """Every alert of the incident still firing is muted (a silence, a maintenance
    window, an inhibition, as of the last evaluation): on-call said "quiet", so it is
    not paged again until the muting ends, as Alertmanager sends nothing for them."""
    firing = [a["fingerprint"] for a in rows.incident_alerts(store, incident_id) if a["state"] == "firing"]
    return bool(firing) and all(fp in muted for fp in firing)


def stale_repage(store: Store, row: OutboxRow) -> str | None:
    """Dispatcher veto: a re-page for an incident acknowledged (or further) since it
    was queued is not sent."""
    if row.event != Event.REPAGE.value or row.incident_id is None:
        return None
    incident = rows.get_incident(store, row.incident_id)
    if incident is None or incident.status is IncidentStatus.DETECTED:
        return None
    return f"incident is {incident.status}: re-page no longer needed"
