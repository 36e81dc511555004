"""Claims due outbox rows, sends them through their receiver, records the outcome.

Only this module decides what a failure means: a permanent error or too many attempts
goes to the dead-letter state (and is logged loudly), anything else is retried with
capped exponential backoff, never sooner than a receiver's ``retry_after``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from triaged.messages import Message
from triaged.notifiers.base import Notifier, NotifyError
from triaged.outbox.backoff import Backoff
from triaged.store import incidents as incident_rows
from triaged.store import notify_state, outbox
from triaged.store.db import Store

log = structlog.get_logger("triaged.outbox")


@dataclass
class DispatchStats:
    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    dead: dict[str, int] = field(default_factory=dict)

    def bump(self, kind: str, receiver: str) -> None:
        bucket: dict[str, int] = getattr(self, kind)
        bucket[receiver] = bucket.get(receiver, 0) + 1


class Dispatcher:
    def __init__(
        self,
        store: Store,
        notifiers: Mapping[str, Notifier],
        backoff: Backoff | None = None,
        *,
        lease_s: float = 60.0,
        on_sent: Callable[[str, Message], None] | None = None,
        sweeps: Sequence[Callable[[float], object]] = (),
        veto: Callable[[outbox.OutboxRow], str | None] | None = None,
    ) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.backoff = backoff or Backoff()
        self.lease_s = lease_s
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.stats = DispatchStats()
        self.on_sent = on_sent
        # Run before each dispatch: they record what is due at `now` (re-pages, fallback copies).
        self.sweeps = list(sweeps)
        # Asked before sending: a reason not to send a row any more (a re-page after an ack).
        self.veto = veto

    def dispatch(self, now: float, *, limit: int = 50) -> int:
        """Send every due row (up to ``limit``), each receiver's rows in order: one
        head row per receiver per round, rounds until nothing is due. Returns how many
        were delivered."""
        for sweep in self.sweeps:
            sweep(now)
        delivered = 0
        budget = limit
        while budget > 0:
            rows = notify_state.claim_due_in_order(
                self.store, now, self.worker, lease_s=self.lease_s, limit=budget
            )
            if not rows:
                break
            budget -= len(rows)
            for row in rows:
                if self._deliver(row, now):
                    delivered += 1
        return delivered

    def _deliver(self, row: outbox.OutboxRow, now: float) -> bool:
        reason = self.veto(row) if self.veto is not None else None
        if reason is not None:
            self._cancel(row, reason, now)
            return False
        notifier = self.notifiers.get(row.receiver)
        if notifier is None:
            self._dead(row, f"receiver {row.receiver!r} is not configured", now)
            return False
        message = Message.from_dict(row.payload)
        try:
            receipt = notifier.send(message)
        except NotifyError as exc:
            self._failed(row, exc, now)
            return False
        with self.store.atomic():
            outbox.mark_sent(self.store, row.id, now, receipt.message_id)
            if row.incident_id is not None:
                incident_rows.add_timeline(
                    self.store,
                    row.incident_id,
                    now,
                    "notification_sent",
                    f"{row.event} delivered to {row.receiver}"
                    + (f" (message id {receipt.message_id})" if receipt.message_id else ""),
                    data={
                        "receiver": row.receiver,
                        "dedup_key": row.dedup_key,
                        "message_id": receipt.message_id,
                        "attempts": row.attempts,
                    },
                )
        self.stats.bump("sent", row.receiver)
        log.info(
            "notification_sent",
            receiver=row.receiver,
            incident_id=row.incident_id,
            event_kind=row.event,
            dedup_key=row.dedup_key,
            attempts=row.attempts,
        )
        if self.on_sent is not None:
            self.on_sent(row.receiver, message)
        return True

    def _failed(self, row: outbox.OutboxRow, exc: NotifyError, now: float) -> None:
        self.stats.bump("failed", row.receiver)
        if exc.permanent or row.attempts >= self.backoff.max_attempts:
            reason = "permanent error" if exc.permanent else f"gave up after {row.attempts} attempts"
            self._dead(row, f"{reason}: {exc}", now)
            return
        delay = self.backoff.delay(row.attempts)
        if exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        outbox.mark_retry(self.store, row.id, now + delay, str(exc))
        log.warning(
            "notification_retry",
            receiver=row.receiver,
            incident_id=row.incident_id,
            attempts=row.attempts,
            retry_in_s=round(delay, 1),
            error=str(exc),
        )

    def _cancel(self, row: outbox.OutboxRow, reason: str, now: float) -> None:
        with self.store.atomic():
            notify_state.cancel(self.store, row.id, reason)
            if row.incident_id is not None:
                incident_rows.add_timeline(
                    self.store,
                    row.incident_id,
                    now,
                    "notification_cancelled",
                    f"{row.event} to {row.receiver} not sent: {reason}",
                    data={"receiver": row.receiver, "dedup_key": row.dedup_key},
                )
        log.info("notification_cancelled", receiver=row.receiver, incident_id=row.incident_id, reason=reason)

    def _dead(self, row: outbox.OutboxRow, error: str, now: float) -> None:
        self.stats.bump("dead", row.receiver)
        with self.store.atomic():
            outbox.mark_dead(self.store, row.id, error)
            if row.incident_id is not None:
                incident_rows.add_timeline(
                    self.store,
                    row.incident_id,
                    now,
                    "notification_failed",
                    f"{row.event} to {row.receiver} failed for good: {error}",
                    data={"receiver": row.receiver, "dedup_key": row.dedup_key},
                )
        log.error("notification_dead", receiver=row.receiver, incident_id=row.incident_id, error=error)
