"""Fallback delivery: when a receiver has not delivered a page for ``after`` seconds,
send a copy through another receiver, and say so on the incident's timeline.

The primary keeps retrying: once it is back it gets the page too, with the same
dedup key, so a receiver that sees both can tell they are one page. Once an incident
has paged through the fallback, its later notifications (ack, escalation, resolve) go
there too, whatever happens to the primary, so the fallback pager does not page on.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from triaged.alerts.route import FallbackRule
from triaged.store import incidents as rows
from triaged.store import notify_state
from triaged.store.db import Store
from triaged.store.outbox import OutboxRow

log = structlog.get_logger("triaged.outbox")


class Fallback:
    def __init__(self, store: Store, rules: Sequence[FallbackRule]) -> None:
        self.store = store
        self.rules = list(rules)

    def sweep(self, now: float) -> int:
        """Copy overdue rows, and the follow-ups of rows copied before, to their
        fallback receiver. Returns how many copies."""
        copied = 0
        for rule in self.rules:
            with self.store.atomic():
                sevs = [s.name for s in rule.severities]
                for row in notify_state.overdue(
                    self.store, rule.receiver, now - rule.after_s, rule.to, severities=sevs
                ):
                    if notify_state.add_fallback(self.store, row, rule.to, now):
                        copied += 1
                        self._note_overdue(rule, row, now)
                for row in notify_state.follow_ups(self.store, rule.receiver, rule.to):
                    if notify_state.add_fallback(self.store, row, rule.to, now):
                        copied += 1
                        self._note(
                            row, now, f"{row.event} also sent to fallback {rule.to}, which has the page"
                        )
        return copied

    def _note_overdue(self, rule: FallbackRule, row: OutboxRow, now: float) -> None:
        late = now - row.created_at
        log.warning(
            "notification_fallback",
            receiver=rule.receiver,
            fallback=rule.to,
            incident_id=row.incident_id,
            dedup_key=row.dedup_key,
            undelivered_s=round(late),
            error=row.last_error,
        )
        self._note(
            row,
            now,
            f"{row.event} to {rule.receiver} undelivered for {late:.0f}s"
            f" ({row.last_error or 'no answer'}): sending through fallback {rule.to}",
        )

    def _note(self, row: OutboxRow, now: float, text: str) -> None:
        if row.incident_id is None:
            return
        rows.add_timeline(
            self.store,
            row.incident_id,
            now,
            "notification_fallback",
            text,
            data={"receiver": row.receiver, "dedup_key": row.dedup_key},
        )
