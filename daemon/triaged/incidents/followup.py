"""Action items on incidents, and the recurrence check that keeps them honest.

Every change is written with a timeline entry on its incident in one transaction, so
the incident's history shows who committed to what and when it was verified.
"""

from __future__ import annotations

from dataclasses import dataclass

from triaged.incidents.actions import UNFINISHED, ActionError, ActionItem, ActionStatus, move, validate_new
from triaged.incidents.model import Incident
from triaged.store import actions as action_rows
from triaged.store import incidents as rows
from triaged.store.db import Store

# How far back a new incident looks for earlier ones with the same rule or service.
RECURRENCE_LOOKBACK = 200


@dataclass(frozen=True)
class NewItem:
    title: str
    owner: str | None
    due: str | None
    priority: str | None
    type: str | None


class FollowUp:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, incident_id: int, new: NewItem, actor: str, now: float) -> ActionItem:
        """Validate and record an item. Raises ActionError (every reason) or LookupError."""
        if rows.get_incident(self.store, incident_id) is None:
            raise LookupError(f"no incident #{incident_id}")
        due_at = validate_new(
            title=new.title, owner=new.owner, due=new.due, priority=new.priority, kind=new.type, now=now
        )
        assert new.owner is not None and new.priority is not None and new.type is not None
        item = ActionItem(
            id=0,
            incident_id=incident_id,
            title=" ".join(new.title.split()),
            owner=new.owner.strip(),
            due_at=due_at,
            priority=new.priority,
            type=new.type,
            status=ActionStatus.OPEN,
            created_at=now,
            created_by=actor,
            updated_at=now,
        )
        with self.store.atomic():
            action_rows.insert(self.store, item)
            rows.add_timeline(
                self.store,
                incident_id,
                now,
                "action_added",
                f"action item #{item.id} ({item.priority}, {item.type}) for {item.owner}: {item.title}",
                actor=actor,
                data={"action_id": item.id, "owner": item.owner, "due_at": item.due_at},
            )
        return item

    def move(self, item_id: int, target: ActionStatus, actor: str, now: float, note: str = "") -> ActionItem:
        with self.store.atomic():
            item = action_rows.get(self.store, item_id)
            if item is None:
                raise LookupError(f"no action item #{item_id}")
            previous = item.status
            move(item, target, now, actor)
            if note:
                item.note = note
            action_rows.update(self.store, item)
            rows.add_timeline(
                self.store,
                item.incident_id,
                now,
                f"action_{target.value}",
                f"action item #{item.id} {previous} → {target}: {item.title}"
                + (f" ({note})" if note else ""),
                actor=actor,
                data={"action_id": item.id, "from": previous.value, "to": target.value},
            )
        return item


def flag_recurrence(store: Store, incident: Incident, now: float) -> list[ActionItem]:
    """A new incident with the same rule (or service) as earlier ones: put their
    unfinished action items on its timeline. Returns the items flagged."""
    earlier = [
        i
        for i in rows.list_incidents(store, limit=RECURRENCE_LOOKBACK)
        if i.id != incident.id
        and i.opened_at <= incident.opened_at
        and (
            (incident.rule and i.rule == incident.rule)
            or (incident.service and i.service == incident.service)
        )
    ]
    if not earlier:
        return []
    items = action_rows.for_incidents(store, [i.id for i in earlier], UNFINISHED)
    if not items:
        return []
    listed = "; ".join(f"#{a.id} {a.title} (owner {a.owner}, {a.status})" for a in items)
    incidents = sorted({a.incident_id for a in items})
    with store.atomic():
        rows.add_timeline(
            store,
            incident.id,
            now,
            "recurrence",
            f"this happened before (incident {', '.join(f'#{i}' for i in incidents)});"
            f" these action items are still open: {listed}",
            data={"incidents": incidents, "action_ids": [a.id for a in items]},
        )
    return items


__all__ = ["ActionError", "FollowUp", "NewItem", "flag_recurrence"]
