"""SLO definitions and SLI samples, recorded by the daemon so the CLI (which has no
tsdb) can compute error budgets from the database alone."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from triaged.store.db import Store


def upsert_slo(
    store: Store,
    *,
    name: str,
    service: str,
    good: str,
    total: str,
    objective: float,
    window_s: float,
    interval_s: float,
    now: float,
    down: str = "",
) -> None:
    store.execute(
        """INSERT INTO slos (name, service, good, total, down, objective, window_s, interval_s, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET service = excluded.service, good = excluded.good,
             total = excluded.total, down = excluded.down, objective = excluded.objective,
             window_s = excluded.window_s, interval_s = excluded.interval_s,
             updated_at = excluded.updated_at, retired_at = NULL""",
        [name, service, good, total, down, objective, window_s, interval_s, now],
    )


def retire_others(store: Store, names: Iterable[str], now: float) -> list[str]:
    """Mark every SLO not in ``names`` retired at ``now`` (the config no longer has it).
    Returns the ones retired by this call."""
    keep = list(names)
    marks = ", ".join("?" * len(keep))
    where = "retired_at IS NULL" + (f" AND name NOT IN ({marks})" if keep else "")
    gone = [r["name"] for r in store.query(f"SELECT name FROM slos WHERE {where} ORDER BY name", keep)]
    if gone:
        store.execute(f"UPDATE slos SET retired_at = ? WHERE {where}", [now, *keep])
    return gone


def list_slos(store: Store, *, since: float | None = None) -> list[dict[str, Any]]:
    """The SLOs defined now; with ``since``, also those retired after it (a report or a
    postmortem of a time they were still defined)."""
    if since is None:
        return store.query("SELECT * FROM slos WHERE retired_at IS NULL ORDER BY name")
    return store.query("SELECT * FROM slos WHERE retired_at IS NULL OR retired_at > ? ORDER BY name", [since])


def add_sample(
    store: Store, slo: str, t: float, good: float, total: float, *, estimated: bool = False
) -> None:
    """``estimated``: not measured, but charged for an outage (see ``SLO.down``)."""
    store.execute(
        "INSERT OR REPLACE INTO slo_samples (slo, t, good, total, estimated) VALUES (?, ?, ?, ?, ?)",
        [slo, t, good, total, int(estimated)],
    )


# The traffic an outage is estimated at: the average over this long before it, so a
# dying app's last minute (its counters already still) does not make the outage free,
# and a quiet night is not charged at the evening's traffic.
TRAFFIC_BEFORE_S = 3600.0


def traffic_before(store: Store, slo: str, span_s: float = TRAFFIC_BEFORE_S) -> float | None:
    """The average total rate of the measured samples in the ``span_s`` ending at the
    newest one: what an outage is estimated at (None without traffic there)."""
    rows = store.query(
        """SELECT AVG(total) AS traffic FROM slo_samples WHERE slo = ? AND estimated = 0 AND t >= (
             SELECT t FROM slo_samples WHERE slo = ? AND estimated = 0 ORDER BY t DESC LIMIT 1) - ?""",
        [slo, slo, span_s],
    )
    traffic = rows[0]["traffic"] if rows else None
    return float(traffic) if traffic is not None and traffic > 0 else None


def last_sample_at(store: Store, slo: str) -> float | None:
    rows = store.query("SELECT MAX(t) AS t FROM slo_samples WHERE slo = ?", [slo])
    return rows[0]["t"] if rows else None


def samples(store: Store, slo: str, since: float, until: float) -> list[tuple[float, float, float, bool]]:
    """(t, good, total, estimated) in time order; estimated: charged for an outage, not measured."""
    rows = store.query(
        "SELECT t, good, total, estimated FROM slo_samples WHERE slo = ? AND t >= ? AND t <= ? ORDER BY t",
        [slo, since, until],
    )
    return [(r["t"], r["good"], r["total"], bool(r["estimated"])) for r in rows]


def gc(store: Store, slo: str, before: float) -> int:
    cur = store.execute("DELETE FROM slo_samples WHERE slo = ? AND t < ?", [slo, before])
    return cur.rowcount
