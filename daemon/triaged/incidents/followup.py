"""Action items on incidents, and the recurrence check that keeps them honest.

Every change is written with a timeline entry on its incident in one transaction, so
the incident's history shows who committed to what and when it was verified.
"""

from __future__ import annotations

from dataclasses import dataclass

from triaged.clock import utc_text
from triaged.incidents.actions import (
    UNFINISHED,
    ActionError,
    ActionItem,
    ActionStatus,
    AlreadyThereError,
    future_due,
    move,
    normalise_owner,
    owner_problem,
    validate_new,
)
from triaged.incidents.model import Incident
from triaged.store import actions as action_rows
from triaged.store import incidents as rows
from triaged.store.db import Store

# How many earlier incidents a new one looks back over for the same rule or service.
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
            owner=normalise_owner(new.owner),
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

    def reschedule(self, item_id: int, due: str, actor: str, now: float, note: str) -> ActionItem:
        """Move an unfinished item's due date (not into the past). Raises ActionError or
        LookupError."""
        try:
            due_at = future_due(due, now)
        except ValueError as exc:
            raise ActionError([str(exc)]) from None
        with self.store.atomic():
            item = self._unfinished(item_id, "can be rescheduled")
            previous, item.due_at, item.updated_at = item.due_at, due_at, now
            change = f"due {utc_text(previous)} UTC → {utc_text(due_at)} UTC"
            self._save_change(
                item, "action_rescheduled", change, values=(previous, due_at), actor=actor, note=note, now=now
            )
        return item

    def _save_change(
        self,
        item: ActionItem,
        kind: str,
        change: str,
        *,
        values: tuple[object, object],
        actor: str,
        note: str,
        now: float,
    ) -> None:
        """Store the changed item and say on its incident's timeline what changed."""
        action_rows.update(self.store, item)
        rows.add_timeline(
            self.store,
            item.incident_id,
            now,
            kind,
            f"action item #{item.id} {change}: {item.title}" + (f" ({note})" if note else ""),
            actor=actor,
            data={"action_id": item.id, "from": values[0], "to": values[1]},
        )

    def _unfinished(self, item_id: int, what: str) -> ActionItem:
        item = action_rows.get(self.store, item_id)
        if item is None:
            raise LookupError(f"no action item #{item_id}")
        if item.closed:
            raise ActionError([f"action item #{item.id} is {item.status}: only an unfinished item {what}"])
        return item

    def assign(self, item_id: int, owner: str, actor: str, now: float, note: str = "") -> ActionItem:
        """Hand an unfinished item to another person (the owner moved teams, or goes by
        another name now). Raises ActionError, AlreadyThereError or LookupError."""
        problem = owner_problem(owner)
        if problem:
            raise ActionError([problem])
        with self.store.atomic():
            item = self._unfinished(item_id, "can change owner")
            new = normalise_owner(owner)
            if new == item.owner:  # a new spelling of the same name (Asha for asha) is a change
                raise AlreadyThereError(item, f"owned by {item.owner}")
            previous, item.owner, item.updated_at = item.owner, new, now
            change = f"owner {previous} → {new}"
            self._save_change(
                item, "action_assigned", change, values=(previous, new), actor=actor, note=note, now=now
            )
        return item


def flag_recurrence(store: Store, incident: Incident, now: float) -> list[ActionItem]:
    """A new incident from the same rule (alertname) on the same service as earlier
    ones: it happened before, so put their unfinished action items on its timeline
    (``recurrence``, which the postmortem lists under what did not go well). Two
    weaker hints are noted as ``related_items``, never as a recurrence: earlier
    incidents of the same service from other rules, and of the same rule on other
    services. Returns every item flagged."""
    same_rule: list[int] = []
    same_service: list[int] = []
    elsewhere: list[int] = []
    names = _rules_of(store, incident)
    for i in rows.list_incidents(store, limit=RECURRENCE_LOOKBACK):
        if i.id == incident.id or i.opened_at > incident.opened_at:
            continue
        same_svc = bool(incident.service) and i.service == incident.service
        # Without a service label on either, the rule alone decides, as it always did.
        unknown_svc = not incident.service or not i.service
        # Only the service's incidents need their grouped alerts read (one query each).
        rule_matches = i.rule in names or (same_svc and bool(names & _rules_of(store, i)))
        if rule_matches and (same_svc or unknown_svc):
            same_rule.append(i.id)
        elif same_svc:
            same_service.append(i.id)
        elif rule_matches:
            elsewhere.append(i.id)
    repeated = action_rows.for_incidents(store, same_rule, UNFINISHED)
    related = action_rows.for_incidents(store, same_service, UNFINISHED)
    other_services = action_rows.for_incidents(store, elsewhere, UNFINISHED)
    with store.atomic():
        if repeated:
            lead = f"this happened before (incident {_ids(repeated)}); these action items are still open"
            _note(store, incident.id, now, Flag("recurrence", lead, repeated))
        if related:
            lead = (
                f"other incidents of service {incident.service} ({_ids(related)}, other rules)"
                " have unfinished action items that may bear on this one"
            )
            _note(store, incident.id, now, Flag("related_items", lead, related))
        if other_services:
            lead = (
                f"the same rule fired on other services ({_ids(other_services)});"
                " their unfinished action items may bear on this one"
            )
            _note(store, incident.id, now, Flag("related_items", lead, other_services))
    return [*repeated, *related, *other_services]


def _rules_of(store: Store, incident: Incident) -> set[str]:
    """The rules an incident's alerts came from: its lead rule and every grouped one."""
    names = {a["alertname"] for a in rows.incident_alerts(store, incident.id)}
    return (names | {incident.rule}) - {""}


def _ids(items: list[ActionItem]) -> str:
    return ", ".join(f"#{i}" for i in sorted({a.incident_id for a in items}))


@dataclass(frozen=True)
class Flag:
    """One timeline entry listing earlier incidents' unfinished items."""

    kind: str  # recurrence (same rule) or related_items (same service only)
    lead: str
    items: list[ActionItem]


def _note(store: Store, incident_id: int, now: float, flag: Flag) -> None:
    items = flag.items
    listed = "; ".join(f"#{a.id} {a.title} (owner {a.owner}, {a.status})" for a in items)
    rows.add_timeline(
        store,
        incident_id,
        now,
        flag.kind,
        f"{flag.lead}: {listed}",
        data={"incidents": sorted({a.incident_id for a in items}), "action_ids": [a.id for a in items]},
    )


__all__ = ["ActionError", "FollowUp", "NewItem", "flag_recurrence"]
