"""From an incident change to outbox rows: route, schedule, record.

Called inside the transaction that records the change, so the change and its
notifications commit together. Timing follows the route that picked each receiver:

- P0/P1 pages (open, escalate, reopen, re-page) and acks go at once, and pull any of
  the incident's rows still in their group wait ahead of them, so order is kept;
- other opens wait ``group_wait``; other updates wait until ``group_interval`` after
  the incident's previous notification to that receiver;
- an incident that resolves while its open is still waiting sends neither: the
  blip is on the timeline, nobody is woken for it.

Without a router (the CLI: routing is the daemon's config, which the CLI may not
have, or have in another version) a change is recorded as an *announcement*: the
running daemon routes it with its own router (``outbox/announce.py``), so it reaches
the receivers the daemon paged, and only once.
"""

from __future__ import annotations

import structlog

from triaged.alerts.route import Destination, Router
from triaged.incidents.model import Incident
from triaged.messages import Event, Message
from triaged.model import Severity
from triaged.store import announcements, notify_state, outbox
from triaged.store import incidents as rows
from triaged.store.db import Store

log = structlog.get_logger("triaged.incidents")

IMMEDIATE = frozenset({Severity.P0, Severity.P1})
_PAGES = frozenset({Event.OPEN, Event.ESCALATE, Event.REOPEN, Event.REPAGE})
_UPDATES = frozenset({Event.ESCALATE, Event.REOPEN, Event.REMINDER, Event.REPAGE})
# What a resolve cancels while it still waits for its route's timing (see _cancel_waiting).
_CANCELLED_BY_RESOLVE = frozenset(e.value for e in (Event.OPEN, Event.REOPEN, Event.ESCALATE, Event.REPAGE))
# What every receiver that had the page must hear, wherever the routing now points.
_FOLLOW_UPS = frozenset({Event.ACK, Event.RESOLVE})


def route_labels(store: Store, incident: Incident) -> dict[str, str]:
    """What the routing tree sees: labels every alert of the incident shares (team,
    env, …) plus the incident's group labels. ``severity`` is added by the router."""
    alerts = rows.incident_alerts(store, incident.id)
    common: dict[str, str] = {}
    if alerts:
        common = dict(alerts[0]["labels"])
        for a in alerts[1:]:
            common = {k: v for k, v in common.items() if a["labels"].get(k) == v}
    common.pop("severity", None)
    return {**common, **incident.labels}


class Notifications:
    def __init__(
        self, store: Store, router: Router | None, immediate: frozenset[Severity] = IMMEDIATE
    ) -> None:
        """``router`` None: this process does not route; :meth:`enqueue` records an
        announcement for the daemon instead."""
        self.store = store
        self.router = router
        self.immediate = immediate

    def destinations(self, incident: Incident, event: Event) -> list[Destination]:
        if self.router is None:
            return []
        found = self.router.destinations(route_labels(self.store, incident), incident.severity, event)
        if event in _FOLLOW_UPS:
            found += self._paged_before(self.router, incident, event, {d.receiver for d in found})
        return found

    def _paged_before(
        self, router: Router, incident: Incident, event: Event, routed: set[str]
    ) -> list[Destination]:
        """Receivers paged in this lifetime that the routing no longer picks: the
        severity was lowered by hand, or raised onto another route, since. They hear
        the ack and the resolve too, or a pager would go on escalating a page that
        on-call has acknowledged, or show it open for ever."""
        since = incident.lifetime.started_at
        return [
            Destination(receiver=name, path="paged before")
            for name in notify_state.paged_receivers(self.store, incident.id, since)
            # No route names one paged by the escalation policy: its route is the page.
            if name not in routed and (router.takes(name, event) or not router.routes_to(name))
        ]

    def enqueue(
        self,
        incident: Incident,
        message: Message,
        now: float,
        *,
        only: Destination | None = None,
        on_timeline: bool = True,
    ) -> int:
        """Record ``message`` for every routed receiver (or just ``only``). Returns
        how many rows were new (a re-run after a crash records nothing twice).
        Without a router: records the announcement for the daemon and returns 0."""
        if self.router is None:
            if only is not None:
                raise ValueError("a single destination needs a router")
            announcements.record(
                self.store,
                incident_id=incident.id,
                event=message.event.value,
                severity=incident.severity.name,
                dedup_key=message.dedup_key,
                payload=message.to_dict(),
                on_timeline=on_timeline,
                now=now,
            )
            return 0
        enqueued = 0
        for dest in [only] if only is not None else self.destinations(incident, message.event):
            if message.event is Event.RESOLVE and self._cancel_waiting(incident, dest.receiver, now):
                continue
            due = self._due(incident, message.event, dest, now)
            if not outbox.enqueue(
                self.store,
                incident_id=incident.id,
                event=message.event.value,
                receiver=dest.receiver,
                dedup_key=message.dedup_key,
                payload=message.to_dict(),
                now=now,
            ):
                continue
            notify_state.schedule(self.store, message.dedup_key, dest.receiver, due)
            enqueued += 1
            if not on_timeline:  # a human action already wrote its own timeline entry
                continue
            wait = f" (sent in {due - now:.0f}s: route {dest.path} timing)" if due > now else ""
            rows.add_timeline(
                self.store,
                incident.id,
                now,
                "notification_queued",
                f"{message.event} queued for {dest.receiver}{wait}",
                data={
                    "receiver": dest.receiver,
                    "dedup_key": message.dedup_key,
                    "due_at": due,
                    "route": dest.path,
                },
            )
        return enqueued

    def _due(self, incident: Incident, event: Event, dest: Destination, now: float) -> float:
        if (event in _PAGES and incident.severity in self.immediate) or event is Event.ACK:
            # An ack goes at once too (it stops the receiver's own escalation), after
            # what still waits for it, sent now so the receiver reads them in order.
            notify_state.pull_forward(self.store, incident.id, dest.receiver, now)
            due = now
        elif event is Event.OPEN or (event is Event.REOPEN and self._never_paged(incident, dest.receiver)):
            # A reopen is this receiver's first page when the open was cancelled in its
            # group wait: it waits too, or a second blip would page at once.
            due = now + dest.group_wait_s
        elif event in _UPDATES:
            previous = notify_state.last_key(self.store, incident.id, dest.receiver)
            due = now if previous is None else max(now, previous + dest.group_interval_s)
        else:
            due = now
        last = notify_state.last_key(self.store, incident.id, dest.receiver)
        return due if last is None else max(due, last)

    def _never_paged(self, incident: Incident, receiver: str) -> bool:
        return notify_state.page_history(self.store, incident.id, receiver)[0] is None

    def _cancel_waiting(self, incident: Incident, receiver: str, now: float) -> bool:
        """The incident resolved: cancel what still waits for ``receiver`` behind its
        route's timing. An open or reopen waiting means the receiver never heard of this
        lifetime, so it hears of neither (True: send no resolve). A waiting escalation
        or re-page is news no more, and the resolve must not wait behind it."""
        waiting = [
            r
            for r in notify_state.waiting_rows(self.store, incident.id, now)
            if r["receiver"] == receiver and r["event"] in _CANCELLED_BY_RESOLVE
        ]
        for r in waiting:
            why = (
                "resolved within the group wait"
                if r["event"] == Event.OPEN.value
                else "resolved before it was due"
            )
            notify_state.cancel(self.store, r["id"], why)
            rows.add_timeline(
                self.store,
                incident.id,
                now,
                "notification_cancelled",
                f"{r['event']} for {receiver} not sent: {why}",
                data={"receiver": receiver, "dedup_key": r["dedup_key"]},
            )
        return any(r["event"] in (Event.OPEN.value, Event.REOPEN.value) for r in waiting)

    def refresh_waiting(self, incident: Incident, message: Message, now: float) -> None:
        """Alerts joined while the open waits: the open that goes out lists them all."""
        for r in notify_state.waiting_rows(self.store, incident.id, now):
            if r["event"] == message.event.value and r["dedup_key"] == message.dedup_key:
                notify_state.refresh_payload(self.store, r["id"], message.to_dict())
