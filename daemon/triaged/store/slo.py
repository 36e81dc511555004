"""SLO definitions and SLI samples, recorded by the daemon so the CLI (which has no
tsdb) can compute error budgets from the database alone."""

from __future__ import annotations

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
) -> None:
    store.execute(
        """INSERT INTO slos (name, service, good, total, objective, window_s, interval_s, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET service = excluded.service, good = excluded.good,
             total = excluded.total, objective = excluded.objective, window_s = excluded.window_s,
             interval_s = excluded.interval_s, updated_at = excluded.updated_at""",
        [name, service, good, total, objective, window_s, interval_s, now],
    )


def list_slos(store: Store) -> list[dict[str, Any]]:
    return store.query("SELECT * FROM slos ORDER BY name")


def add_sample(store: Store, slo: str, t: float, good: float, total: float) -> None:
    store.execute(
        "INSERT OR REPLACE INTO slo_samples (slo, t, good, total) VALUES (?, ?, ?, ?)", [slo, t, good, total]
    )


def last_sample_at(store: Store, slo: str) -> float | None:
    rows = store.query("SELECT MAX(t) AS t FROM slo_samples WHERE slo = ?", [slo])
    return rows[0]["t"] if rows else None


def samples(store: Store, slo: str, since: float, until: float) -> list[tuple[float, float, float]]:
    rows = store.query(
        "SELECT t, good, total FROM slo_samples WHERE slo = ? AND t >= ? AND t <= ? ORDER BY t",
        [slo, since, until],
    )
    return [(r["t"], r["good"], r["total"]) for r in rows]


def gc(store: Store, slo: str, before: float) -> int:
    cur = store.execute("DELETE FROM slo_samples WHERE slo = ? AND t < ?", [slo, before])
    return cur.rowcount
