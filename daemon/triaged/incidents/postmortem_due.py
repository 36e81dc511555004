"""Which incidents owe a postmortem, and by when."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from triaged.incidents.model import Incident
from triaged.model import Severity
from triaged.store import incidents as rows
from triaged.store import postmortems as pm_rows
from triaged.store.db import Store


@dataclass(frozen=True)
class PostmortemPolicy:
    due_s: float = 48 * 3600.0
    severities: frozenset[Severity] = frozenset({Severity.P0, Severity.P1})


@dataclass(frozen=True)
class Owed:
    incident: Incident
    due_at: float
    record: dict[str, Any] | None  # the postmortems row, once drafted
    late: bool


def required(inc: Incident, policy: PostmortemPolicy) -> bool:
    return inc.severity in policy.severities and inc.resolved_at is not None


def postmortem_status(
    inc: Incident,
    record: dict[str, Any] | None,
    policy: PostmortemPolicy,
    now: float,
    *,
    waived: bool = False,
) -> str:
    if record is not None and record["completed_at"] is not None:
        return "complete"
    if waived:
        return "waived"
    if not required(inc, policy):
        return "drafted" if record is not None else "optional"
    assert inc.resolved_at is not None
    late = now > inc.resolved_at + policy.due_s
    if record is not None:
        return "drafted, late" if late else "drafted"
    return "late" if late else "due"


def postmortems_owed(store: Store, now: float, policy: PostmortemPolicy) -> list[Owed]:
    """Resolved incidents of a required severity without a completed postmortem, unless
    on-call closed them saying why none will be written (a waiver)."""
    records = pm_rows.all_postmortems(store)
    owed = []
    for inc in rows.awaiting_postmortem(store, [s.name for s in policy.severities]):
        record = records.get(inc.id)
        assert inc.resolved_at is not None
        due_at = inc.resolved_at + policy.due_s
        owed.append(Owed(inc, due_at, record, now > due_at))
    return sorted(owed, key=lambda o: o.due_at)
