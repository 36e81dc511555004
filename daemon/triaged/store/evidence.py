"""Evidence rows: the series an incident was detected on, kept beside the incident so a
postmortem can be written long after the in-memory tsdb has moved on."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from triaged.store.db import Store


def ensure_series(
    store: Store,
    incident_id: int,
    *,
    alertname: str,
    expr: str,
    role: str,
    labels: Mapping[str, str],
    op: str | None,
    threshold: float | None,
) -> int:
    key = json.dumps(dict(labels), sort_keys=True)
    store.execute(
        """INSERT OR IGNORE INTO evidence_series
             (incident_id, alertname, expr, role, labels, op, threshold)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        [incident_id, alertname, expr, role, key, op, threshold],
    )
    rows = store.query(
        "SELECT id FROM evidence_series WHERE incident_id = ? AND expr = ? AND labels = ?",
        [incident_id, expr, key],
    )
    return int(rows[0]["id"])


def find_series(store: Store, incident_id: int, expr: str, labels: Mapping[str, str]) -> int | None:
    rows = store.query(
        "SELECT id FROM evidence_series WHERE incident_id = ? AND expr = ? AND labels = ?",
        [incident_id, expr, json.dumps(dict(labels), sort_keys=True)],
    )
    return int(rows[0]["id"]) if rows else None


def series_count(store: Store, incident_id: int) -> int:
    rows = store.query("SELECT COUNT(*) AS n FROM evidence_series WHERE incident_id = ?", [incident_id])
    return int(rows[0]["n"])


def add_points(store: Store, series_id: int, points: Iterable[tuple[float, float | None]]) -> None:
    store.db.conn.executemany(
        "INSERT OR IGNORE INTO evidence_points (series_id, t, v) VALUES (?, ?, ?)",
        [(series_id, t, v) for t, v in points],
    )


def point_count(store: Store, series_id: int) -> int:
    rows = store.query("SELECT COUNT(*) AS n FROM evidence_points WHERE series_id = ?", [series_id])
    return int(rows[0]["n"])


def thin(store: Store, series_id: int) -> int:
    """Drop every second point (keeping the first and the last): the series keeps its
    whole time span at half the resolution. Returns how many points were removed."""
    times = [
        r["t"]
        for r in store.query("SELECT t FROM evidence_points WHERE series_id = ? ORDER BY t", [series_id])
    ]
    drop = [(series_id, t) for i, t in enumerate(times[1:-1], 1) if i % 2 == 1]
    store.db.conn.executemany("DELETE FROM evidence_points WHERE series_id = ? AND t = ?", drop)
    return len(drop)


def series_for(store: Store, incident_id: int) -> list[dict[str, Any]]:
    """Every evidence series of an incident with its points, oldest first."""
    rows = store.query("SELECT * FROM evidence_series WHERE incident_id = ? ORDER BY id", [incident_id])
    for r in rows:
        r["labels"] = json.loads(r["labels"])
        pts = store.query("SELECT t, v FROM evidence_points WHERE series_id = ? ORDER BY t", [r["id"]])
        r["points"] = [(p["t"], p["v"]) for p in pts]
    return rows


def get_state(store: Store, incident_id: int) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM evidence_state WHERE incident_id = ?", [incident_id])
    return rows[0] if rows else None


def put_state(
    store: Store, incident_id: int, *, started_at: float, last_t: float, step_s: float, error: str | None
) -> None:
    store.execute(
        """INSERT INTO evidence_state (incident_id, started_at, last_t, step_s, error)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (incident_id) DO UPDATE SET last_t = excluded.last_t,
             step_s = excluded.step_s, error = excluded.error""",
        [incident_id, started_at, last_t, step_s, error],
    )
