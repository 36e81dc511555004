"""Delivery state beyond one outbox row: order, scheduling, re-page counts, fallback copies.

Each row has an ordering key, ``first_due_at`` (when it was first meant to go; rows
written without one use ``created_at``). A receiver gets each incident's rows strictly
in key order: a row is claimable only when no earlier row of the same incident for the
same receiver is still pending or being sent. So a receiver that was down for ten
minutes gets every page once it is back, a resolve can never overtake its open, and
one incident's row waiting out a retry does not hold up another incident's page.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from triaged.store import outbox
from triaged.store.db import Store

CANCELLED = outbox.CANCELLED
_KEY = "COALESCE({t}.first_due_at, {t}.created_at)"
_UNSENT = "('pending', 'sending')"
# Due: pending and its time has come, or claimed by a sender whose lease ran out.
_DUE = "(({t}.status = 'pending' AND {t}.due_at <= ?) OR ({t}.status = 'sending' AND {t}.claimed_at <= ?))"
PAGE_EVENTS = ("open", "escalate", "reopen", "repage")


def claim_due_in_order(
    store: Store,
    now: float,
    worker: str,
    *,
    lease_s: float,
    limit: int = 50,
    skip_ids: Collection[int] = (),
    receiver: str | None = None,
) -> list[outbox.OutboxRow]:
    """Claim the head row of each (receiver, incident) queue if it is due
    (compare-and-set, as :func:`outbox.claim_due`, so a second process never claims the
    same row), oldest first; only ``receiver``'s rows if given. ``skip_ids`` (rows
    tried already in this dispatch round) are left alone."""
    o, e = _KEY.format(t="o"), _KEY.format(t="e")
    skip = ""
    params: list[Any] = [now, now - lease_s]
    if receiver is not None:
        skip += " AND o.receiver = ?"
        params.append(receiver)
    if skip_ids:
        skip += f" AND o.id NOT IN ({', '.join('?' for _ in skip_ids)})"
        params += list(skip_ids)
    candidates = store.query(
        f"""SELECT o.id, o.status, o.claimed_at FROM outbox o
            WHERE {_DUE.format(t="o")}
              {skip}
              AND NOT EXISTS (
                SELECT 1 FROM outbox e
                WHERE e.receiver = o.receiver AND e.incident_id IS o.incident_id
                  AND e.status IN {_UNSENT} AND e.id != o.id
                  AND ({e} < {o} OR ({e} = {o} AND e.id < o.id)))
            ORDER BY {o}, o.id LIMIT ?""",
        [*params, limit],
    )
    return outbox.claim(store, candidates, worker, now)


def due_receivers(store: Store, now: float, *, lease_s: float) -> list[str]:
    """Receivers with a row due (or a claim past its lease), longest waiting first."""
    rows = store.query(
        f"SELECT o.receiver FROM outbox o WHERE {_DUE.format(t='o')}"
        f" GROUP BY o.receiver ORDER BY MIN({_KEY.format(t='o')})",
        [now, now - lease_s],
    )
    return [r["receiver"] for r in rows]


def schedule(store: Store, dedup_key: str, receiver: str, due_at: float) -> None:
    """Set when a just-recorded row first goes out (group wait, group interval)."""
    store.execute(
        "UPDATE outbox SET due_at = ?, first_due_at = ?"
        " WHERE dedup_key = ? AND receiver = ? AND attempts = 0",
        [due_at, due_at, dedup_key, receiver],
    )


def last_key(store: Store, incident_id: int, receiver: str) -> float | None:
    """The latest ordering key of this incident's rows for ``receiver`` (any status but
    cancelled): a new row must not be keyed before it, or it would overtake it."""
    rows = store.query(
        f"SELECT MAX({_KEY.format(t='outbox')}) AS k FROM outbox"
        " WHERE incident_id = ? AND receiver = ? AND status != ?",
        [incident_id, receiver, CANCELLED],
    )
    return rows[0]["k"] if rows else None


def pull_forward(store: Store, incident_id: int, receiver: str, now: float) -> int:
    """An urgent row is coming: rows of the same incident still waiting go now, ahead
    of it, so the receiver still sees them in order and the urgent one is not held
    behind them. A row in its group wait also moves its place in the order to now; a
    row waiting out a retry backoff keeps its place and is tried again at once (the
    receiver may well be back: a P0 must not wait up to max_backoff for it to be)."""
    with store.atomic():
        waiting = store.execute(
            "UPDATE outbox SET due_at = ?, first_due_at = ? WHERE incident_id = ? AND receiver = ?"
            " AND status = 'pending' AND attempts = 0 AND due_at > ?",
            [now, now, incident_id, receiver, now],
        ).rowcount
        retrying = store.execute(
            "UPDATE outbox SET due_at = ? WHERE incident_id = ? AND receiver = ?"
            " AND status = 'pending' AND attempts > 0 AND due_at > ?",
            [now, incident_id, receiver, now],
        ).rowcount
    return waiting + retrying


def waiting_rows(store: Store, incident_id: int, now: float) -> list[dict[str, Any]]:
    """Rows of an incident never tried and not yet due (still in their group wait)."""
    return store.query(
        "SELECT id, event, receiver, dedup_key FROM outbox WHERE incident_id = ? AND status = 'pending'"
        " AND attempts = 0 AND due_at > ?",
        [incident_id, now],
    )


def cancel(store: Store, row_id: int, reason: str) -> None:
    store.execute(
        "UPDATE outbox SET status = ?, claimed_at = NULL, last_error = ? WHERE id = ?",
        [CANCELLED, reason, row_id],
    )


def refresh_payload(store: Store, row_id: int, payload: dict[str, Any]) -> None:
    store.execute(
        "UPDATE outbox SET payload = ? WHERE id = ? AND status = 'pending' AND attempts = 0",
        [json.dumps(payload, sort_keys=True), row_id],
    )


# -- re-page ---------------------------------------------------------------------------
def page_history(store: Store, incident_id: int, receiver: str) -> tuple[float | None, int, int]:
    """(key of the latest page, number of re-pages so far, rows still unsent) for one
    incident and receiver. Re-pages are counted cancelled ones included, so each new
    one gets a dedup key never used before."""
    marks = ", ".join("?" for _ in PAGE_EVENTS)
    key = _KEY.format(t="outbox")
    rows = store.query(
        f"""SELECT MAX(CASE WHEN status != ? THEN {key} END) AS last,
                   SUM(event = 'repage') AS repages,
                   SUM(status IN {_UNSENT}) AS unsent
            FROM outbox WHERE incident_id = ? AND receiver = ? AND event IN ({marks})""",
        [CANCELLED, incident_id, receiver, *PAGE_EVENTS],
    )
    r = rows[0]
    return r["last"], int(r["repages"] or 0), int(r["unsent"] or 0)


def paged_receivers(store: Store, incident_id: int, since: float) -> list[str]:
    """The receivers given a page (open, escalation, reopen, re-page) of this incident
    since ``since``, first paged first: those whose page was cancelled unsent or
    dead-lettered never had it, and fallback copies are the fallback sweep's own."""
    marks = ", ".join("?" for _ in PAGE_EVENTS)
    rows = store.query(
        f"""SELECT receiver FROM outbox
            WHERE incident_id = ? AND event IN ({marks}) AND created_at >= ?
              AND status NOT IN (?, ?) AND fallback_of IS NULL
            GROUP BY receiver ORDER BY MIN(id)""",
        [incident_id, *PAGE_EVENTS, since, CANCELLED, outbox.DEAD],
    )
    return [r["receiver"] for r in rows]


def escalations(store: Store, incident_id: int) -> int:
    """How many escalations of this incident were recorded (any receiver, any status),
    those the CLI recorded for the daemon to route included: two raised by hand before
    the daemon routes the first must not get the same dedup key."""
    rows = store.query(
        """SELECT COUNT(*) AS n FROM (
             SELECT dedup_key FROM outbox WHERE incident_id = ? AND event = 'escalate'
             UNION SELECT dedup_key FROM announcements WHERE incident_id = ? AND event = 'escalate')""",
        [incident_id, incident_id],
    )
    return int(rows[0]["n"] or 0)


# -- fallback --------------------------------------------------------------------------
def overdue(
    store: Store, receiver: str, older_than: float, to: str, *, severities: list[str], limit: int = 100
) -> list[outbox.OutboxRow]:
    """Rows for ``receiver`` of these severities, meant to go before ``older_than`` and
    still unsent, that have no copy for the fallback receiver ``to`` yet."""
    marks = ", ".join("?" for _ in severities)
    rows = store.query(
        f"""SELECT o.id FROM outbox o
            WHERE o.receiver = ? AND o.status IN {_UNSENT} AND o.fallback_of IS NULL
              AND {_KEY.format(t="o")} <= ? AND json_extract(o.payload, '$.severity') IN ({marks})
              AND NOT EXISTS (SELECT 1 FROM outbox c WHERE c.dedup_key = o.dedup_key AND c.receiver = ?)
            ORDER BY {_KEY.format(t="o")}, o.id LIMIT ?""",
        [receiver, older_than, *severities, to, limit],
    )
    return [outbox.get_row(store, r["id"]) for r in rows]


def follow_ups(store: Store, receiver: str, to: str, *, limit: int = 100) -> list[outbox.OutboxRow]:
    """Rows for ``receiver`` of incidents whose pages already went to the fallback
    ``to``, keyed after the first such copy and not copied yet: the fallback pager
    must hear the ack, escalation and resolve too, or it pages on forever."""
    o, f = _KEY.format(t="o"), _KEY.format(t="f")
    rows = store.query(
        f"""SELECT o.id FROM outbox o
            WHERE o.receiver = ? AND o.fallback_of IS NULL AND o.status != ? AND o.incident_id IS NOT NULL
              AND EXISTS (SELECT 1 FROM outbox f WHERE f.receiver = ? AND f.fallback_of IS NOT NULL
                          AND f.incident_id = o.incident_id AND {f} <= {o})
              AND NOT EXISTS (SELECT 1 FROM outbox c WHERE c.dedup_key = o.dedup_key AND c.receiver = ?)
            ORDER BY {o}, o.id LIMIT ?""",
        [receiver, CANCELLED, to, to, limit],
    )
    return [outbox.get_row(store, r["id"]) for r in rows]


def add_fallback(store: Store, row: outbox.OutboxRow, to: str, now: float) -> bool:
    """Copy ``row`` for the fallback receiver, same dedup key and ordering key."""
    cur = store.execute(
        """INSERT OR IGNORE INTO outbox
             (incident_id, event, receiver, dedup_key, payload, status, created_at, due_at,
              first_due_at, fallback_of)
           SELECT incident_id, event, ?, dedup_key, payload, 'pending', ?, ?,
                  COALESCE(first_due_at, created_at), id
           FROM outbox WHERE id = ?""",
        [to, now, now, row.id],
    )
    return cur.rowcount == 1


# -- flapping --------------------------------------------------------------------------
_CHANGE = {"alert_firing": 1, "alert_resolved": -1, "resolved": 0}


def alert_changes(store: Store, rule: str, group_key: str, since: float) -> list[tuple[float, int]]:
    """The story of ``rule``'s series in the incidents of one group that were open at
    some time since ``since``, from each one's start, in order: (time, +1) a series
    started firing, (time, -1) one stopped, (time, 0) the incident was resolved, so
    none of its series counts as firing any more (a hand resolve writes no stops).
    At one time, starts come first: a series taking over from another is no gap."""
    rows = store.query(
        "SELECT t.at, t.kind FROM timeline t JOIN incidents i ON i.id = t.incident_id"
        " WHERE i.group_key = ? AND (i.resolved_at IS NULL OR i.resolved_at >= ?)"
        " AND (t.kind = 'resolved'"
        "      OR (t.kind IN ('alert_firing', 'alert_resolved') AND json_extract(t.data, '$.alert') = ?))"
        " ORDER BY t.at, t.kind, t.id",
        [group_key, since, rule],
    )
    return [(r["at"], _CHANGE[r["kind"]]) for r in rows]


def flap_reported(store: Store, incident_id: int, rule: str, since: float) -> bool:
    rows = store.query(
        "SELECT 1 FROM timeline WHERE incident_id = ? AND kind = 'flapping' AND at >= ?"
        " AND json_extract(data, '$.alert') = ? LIMIT 1",
        [incident_id, since, rule],
    )
    return bool(rows)


def flapping_rules(store: Store, since: float) -> list[dict[str, Any]]:
    return store.query(
        """SELECT json_extract(data, '$.alert') AS rule, MAX(at) AS last_at, COUNT(*) AS reports,
                  MAX(incident_id) AS incident_id, MAX(message) AS message
           FROM timeline WHERE kind = 'flapping' AND at >= ? GROUP BY rule ORDER BY last_at DESC""",
        [since],
    )


def announced(store: Store, incident_id: int, dedup_key: str) -> bool:
    """Whether a notification with this key was recorded for any receiver, or is
    recorded for the daemon to route (a reopen made from the CLI a moment ago)."""
    rows = store.query(
        "SELECT 1 FROM outbox WHERE incident_id = ? AND dedup_key = ? AND status != ?"
        " UNION ALL SELECT 1 FROM announcements WHERE incident_id = ? AND dedup_key = ?"
        " AND done_at IS NULL LIMIT 1",
        [incident_id, dedup_key, CANCELLED, incident_id, dedup_key],
    )
    return bool(rows)
