"""Silence rows and muted-alert episodes.

A silence is never deleted: expiring one early moves its end to ``now``, so who
silenced what, why and for how long stays answerable after the fact. Each stretch
of time an alert spends muted is one episode row, so an alert that fired while
silenced is still visible (``triaged silence muted``) after the silence is gone.
"""

from __future__ import annotations

import json
from typing import Any

from triaged.alerts.silence import Mute, Silence, parse_matchers
from triaged.rules.alerting import Alert
from triaged.store.db import Store
from triaged.store.incidents import add_timeline

# Episodes that ended longer ago than this are pruned; the incident timeline keeps
# the part that mattered.
EPISODE_RETENTION_S = 30 * 86400.0


def _silence(r: dict[str, Any]) -> Silence:
    return Silence(
        id=r["id"],
        matchers=parse_matchers(json.loads(r["matchers"])),
        starts_at=r["starts_at"],
        ends_at=r["ends_at"],
        author=r["author"],
        reason=r["reason"],
        created_at=r["created_at"],
    )


def add(store: Store, silence: Silence) -> Silence:
    cur = store.execute(
        "INSERT INTO silences (matchers, starts_at, ends_at, author, reason, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            json.dumps([str(m) for m in silence.matchers]),
            silence.starts_at,
            silence.ends_at,
            silence.author,
            silence.reason,
            silence.created_at,
        ],
    )
    return get(store, int(cur.lastrowid or 0)) or silence


def get(store: Store, silence_id: int) -> Silence | None:
    rows = store.query("SELECT * FROM silences WHERE id = ?", [silence_id])
    return _silence(rows[0]) if rows else None


def expire(store: Store, silence_id: int, now: float, actor: str) -> Silence | None:
    """End a silence now (a pending one never starts). Returns None if there is no
    such silence; an already expired one is left as it was."""
    store.execute(
        "UPDATE silences SET starts_at = MIN(starts_at, ?), ends_at = ?, expired_by = ?"
        " WHERE id = ? AND ends_at > ?",
        [now, now, actor, silence_id, now],
    )
    return get(store, silence_id)


def note_early_end(store: Store, silence: Silence, actor: str, reason: str, now: float) -> list[int]:
    """Write on the timeline of each incident whose alerts the silence is muting that
    it was ended early, by whom and why (the silence row keeps who, not why).
    Returns the incidents noted."""
    rows = store.query(
        "SELECT DISTINCT incident_id FROM muted_alerts WHERE kind = 'silence' AND ref = ?"
        " AND ended_at IS NULL AND incident_id IS NOT NULL ORDER BY incident_id",
        [str(silence.id)],
    )
    noted = [int(r["incident_id"]) for r in rows]
    for incident_id in noted:
        add_timeline(
            store,
            incident_id,
            now,
            "silence_expired",
            f"silence #{silence.id} ({silence.matcher_text}) ended early by {actor}"
            + (f": {reason}" if reason else ""),
            actor=actor,
            data={"silence_id": silence.id, "reason": reason},
        )
    return noted


def current(store: Store, now: float) -> list[Silence]:
    """Active and pending silences: the ones that mute now or will."""
    return [_silence(r) for r in store.query("SELECT * FROM silences WHERE ends_at > ? ORDER BY id", [now])]


def listing(store: Store, now: float, *, expired_since: float | None = None) -> list[Silence]:
    since = now if expired_since is None else expired_since
    rows = store.query("SELECT * FROM silences WHERE ends_at > ? ORDER BY ends_at, id", [since])
    return [_silence(r) for r in rows]


def expired_by(store: Store, silence_id: int) -> str | None:
    rows = store.query("SELECT expired_by FROM silences WHERE id = ?", [silence_id])
    return rows[0]["expired_by"] if rows else None


# -- muted alerts ----------------------------------------------------------------------
def active_mutes(store: Store) -> dict[str, dict[str, Any]]:
    rows = store.query("SELECT * FROM muted_alerts WHERE ended_at IS NULL")
    return {r["fingerprint"]: r for r in rows}


def start_mute(store: Store, alert: Alert, mute: Mute, incident_id: int | None, now: float) -> None:
    store.execute(
        """INSERT INTO muted_alerts
             (fingerprint, alertname, labels, kind, ref, reason, incident_id, first_at, last_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            alert.fingerprint,
            alert.rule,
            json.dumps(alert.labels.as_dict(), sort_keys=True),
            mute.kind,
            mute.ref,
            mute.reason,
            incident_id,
            now,
            now,
        ],
    )


def touch_mutes(store: Store, fingerprints: list[str], now: float) -> None:
    if fingerprints:
        marks = ", ".join("?" for _ in fingerprints)
        store.execute(
            f"UPDATE muted_alerts SET last_at = ? WHERE ended_at IS NULL AND fingerprint IN ({marks})",
            [now, *fingerprints],
        )


def end_mutes(store: Store, fingerprints: list[str], now: float) -> None:
    if fingerprints:
        marks = ", ".join("?" for _ in fingerprints)
        store.execute(
            f"UPDATE muted_alerts SET ended_at = ? WHERE ended_at IS NULL AND fingerprint IN ({marks})",
            [now, *fingerprints],
        )
    store.execute("DELETE FROM muted_alerts WHERE ended_at < ?", [now - EPISODE_RETENTION_S])


def mute_history(store: Store, fingerprints: list[str]) -> list[dict[str, Any]]:
    """Ended episodes of these alerts, newest first (to tell an incident it was muted)."""
    if not fingerprints:
        return []
    marks = ", ".join("?" for _ in fingerprints)
    return store.query(
        f"SELECT * FROM muted_alerts WHERE fingerprint IN ({marks}) AND ended_at IS NOT NULL"
        " ORDER BY ended_at DESC",
        fingerprints,
    )


def muted(store: Store, *, since: float, active_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    clause = "ended_at IS NULL" if active_only else "(ended_at IS NULL OR ended_at >= ?)"
    params: list[object] = [] if active_only else [since]
    rows = store.query(
        f"SELECT * FROM muted_alerts WHERE {clause} ORDER BY first_at DESC LIMIT ?", [*params, limit]
    )
    for r in rows:
        r["labels"] = json.loads(r["labels"])
    return rows


def muted_counts(store: Store, kind: str) -> dict[str, int]:
    rows = store.query("SELECT ref, COUNT(*) AS n FROM muted_alerts WHERE kind = ? GROUP BY ref", [kind])
    return {r["ref"]: r["n"] for r in rows}
