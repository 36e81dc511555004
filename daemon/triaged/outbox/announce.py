"""The daemon announces changes made by hand elsewhere (the CLI).

The CLI records a change and an announcement intent together; it has no routing of
its own, so it cannot know who got the page. This sweep, run before every dispatch
(each cycle and each outbox job), routes each pending intent with the daemon's router
and records its outbox rows in the same transaction that marks it done. A crash
before that commit leaves the intent pending, to be routed again; one after it leaves
outbox rows, which the dispatcher sends under their dedup keys. Either way the
receivers hear of the change once.
"""

from __future__ import annotations

from dataclasses import replace

import structlog

from triaged.alerts.route import Router
from triaged.errors import describe
from triaged.incidents.notify import Notifications
from triaged.messages import Message
from triaged.model import Severity
from triaged.store import announcements
from triaged.store import incidents as rows
from triaged.store.announcements import Announcement
from triaged.store.db import Store

log = structlog.get_logger("triaged.outbox")


class Announcer:
    def __init__(self, store: Store, router: Router) -> None:
        self.store = store
        self.notify = Notifications(store, router)
        self._failing: set[int] = set()  # logged once each, not at every tick

    def sweep(self, now: float) -> int:
        """Route every pending intent into the outbox. Returns how many rows were new."""
        queued = 0
        for intent in announcements.pending(self.store):
            try:
                queued += self._route(intent, now)
            # A boundary per intent: one that cannot be routed (a full disk, a payload
            # it cannot read) is retried next sweep and holds up no other.
            except Exception as exc:
                if intent.id not in self._failing:
                    self._failing.add(intent.id)
                    log.error(
                        "announcement_failed", incident_id=intent.incident_id, event_kind=intent.event,
                        error=describe(exc),
                    )  # fmt: skip
            else:
                self._failing.discard(intent.id)
        return queued

    def _route(self, intent: Announcement, now: float) -> int:
        with self.store.atomic():
            # The claim comes first, so it is what takes the write lock: a second
            # daemon (or a restarted one racing its predecessor) finds it done.
            if not announcements.mark_done(self.store, intent.id, now):
                return 0
            incident = rows.get_incident(self.store, intent.incident_id)
            n = 0
            if incident is not None:
                # Routed at the severity it had when the change was made, as a router
                # in the CLI would have routed it then.
                incident = replace(incident, severity=Severity[intent.severity])
                message = Message.from_dict(intent.payload)
                n = self.notify.enqueue(incident, message, now, on_timeline=intent.on_timeline)
            announcements.set_queued(self.store, intent.id, n)
        log.info(
            "announcement_queued",
            incident_id=intent.incident_id,
            event_kind=intent.event,
            dedup_key=intent.dedup_key,
            receivers=n,
        )
        return n
