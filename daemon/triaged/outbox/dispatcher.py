"""Claims due outbox rows, sends them through their receiver, records the outcome.

Only this module decides what a failure means: a permanent error or too many attempts
goes to the dead-letter state (and is logged loudly), anything else — an unexpected
exception included — is retried with capped exponential backoff, never sooner than a
receiver's ``retry_after`` (itself capped, so one answer cannot stall a receiver).
The backoff counts from when the attempt failed, not from when the round began, and
a round tries each row at most once: a send that took its whole timeout is not
followed at once by the next attempt.

Each incident's rows go to a receiver in order, but one incident's failing row does
not hold up another incident's (see :func:`notify_state.claim_due_in_order`). Two
things hold a whole receiver: a 429 (it is throttling us) until its ``Retry-After``
(or the backoff), and, for the rest of a round, a failed send that took a second or
more, so a receiver that hangs costs one timeout per round, not one per incident.

A round is per receiver: :meth:`Dispatcher.due_receivers` runs the sweeps and names
the receivers with due rows, and :meth:`Dispatcher.dispatch_to` sends one receiver's.
The runner gives each receiver a thread of its own (:mod:`triaged.outbox.lanes`), so a
receiver that hangs delays only its own pages; :meth:`Dispatcher.dispatch` does every
receiver in turn on the calling thread (tests, a cycle without a runner, one-shot
tools). One round runs at a time per receiver, and a call that finds one running
leaves the work to it. A page that went out but could not be recorded (a full disk)
is remembered in memory and recorded on its next claim instead of being sent again.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from triaged.errors import describe
from triaged.messages import Message
from triaged.notifiers.base import Notifier, NotifyError
from triaged.outbox import owner
from triaged.outbox.backoff import Backoff
from triaged.store import incidents as incident_rows
from triaged.store import notify_state, outbox
from triaged.store.db import Store

log = structlog.get_logger("triaged.outbox")

_instances = itertools.count(1)
# Sent-but-unrecorded pages remembered at most; past it, a full disk may re-send some.
UNRECORDED_LIMIT = 10_000
# A failed send that took this long got no timely answer (a hung or trickling receiver):
# the receiver's other rows wait for the next round instead of each paying the timeout.
SLOW_FAILURE_S = 1.0


@dataclass
class DispatchStats:
    """Counts for /metrics, bumped from every receiver's thread."""

    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    dead: dict[str, int] = field(default_factory=dict)
    errors: int = 0  # unexpected exceptions (a bug or the store failing), all logged
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def bump(self, kind: str, receiver: str) -> None:
        with self._lock:
            bucket: dict[str, int] = getattr(self, kind)
            bucket[receiver] = bucket.get(receiver, 0) + 1

    def bump_errors(self) -> None:
        with self._lock:
            self.errors += 1


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
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.backoff = backoff or Backoff()
        self.lease_s = lease_s
        # host:pid:start:n — unique per dispatcher; pid and start time let a restart
        # free its predecessor's claims even when it got the same pid (release_orphans).
        self.worker = owner.current(socket.gethostname(), next(_instances)).worker()
        # Read between rounds so a long dispatch claims with fresh times, not the
        # `now` it started with (which would shorten every lease it takes).
        self.clock = clock
        self._rounds: dict[str, threading.Lock] = {}  # per receiver: one round at a time
        self._rounds_guard = threading.Lock()
        self._sweeping = threading.Lock()
        self._unrecorded: dict[int, tuple[float, str | None]] = {}
        # Receivers that answered 429, and until when they asked us to wait (clock time),
        # also kept in the store: a restart goes on waiting instead of sending at once.
        self._throttled: dict[str, float] = self._holds_from_store()
        self._throttle_lock = threading.Lock()
        self.stats = DispatchStats()
        self.on_sent = on_sent
        # Run before each dispatch: they record what is due at `now` (re-pages, fallback copies).
        self.sweeps = list(sweeps)
        # Asked before sending: a reason not to send a row any more (a re-page after an ack).
        self.veto = veto

    def _holds_from_store(self) -> dict[str, float]:
        """The 429 holds a previous run left that have not run out yet."""
        now = self.clock() if self.clock is not None else time.time()
        try:
            held = outbox.receiver_holds(self.store, now)
        except Exception as exc:  # an unreadable store is reported by the cycle; start unheld
            log.error("receiver_holds_unread", error=describe(exc))
            return {}
        for receiver, (until, reason) in held.items():
            log.info(
                "receiver_still_throttled", receiver=receiver, wait_s=round(until - now, 1), reason=reason
            )
        return {receiver: until for receiver, (until, _) in held.items()}

    def dispatch(self, now: float, *, limit: int = 50) -> int:
        """One round for every receiver with due rows, one after another on this
        thread. Returns how many rows were delivered (a receiver whose round is running
        elsewhere is left to it)."""
        return sum(self.dispatch_to(receiver, now, limit=limit) for receiver in self.due_receivers(now))

    def due_receivers(self, now: float) -> list[str]:
        """Run the sweeps (what is due at ``now``: re-pages, fallback copies, hand
        changes), then name the receivers with rows to send, longest waiting first;
        receivers that asked us to wait (429) are left out."""
        if self._sweeping.acquire(blocking=False):  # another thread sweeping covers this call
            try:
                self._sweep(now)
            finally:
                self._sweeping.release()
        throttled = self._throttled_now(now)
        return [
            r for r in notify_state.due_receivers(self.store, now, lease_s=self.lease_s) if r not in throttled
        ]

    def dispatch_to(self, receiver: str, now: float, *, limit: int = 50) -> int:
        """One round for one receiver: send its due rows (up to ``limit``), each
        incident's in order, each row at most once. Returns how many were delivered;
        0 at once if a round for this receiver is running already."""
        with self._rounds_guard:
            lock = self._rounds.setdefault(receiver, threading.Lock())
        if not lock.acquire(blocking=False):
            return 0
        try:
            return self._round(receiver, now, limit)
        finally:
            lock.release()

    def release_orphans(self) -> int:
        """At start-up: free rows an earlier, dead process on this host left 'sending'."""
        host = self.worker.split(":", 1)[0]
        freed = outbox.release_orphans(self.store, host, _orphaned)
        if freed:
            log.warning(
                "notification_claims_released",
                rows=freed,
                reason="an earlier triaged ended with these sends in flight (stopped before they"
                " finished, or killed); they are sent again, with the same dedup key",
            )
        return freed

    def _sweep(self, now: float) -> None:
        for sweep in self.sweeps:
            try:
                sweep(now)
            except Exception as exc:
                self.stats.bump_errors()
                log.error(
                    "dispatch_sweep_failed", sweep=getattr(sweep, "__qualname__", "?"), error=describe(exc)
                )

    def _round(self, receiver: str, now: float, limit: int) -> int:
        delivered = 0
        budget = limit
        tried: set[int] = set()  # each row at most once per round
        while budget > 0 and receiver not in self._throttled_now(now):
            rows = notify_state.claim_due_in_order(
                self.store,
                now,
                self.worker,
                lease_s=self.lease_s,
                limit=budget,
                skip_ids=tried,
                receiver=receiver,
            )
            if not rows:
                break
            budget -= len(rows)
            for i, row in enumerate(rows):
                tried.add(row.id)
                started = time.monotonic()
                sent = self._deliver_safely(row, now)
                delivered += sent
                now = self._now(now)
                # A 429 holds the receiver; a failure that took a second or more means
                # it hangs: its other rows wait for the next round, not one timeout each.
                slow = not sent and time.monotonic() - started >= SLOW_FAILURE_S
                if slow or receiver in self._throttled_now(now):
                    for rest in rows[i + 1 :]:
                        self._put_back(rest)
                    return delivered
        return delivered

    def _now(self, now: float) -> float:
        """The clock after a send (never before the round's ``now``)."""
        return now if self.clock is None else max(now, self.clock())

    def _throttled_now(self, now: float) -> set[str]:
        with self._throttle_lock:  # every receiver's lane reads it, each writes its own
            for receiver, until in list(self._throttled.items()):
                if until <= now:
                    del self._throttled[receiver]
            return set(self._throttled)

    def _put_back(self, row: outbox.OutboxRow) -> None:
        try:
            outbox.release(self.store, row)
        except Exception as exc:  # the store is failing: the lease brings it back
            self.stats.bump_errors()
            log.error("notification_unrecorded", receiver=row.receiver, error=describe(exc))

    def _deliver_safely(self, row: outbox.OutboxRow, now: float) -> bool:
        try:
            return self._deliver(row, now)
        except Exception as exc:  # one bad row must not block its receiver's queue
            self.stats.bump_errors()
            log.error(
                "notification_error", receiver=row.receiver, incident_id=row.incident_id, error=describe(exc)
            )
            try:
                self._failed(row, NotifyError(f"unexpected error: {describe(exc)}"), self._now(now))
            except Exception as again:  # the store is failing: the lease brings it back
                log.error("notification_unrecorded", receiver=row.receiver, error=describe(again))
            return False

    def _deliver(self, row: outbox.OutboxRow, now: float) -> bool:
        if row.id in self._unrecorded:  # sent already; only the record was missing
            sent_at, message_id = self._unrecorded[row.id]
            self._record_sent(row, sent_at, message_id)
            return False
        if row.attempts > self.backoff.max_attempts:  # e.g. leases expiring on a failing store
            self._dead(row, f"gave up after {row.attempts - 1} attempts", now)
            return False
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
            if exc.deferred:
                self._defer(row, exc, self._now(now))
            else:
                self._failed(row, exc, self._now(now))  # the backoff counts from the failure
            return False
        now = self._now(now)
        if len(self._unrecorded) < UNRECORDED_LIMIT:
            self._unrecorded[row.id] = (now, receipt.message_id)
        self._record_sent(row, now, receipt.message_id)
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

    def _record_sent(self, row: outbox.OutboxRow, now: float, message_id: str | None) -> None:
        """Mark the row sent — on its own, so a failing timeline write cannot undo it —
        then note it on the incident's timeline, best effort."""
        with self.store.atomic():
            held = outbox.mark_sent(self.store, row, now, message_id)
        self._unrecorded.pop(row.id, None)
        if not held:
            log.warning("notification_claim_lost", receiver=row.receiver, dedup_key=row.dedup_key)
            return
        if row.incident_id is None:
            return
        try:
            with self.store.atomic():
                incident_rows.add_timeline(
                    self.store,
                    row.incident_id,
                    now,
                    "notification_sent",
                    f"{row.event} delivered to {row.receiver}"
                    + (f" (message id {message_id})" if message_id else ""),
                    data={
                        "receiver": row.receiver,
                        "dedup_key": row.dedup_key,
                        "message_id": message_id,
                        "attempts": row.attempts,
                    },
                )
        except Exception as exc:  # the page is recorded; its timeline note is extra
            self.stats.bump_errors()
            log.error("timeline_write_failed", incident_id=row.incident_id, error=describe(exc))

    def _failed(self, row: outbox.OutboxRow, exc: NotifyError, now: float) -> None:
        self.stats.bump("failed", row.receiver)
        if exc.permanent or row.attempts >= self.backoff.max_attempts:
            reason = "permanent error" if exc.permanent else f"gave up after {row.attempts} attempts"
            self._dead(row, f"{reason}: {exc}", now)
            return
        delay = self.backoff.after(row.attempts, exc.retry_after)
        outbox.mark_retry(self.store, row, now + delay, str(exc))
        if exc.throttled:  # the receiver is throttling us: all its rows wait, not just this one
            with self._throttle_lock:
                self._throttled[row.receiver] = max(self._throttled.get(row.receiver, now), now + delay)
            outbox.hold_receiver(self.store, row.receiver, now + delay, str(exc))
        log.warning(
            "notification_retry",
            receiver=row.receiver,
            incident_id=row.incident_id,
            attempts=row.attempts,
            retry_in_s=round(delay, 1),
            error=str(exc),
            **({"receiver_throttled": True} if exc.throttled else {}),
        )

    def _defer(self, row: outbox.OutboxRow, exc: NotifyError, now: float) -> None:
        """Held back by the notifier's own limit: due again when it allows, with no
        attempt spent and no backoff grown, so a storm's pages go out at the limit's
        pace instead of drifting to the backoff cap (or, in time, to dead)."""
        wait = min(exc.retry_after or self.backoff.base_s, self.backoff.max_retry_after_s)
        outbox.defer(self.store, row, now + wait, str(exc))
        log.info(
            "notification_deferred",
            receiver=row.receiver,
            incident_id=row.incident_id,
            retry_in_s=round(wait, 1),
            reason=str(exc),
        )

    def _cancel(self, row: outbox.OutboxRow, reason: str, now: float) -> None:
        with self.store.atomic():
            outbox.mark_cancelled(self.store, row, reason)
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
            outbox.mark_dead(self.store, row, error)
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


def _orphaned(claimed_by: str) -> bool:
    """Whether the process named by a claim is gone (an unreadable name is not ours)."""
    held_by = owner.parse(claimed_by)
    return held_by is not None and not owner.alive(held_by)
