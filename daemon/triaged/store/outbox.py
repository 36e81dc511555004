"""The durable outbox: notifications recorded with the change that caused them, then
claimed, sent and marked by the dispatcher.

Claims are compare-and-set updates, so two dispatchers (or a restarted one racing its
predecessor) never send the same row at the same time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from triaged.store.db import Store

PENDING, SENDING, SENT, DEAD, CANCELLED = "pending", "sending", "sent", "dead", "cancelled"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    incident_id: int | None
    event: str
    receiver: str
    dedup_key: str
    payload: dict[str, Any]
    status: str
    attempts: int
    created_at: float
    due_at: float
    sent_at: float | None
    message_id: str | None
    last_error: str | None
    claimed_by: str | None = None
    claimed_at: float | None = None


def _row(r: dict[str, Any]) -> OutboxRow:
    return OutboxRow(
        id=r["id"],
        incident_id=r["incident_id"],
        event=r["event"],
        receiver=r["receiver"],
        dedup_key=r["dedup_key"],
        payload=json.loads(r["payload"]),
        status=r["status"],
        attempts=r["attempts"],
        created_at=r["created_at"],
        due_at=r["due_at"],
        sent_at=r["sent_at"],
        message_id=r["message_id"],
        last_error=r["last_error"],
        claimed_by=r["claimed_by"],
        claimed_at=r["claimed_at"],
    )


def enqueue(
    store: Store,
    *,
    incident_id: int | None,
    event: str,
    receiver: str,
    dedup_key: str,
    payload: dict[str, Any],
    now: float,
) -> bool:
    """Record one notification. Returns False when the same (dedup_key, receiver) was
    already recorded: re-running a cycle after a crash does not page twice."""
    cur = store.execute(
        """INSERT OR IGNORE INTO outbox
             (incident_id, event, receiver, dedup_key, payload, status, created_at, due_at)
           VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)""",
        [incident_id, event, receiver, dedup_key, json.dumps(payload, sort_keys=True), now, now],
    )
    return cur.rowcount == 1


def claim_due(store: Store, now: float, worker: str, *, lease_s: float, limit: int = 50) -> list[OutboxRow]:
    """Claim rows that are due, oldest first. A row stuck in 'sending' past its lease
    (its dispatcher died mid-send) is due again: re-sent, recognisable by its dedup key."""
    candidates = store.query(
        """SELECT id, status, claimed_at FROM outbox
           WHERE (status = 'pending' AND due_at <= ?)
              OR (status = 'sending' AND claimed_at <= ?)
           ORDER BY due_at, id LIMIT ?""",
        [now, now - lease_s, limit],
    )
    return claim(store, candidates, worker, now)


def claim(store: Store, candidates: list[dict[str, Any]], worker: str, now: float) -> list[OutboxRow]:
    """Compare-and-set each candidate (id, status, claimed_at as read) to 'sending'. A
    row another process changed since it was read is skipped: it got there first."""
    claimed: list[OutboxRow] = []
    for c in candidates:
        cur = store.execute(
            """UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_at = ?,
                                 attempts = attempts + 1
               WHERE id = ? AND status = ? AND claimed_at IS ?""",
            [worker, now, c["id"], c["status"], c["claimed_at"]],
        )
        if cur.rowcount == 1:
            claimed.append(get_row(store, c["id"]))
    return claimed


def get_row(store: Store, row_id: int) -> OutboxRow:
    return _row(store.query("SELECT * FROM outbox WHERE id = ?", [row_id])[0])


# The marks below change a row only while the claim that sent it still holds, so a
# dispatcher that outlived its lease cannot undo what the new holder recorded. Each
# returns whether it did.
_HELD = "id = ? AND status = 'sending' AND claimed_by IS ? AND claimed_at IS ?"


def _held(row: OutboxRow) -> list[Any]:
    return [row.id, row.claimed_by, row.claimed_at]


def mark_sent(store: Store, row: OutboxRow, now: float, message_id: str | None) -> bool:
    cur = store.execute(
        f"UPDATE outbox SET status = 'sent', sent_at = ?, message_id = ?, last_error = NULL WHERE {_HELD}",
        [now, message_id, *_held(row)],
    )
    return cur.rowcount == 1


def mark_retry(store: Store, row: OutboxRow, due_at: float, error: str) -> bool:
    cur = store.execute(
        "UPDATE outbox SET status = 'pending', due_at = ?, claimed_at = NULL, claimed_by = NULL,"
        f" last_error = ? WHERE {_HELD}",
        [due_at, error, *_held(row)],
    )
    return cur.rowcount == 1


def release(store: Store, row: OutboxRow) -> bool:
    """Give back a claimed row unsent and uncounted (its receiver asked us to wait):
    pending again, due as it was, with the attempt the claim counted taken back."""
    cur = store.execute(
        "UPDATE outbox SET status = 'pending', claimed_at = NULL, claimed_by = NULL,"
        f" attempts = MAX(0, attempts - 1) WHERE {_HELD}",
        [*_held(row)],
    )
    return cur.rowcount == 1


def defer(store: Store, row: OutboxRow, due_at: float, reason: str) -> bool:
    """Give back a claimed row unsent until ``due_at`` (its notifier's own limit held
    it back), with the attempt the claim counted taken back: shaping is no failure."""
    cur = store.execute(
        "UPDATE outbox SET status = 'pending', due_at = ?, claimed_at = NULL, claimed_by = NULL,"
        f" last_error = ?, attempts = MAX(0, attempts - 1) WHERE {_HELD}",
        [due_at, reason, *_held(row)],
    )
    return cur.rowcount == 1


def mark_dead(store: Store, row: OutboxRow, error: str) -> bool:
    cur = store.execute(
        f"UPDATE outbox SET status = 'dead', claimed_at = NULL, last_error = ? WHERE {_HELD}",
        [error, *_held(row)],
    )
    return cur.rowcount == 1


def mark_cancelled(store: Store, row: OutboxRow, reason: str) -> bool:
    cur = store.execute(
        f"UPDATE outbox SET status = ?, claimed_at = NULL, last_error = ? WHERE {_HELD}",
        [CANCELLED, reason, *_held(row)],
    )
    return cur.rowcount == 1


def release_orphans(store: Store, host: str, orphaned: Callable[[str], bool]) -> int:
    """Rows left 'sending' by an earlier process on this host that is gone (killed
    mid-send) go back to pending at once instead of blocking their receiver's queue
    until the lease runs out. They are re-sent under the same dedup key.
    ``orphaned(claimed_by)`` decides whether a claim's process is gone."""
    rows = store.query(
        "SELECT id, claimed_by FROM outbox WHERE status = 'sending' AND claimed_by LIKE ?", [f"{host}:%"]
    )
    released = 0
    for r in rows:
        if orphaned(r["claimed_by"]):
            cur = store.execute(
                "UPDATE outbox SET status = 'pending', claimed_at = NULL, claimed_by = NULL"
                " WHERE id = ? AND status = 'sending' AND claimed_by = ?",
                [r["id"], r["claimed_by"]],
            )
            released += cur.rowcount
    return released


def rows_for_incident(store: Store, incident_id: int) -> list[OutboxRow]:
    rows = store.query("SELECT * FROM outbox WHERE incident_id = ? ORDER BY id", [incident_id])
    return [_row(r) for r in rows]


def queued_receivers(store: Store) -> set[str]:
    """Receivers with rows still to send (pending, or claimed by a send in flight)."""
    rows = store.query("SELECT DISTINCT receiver FROM outbox WHERE status IN (?, ?)", [PENDING, SENDING])
    return {r["receiver"] for r in rows}


def counts(store: Store) -> dict[str, int]:
    rows = store.query("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


def oldest_pending_age(store: Store, now: float) -> float:
    rows = store.query("SELECT MIN(created_at) AS t FROM outbox WHERE status IN ('pending', 'sending')")
    t = rows[0]["t"] if rows else None
    return 0.0 if t is None else max(0.0, now - t)


def hold_receiver(store: Store, receiver: str, until: float, reason: str) -> None:
    """Remember that ``receiver`` asked us to wait until ``until`` (a 429), across a
    restart. One row per receiver (a later hold replaces an expired one), so the table
    stays as small as the config's receivers."""
    store.execute(
        """INSERT INTO receiver_holds (receiver, until, reason) VALUES (?, ?, ?)
           ON CONFLICT (receiver) DO UPDATE SET
             until = max(until, excluded.until), reason = excluded.reason""",
        [receiver, until, reason],
    )


def receiver_holds(store: Store, now: float) -> dict[str, tuple[float, str]]:
    """Receivers still asking us to wait at ``now``: until when, and why."""
    rows = store.query("SELECT receiver, until, reason FROM receiver_holds WHERE until > ?", [now])
    return {r["receiver"]: (r["until"], r["reason"]) for r in rows}
