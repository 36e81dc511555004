"""What the daemon does for the rest of an incident's life, after detection.

``Daemon.cycle`` calls :meth:`Lifecycle.after_sync` with what ``IncidentService.sync``
just did: evidence is copied out of the tsdb while it still holds it, a new incident is
checked for earlier ones with open action items, and SLIs are recorded. The daily
reminder job calls :meth:`Lifecycle.remind`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import structlog

from triaged.alerts.route import Router
from triaged.incidents.evidence import EvidencePolicy, EvidenceRecorder
from triaged.incidents.followup import flag_recurrence
from triaged.incidents.postmortem_due import PostmortemPolicy
from triaged.incidents.reminders import ReminderPolicy, last_slot, send_reminders, slot_passed_today
from triaged.incidents.slo import SLO, SLORecorder
from triaged.promql import Engine, ExprError
from triaged.store import incidents as rows
from triaged.store.db import Store

log = structlog.get_logger("triaged.lifecycle")


class Lifecycle:
    def __init__(
        self,
        store: Store,
        engine: Engine,
        router: Router,
        *,
        evidence: EvidencePolicy | None = None,
        slos: Sequence[SLO] = (),
        postmortems: PostmortemPolicy | None = None,
        reminders: ReminderPolicy | None = None,
    ) -> None:
        self.store = store
        self.router = router
        self.evidence = EvidenceRecorder(store, engine, evidence or EvidencePolicy())
        self.slo = SLORecorder(store, engine, slos)
        self.postmortems = postmortems or PostmortemPolicy()
        self.reminders = reminders or ReminderPolicy()

    def after_sync(self, opened: Sequence[int], resolved: Sequence[int], now: float) -> None:
        """``opened``: incidents opened this cycle (not reopened: a reopen is the same
        incident); ``resolved``: incidents that resolved this cycle. A failure here is
        logged and never stops the cycle: paging matters more than evidence."""
        try:
            self._after_sync(opened, resolved, now)
            self.slo.record(now)
        except (sqlite3.Error, ExprError, ValueError) as exc:
            log.error("lifecycle_failed", error=str(exc), error_type=type(exc).__name__)

    def _after_sync(self, opened: Sequence[int], resolved: Sequence[int], now: float) -> None:
        self.evidence.record(now, finished=resolved)
        for incident_id in opened:
            inc = rows.get_incident(self.store, incident_id)
            if inc is not None:
                flagged = flag_recurrence(self.store, inc, now)
                if flagged:
                    log.info("recurrence_flagged", incident_id=inc.id, open_items=len(flagged))

    def remind(self, now: float) -> int:
        """The daily job. Keyed by the day of the latest ``remind_at`` slot, so running
        it again that day (a catch-up, a restart) adds nothing."""
        slot = last_slot(now, self.reminders)
        added = send_reminders(self.store, self.router, now, self.reminders, self.postmortems, slot=slot)
        log.info("reminders_queued", count=added)
        return added

    def catch_up(self, now: float) -> int:
        """At start-up: run today's reminders if their time has passed (the daemon may
        have been down then). Returns how many were queued (0 when none were missed)."""
        if not slot_passed_today(now, self.reminders):
            return 0
        return self.remind(now)
