"""Read-only queries behind `triaged report`."""

from __future__ import annotations

from collections.abc import Sequence

from triaged.store.db import Store

PAGE_EVENTS = ("open", "reopen", "escalate", "repage")


def pages_by_incident(store: Store, incident_ids: Sequence[int]) -> dict[int, int]:
    """Distinct page notifications per incident (one per dedup key, whatever the
    number of receivers)."""
    if not incident_ids:
        return {}
    rows = store.query(
        f"""SELECT incident_id, COUNT(DISTINCT dedup_key) AS n FROM outbox
            WHERE incident_id IN ({", ".join("?" for _ in incident_ids)})
              AND event IN ({", ".join("?" for _ in PAGE_EVENTS)})
            GROUP BY incident_id""",
        [*incident_ids, *PAGE_EVENTS],
    )
    return {r["incident_id"]: r["n"] for r in rows}


def timeline_counts(
    store: Store, incident_ids: Sequence[int], kinds: Sequence[str]
) -> dict[tuple[int, str], int]:
    if not incident_ids or not kinds:
        return {}
    rows = store.query(
        f"""SELECT incident_id, kind, COUNT(*) AS n FROM timeline
            WHERE incident_id IN ({", ".join("?" for _ in incident_ids)})
              AND kind IN ({", ".join("?" for _ in kinds)})
            GROUP BY incident_id, kind""",
        [*incident_ids, *kinds],
    )
    return {(r["incident_id"], r["kind"]): r["n"] for r in rows}


def resolved_by(store: Store, incident_ids: Sequence[int]) -> dict[int, str]:
    """Who resolved each incident last ('triaged' for an auto-resolve)."""
    if not incident_ids:
        return {}
    rows = store.query(
        f"""SELECT incident_id, actor FROM timeline
            WHERE kind = 'resolved' AND incident_id IN ({", ".join("?" for _ in incident_ids)})
            ORDER BY at, id""",
        list(incident_ids),
    )
    return {r["incident_id"]: r["actor"] for r in rows}
