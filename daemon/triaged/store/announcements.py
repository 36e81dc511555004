"""Announcement intents: a change made where the receivers' routing is not known (the
CLI), waiting for the running daemon to route it into the outbox.

Written in the transaction of the change itself, so the change and the promise to
announce it commit together. The daemon marks one done in the transaction that writes
its outbox rows (compare-and-set on ``done_at``), so a crash between the two repeats
the routing rather than losing or doubling it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from triaged.store.db import Store


@dataclass(frozen=True)
class Announcement:
    id: int
    incident_id: int
    event: str
    # The incident's severity when the change was made: it is routed as it stood then.
    severity: str
    dedup_key: str
    payload: dict[str, Any]
    # False when the change wrote its own timeline entry (a hand move): the daemon adds
    # no "queued" entries for it, as the CLI with a router did not either.
    on_timeline: bool
    created_at: float
    done_at: float | None = None
    queued: int | None = None


def record(
    store: Store,
    *,
    incident_id: int,
    event: str,
    severity: str,
    dedup_key: str,
    payload: dict[str, Any],
    on_timeline: bool,
    now: float,
) -> int:
    return store.insert(
        "announcements",
        {
            "incident_id": incident_id,
            "event": event,
            "severity": severity,
            "dedup_key": dedup_key,
            "payload": json.dumps(payload, sort_keys=True),
            "on_timeline": int(on_timeline),
            "created_at": now,
        },
    )


def pending(store: Store, *, limit: int = 100) -> list[Announcement]:
    """Oldest first (the order the changes were made), through the partial index on
    pending rows: done ones are never read again."""
    rows = store.query(
        "SELECT * FROM announcements WHERE done_at IS NULL ORDER BY id LIMIT ?",
        [limit],
    )
    return [_row(r) for r in rows]


def mark_done(store: Store, announcement_id: int, now: float) -> bool:
    """Compare-and-set: False when another process marked it first (nothing to do)."""
    cur = store.execute(
        "UPDATE announcements SET done_at = ? WHERE id = ? AND done_at IS NULL", [now, announcement_id]
    )
    return cur.rowcount == 1


def set_queued(store: Store, announcement_id: int, queued: int) -> None:
    """How many outbox rows it made: 0 when no route wants this event."""
    store.execute("UPDATE announcements SET queued = ? WHERE id = ?", [queued, announcement_id])


def for_incident(store: Store, incident_id: int) -> list[Announcement]:
    rows = store.query("SELECT * FROM announcements WHERE incident_id = ? ORDER BY id", [incident_id])
    return [_row(r) for r in rows]


def _row(r: dict[str, Any]) -> Announcement:
    return Announcement(
        id=r["id"],
        incident_id=r["incident_id"],
        event=r["event"],
        severity=r["severity"],
        dedup_key=r["dedup_key"],
        payload=json.loads(r["payload"]),
        on_timeline=bool(r["on_timeline"]),
        created_at=r["created_at"],
        done_at=r["done_at"],
        queued=r["queued"],
    )
