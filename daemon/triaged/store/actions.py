"""Action item rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from triaged.incidents.actions import ActionItem, ActionStatus, same_owner
from triaged.store.db import Store

_FIELDS = (
    "incident_id",
    "title",
    "owner",
    "due_at",
    "priority",
    "type",
    "status",
    "created_at",
    "created_by",
    "updated_at",
    "started_at",
    "done_at",
    "verified_at",
    "verified_by",
    "dropped_at",
    "note",
)


def _to_row(item: ActionItem) -> dict[str, Any]:
    row = asdict(item)
    row["status"] = item.status.value
    return {k: row[k] for k in _FIELDS}


def _from_row(row: dict[str, Any]) -> ActionItem:
    data = {k: row[k] for k in ("id", *_FIELDS)}
    data["status"] = ActionStatus(row["status"])
    return ActionItem(**data)


def insert(store: Store, item: ActionItem) -> ActionItem:
    item.id = store.insert("action_items", _to_row(item))
    return item


def update(store: Store, item: ActionItem) -> None:
    store.update("action_items", item.id, _to_row(item))


def get(store: Store, item_id: int) -> ActionItem | None:
    rows = store.query("SELECT * FROM action_items WHERE id = ?", [item_id])
    return _from_row(rows[0]) if rows else None


def list_items(
    store: Store,
    *,
    incident_id: int | None = None,
    owner: str | None = None,
    statuses: Iterable[ActionStatus] | None = None,
) -> list[ActionItem]:
    where: list[str] = []
    params: list[object] = []
    if incident_id is not None:
        where.append("incident_id = ?")
        params.append(incident_id)
    if statuses is not None:
        wanted = [s.value for s in statuses]
        where.append(f"status IN ({', '.join('?' for _ in wanted)})")
        params.extend(wanted)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = store.query(f"SELECT * FROM action_items {clause} ORDER BY due_at, id", params)
    items = [_from_row(r) for r in rows]
    # Matched in Python, not SQL: SQLite folds the case of ASCII letters only.
    return items if not owner else [a for a in items if same_owner(a.owner, owner)]


def for_incidents(
    store: Store, incident_ids: Iterable[int], statuses: Iterable[ActionStatus]
) -> list[ActionItem]:
    ids = list(incident_ids)
    wanted = [s.value for s in statuses]
    if not ids or not wanted:
        return []
    rows = store.query(
        f"SELECT * FROM action_items WHERE incident_id IN ({', '.join('?' for _ in ids)})"
        f" AND status IN ({', '.join('?' for _ in wanted)}) ORDER BY due_at, id",
        [*ids, *wanted],
    )
    return [_from_row(r) for r in rows]
