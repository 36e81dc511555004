"""Read-only aggregates for triaged's own /metrics (kept here: all SQL lives in store/)."""

from __future__ import annotations

from triaged.incidents.model import OPEN
from triaged.store.db import Store

_OPEN_SQL = ", ".join(f"'{s.value}'" for s in sorted(OPEN))


def outbox_pending_by_receiver(store: Store) -> dict[str, int]:
    """Notifications not yet delivered (pending or being sent), per receiver."""
    rows = store.query(
        "SELECT receiver, COUNT(*) AS n FROM outbox WHERE status IN ('pending', 'sending') GROUP BY receiver"
    )
    return {r["receiver"]: r["n"] for r in rows}


def open_incidents_by_severity(store: Store) -> dict[str, int]:
    rows = store.query(
        f"SELECT severity, COUNT(*) AS n FROM incidents WHERE status IN ({_OPEN_SQL}) GROUP BY severity"
    )
    return {r["severity"]: r["n"] for r in rows}
