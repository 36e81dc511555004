"""Postmortem rows: where the draft was written, and when it was completed."""

from __future__ import annotations

from typing import Any

from triaged.store.db import Store


def get(store: Store, incident_id: int) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM postmortems WHERE incident_id = ?", [incident_id])
    return rows[0] if rows else None


def record_draft(
    store: Store, incident_id: int, *, path: str, chart_path: str | None, by: str, now: float, findings: int
) -> None:
    store.execute(
        """INSERT INTO postmortems (incident_id, path, chart_path, drafted_at, drafted_by, findings)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (incident_id) DO UPDATE SET path = excluded.path,
             chart_path = excluded.chart_path, drafted_at = excluded.drafted_at,
             drafted_by = excluded.drafted_by, findings = excluded.findings""",
        [incident_id, path, chart_path, now, by, findings],
    )


def record_completed(store: Store, incident_id: int, *, by: str, now: float, findings: int) -> None:
    store.execute(
        "UPDATE postmortems SET completed_at = ?, completed_by = ?, findings = ? WHERE incident_id = ?",
        [now, by, findings, incident_id],
    )


def all_postmortems(store: Store) -> dict[int, dict[str, Any]]:
    return {r["incident_id"]: r for r in store.query("SELECT * FROM postmortems")}


def record_waiver(store: Store, incident_id: int, *, by: str, now: float, reason: str) -> None:
    store.execute(
        """INSERT INTO postmortem_waivers (incident_id, waived_at, waived_by, reason) VALUES (?, ?, ?, ?)
           ON CONFLICT (incident_id) DO UPDATE SET waived_at = excluded.waived_at,
             waived_by = excluded.waived_by, reason = excluded.reason""",
        [incident_id, now, by, reason],
    )


def all_waivers(store: Store) -> dict[int, dict[str, Any]]:
    """Incidents closed without the postmortem their severity asks for, with why."""
    return {r["incident_id"]: r for r in store.query("SELECT * FROM postmortem_waivers")}
