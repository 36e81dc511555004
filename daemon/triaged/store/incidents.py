"""Incident, incident-alert and timeline rows."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from typing import Any

from triaged.incidents.model import OPEN, Incident, IncidentStatus, Lifetime
from triaged.model import Severity
from triaged.store.db import Store

_OPEN_SQL = ", ".join(f"'{s.value}'" for s in OPEN)
_FIELDS = (
    "group_key",
    "service",
    "title",
    "severity",
    "status",
    "rule",
    "expr",
    "labels",
    "detected_at",
    "opened_at",
    "acknowledged_at",
    "investigating_at",
    "mitigated_at",
    "resolved_at",
    "postmortem_at",
    "closed_at",
    "clear_since",
    "assignee",
    "reopen_count",
    "updated_at",
    "reopened_at",
    "reopened_by",
    "past_lifetimes",
    "severity_set_by",
    "severity_seen",
)


def _to_row(incident: Incident) -> dict[str, Any]:
    row = asdict(incident)
    row["severity"] = incident.severity.name
    row["status"] = incident.status.value
    row["labels"] = json.dumps(incident.labels, sort_keys=True)
    row["past_lifetimes"] = json.dumps([asdict(x) for x in incident.past_lifetimes], sort_keys=True)
    row["severity_seen"] = None if incident.severity_seen is None else incident.severity_seen.name
    return {k: row[k] for k in _FIELDS}


def _from_row(row: dict[str, Any]) -> Incident:
    data = {k: row[k] for k in ("id", *_FIELDS)}
    data["severity"] = Severity[row["severity"]]
    data["status"] = IncidentStatus(row["status"])
    data["labels"] = json.loads(row["labels"])
    data["past_lifetimes"] = tuple(Lifetime(**x) for x in json.loads(row["past_lifetimes"]))
    data["severity_seen"] = None if row["severity_seen"] is None else Severity[row["severity_seen"]]
    return Incident(**data)


def insert_incident(store: Store, incident: Incident) -> Incident:
    incident.id = store.insert("incidents", _to_row(incident))
    return incident


def update_incident(store: Store, incident: Incident) -> None:
    store.update("incidents", incident.id, _to_row(incident))


def get_incident(store: Store, incident_id: int) -> Incident | None:
    rows = store.query("SELECT * FROM incidents WHERE id = ?", [incident_id])
    return _from_row(rows[0]) if rows else None


def open_incidents(store: Store) -> list[Incident]:
    rows = store.query(f"SELECT * FROM incidents WHERE status IN ({_OPEN_SQL}) ORDER BY id")
    return [_from_row(r) for r in rows]


def recently_resolved(store: Store, group_key: str, since: float) -> list[Incident]:
    """Incidents of the group resolved since ``since`` that may still reopen: resolved,
    or resolved with a postmortem drafted (closed ones are done with)."""
    rows = store.query(
        "SELECT * FROM incidents WHERE group_key = ? AND status IN ('resolved', 'postmortem')"
        " AND resolved_at >= ?"
        " ORDER BY resolved_at DESC",
        [group_key, since],
    )
    return [_from_row(r) for r in rows]


def list_incidents(
    store: Store, *, status: str | None = None, limit: int = 50, since: float | None = None
) -> list[Incident]:
    where: list[str] = []
    params: list[object] = []
    if status == "open":
        where.append(f"status IN ({_OPEN_SQL})")
    elif status:
        where.append("status = ?")
        params.append(status)
    if since is not None:
        where.append("opened_at >= ?")
        params.append(since)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = store.query(f"SELECT * FROM incidents {clause} ORDER BY id DESC LIMIT ?", [*params, limit])
    return [_from_row(r) for r in rows]


def opened_between(
    store: Store, since: float, until: float, *, page_size: int = 500
) -> Iterator[list[Incident]]:
    """Every incident opened in [``since``, ``until``], a page at a time in id order
    (keyset on id, so however many there are, only one page is held, and a row
    inserted meanwhile neither shifts nor repeats a page)."""
    after = 0
    while True:
        found = store.query(
            "SELECT * FROM incidents WHERE id > ? AND opened_at >= ? AND opened_at <= ? ORDER BY id LIMIT ?",
            [after, since, until, page_size],
        )
        if found:
            yield [_from_row(r) for r in found]
        if len(found) < page_size:
            return
        after = found[-1]["id"]


def awaiting_postmortem(store: Store, severities: Iterable[str]) -> list[Incident]:
    """Resolved incidents of these severities with no completed postmortem and no
    waiver, oldest first: all of them, however many incidents came after."""
    names = list(severities)
    if not names:
        return []
    marks = ", ".join("?" * len(names))
    rows = store.query(
        f"""SELECT * FROM incidents
            WHERE resolved_at IS NOT NULL AND severity IN ({marks})
              AND id NOT IN (SELECT incident_id FROM postmortems WHERE completed_at IS NOT NULL)
              AND id NOT IN (SELECT incident_id FROM postmortem_waivers)
            ORDER BY id""",
        names,
    )
    return [_from_row(r) for r in rows]


# -- alerts attached to incidents ------------------------------------------------------
def incident_alerts(store: Store, incident_id: int) -> list[dict[str, Any]]:
    rows = store.query(
        "SELECT * FROM incident_alerts WHERE incident_id = ? ORDER BY active_at", [incident_id]
    )
    for r in rows:
        r["labels"] = json.loads(r["labels"])
        r["annotations"] = json.loads(r["annotations"])
    return rows


def upsert_incident_alert(store: Store, incident_id: int, row: dict[str, Any]) -> None:
    """Insert or refresh one alert of an incident. ``peak`` is the worst value seen:
    the lowest for a rule that fires below its threshold (``low``), else the highest;
    a missing value (NaN) leaves it as it was."""
    store.execute(
        """INSERT INTO incident_alerts
             (incident_id, fingerprint, alertname, labels, annotations, severity, state, expr,
              active_at, fired_at, resolved_at, value, peak)
           VALUES (:incident_id, :fingerprint, :alertname, :labels, :annotations, :severity,
                   :state, :expr, :active_at, :fired_at, :resolved_at, :value, :value)
           ON CONFLICT (incident_id, fingerprint) DO UPDATE SET
             annotations = excluded.annotations, severity = excluded.severity,
             state = excluded.state, fired_at = COALESCE(incident_alerts.fired_at, excluded.fired_at),
             resolved_at = excluded.resolved_at, value = excluded.value,
             peak = CASE
               WHEN excluded.value IS NULL THEN incident_alerts.peak
               WHEN :low THEN MIN(COALESCE(incident_alerts.peak, excluded.value), excluded.value)
               ELSE MAX(COALESCE(incident_alerts.peak, excluded.value), excluded.value)
             END""",
        {
            "low": False,
            **row,
            "incident_id": incident_id,
            "labels": json.dumps(row["labels"], sort_keys=True),
            "annotations": json.dumps(row["annotations"], sort_keys=True),
        },
    )


def firing_on_closed(store: Store) -> list[dict[str, Any]]:
    """Alerts still recorded firing on incidents that are no longer open: resolved by
    hand (or with --force, or while muted) before they cleared. Few rows: each leaves
    this set once its alert clears (partial index incident_alerts_unresolved)."""
    return store.query(
        "SELECT a.incident_id, a.fingerprint, a.alertname, a.value, i.resolved_at"
        " FROM incident_alerts a JOIN incidents i ON i.id = a.incident_id"
        f" WHERE a.state != 'resolved' AND i.status NOT IN ({_OPEN_SQL})"
        " ORDER BY a.incident_id, a.active_at"
    )


def mark_alerts_resolved(store: Store, incident_id: int, fingerprints: list[str], now: float) -> None:
    store.execute(
        f"""UPDATE incident_alerts SET state = 'resolved', resolved_at = ?
            WHERE incident_id = ? AND fingerprint IN ({", ".join("?" for _ in fingerprints)})""",
        [now, incident_id, *fingerprints],
    )


# -- timeline --------------------------------------------------------------------------
def add_timeline(
    store: Store,
    incident_id: int,
    at: float,
    kind: str,
    message: str,
    *,
    actor: str = "triaged",
    data: dict[str, Any] | None = None,
) -> None:
    store.execute(
        "INSERT INTO timeline (incident_id, at, kind, actor, message, data) VALUES (?, ?, ?, ?, ?, ?)",
        [incident_id, at, kind, actor, message, json.dumps(data or {}, sort_keys=True)],
    )


def count_incidents(store: Store, *, status: str | None = None) -> int:
    """How many incidents ``status`` selects ("open": every open status; None: all)."""
    if status == "open":
        where, params = f"status IN ({_OPEN_SQL})", []
    elif status:
        where, params = "status = ?", [status]
    else:
        where, params = "1", []
    rows = store.query(f"SELECT count(*) AS n FROM incidents WHERE {where}", params)
    return int(rows[0]["n"])


def timeline_of_kinds(
    store: Store, incident_ids: Sequence[int], kinds: tuple[str, ...]
) -> dict[int, list[dict[str, Any]]]:
    """The ``kinds`` entries of several incidents in one query, each incident's in
    time order (for listings, which would otherwise read a timeline a row)."""
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in incident_ids}
    if not incident_ids or not kinds:
        return out
    ids, marks = ", ".join("?" for _ in incident_ids), ", ".join("?" for _ in kinds)
    rows = store.query(
        f"SELECT * FROM timeline WHERE incident_id IN ({ids}) AND kind IN ({marks}) ORDER BY at, id",
        [*incident_ids, *kinds],
    )
    for r in rows:
        r["data"] = json.loads(r["data"])
        out[r["incident_id"]].append(r)
    return out


def timeline(store: Store, incident_id: int) -> list[dict[str, Any]]:
    rows = store.query("SELECT * FROM timeline WHERE incident_id = ? ORDER BY at, id", [incident_id])
    for r in rows:
        r["data"] = json.loads(r["data"])
    return rows


def has_timeline(store: Store, incident_id: int, kind: str, since: float) -> bool:
    """Whether the incident's timeline has a ``kind`` entry at or after ``since``."""
    rows = store.query(
        "SELECT 1 FROM timeline WHERE incident_id = ? AND kind = ? AND at >= ? LIMIT 1",
        [incident_id, kind, since],
    )
    return bool(rows)


def latest_timeline(
    store: Store, incident_id: int, kinds: tuple[str, ...], since: float
) -> dict[str, Any] | None:
    """The newest entry of one of ``kinds`` at or after ``since`` (through the
    incident's timeline index), or None."""
    marks = ", ".join("?" for _ in kinds)
    rows = store.query(
        f"SELECT * FROM timeline WHERE incident_id = ? AND at >= ? AND kind IN ({marks})"
        " ORDER BY at DESC, id DESC LIMIT 1",
        [incident_id, since, *kinds],
    )
    if not rows:
        return None
    rows[0]["data"] = json.loads(rows[0]["data"])
    return rows[0]
