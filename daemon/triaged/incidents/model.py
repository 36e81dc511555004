"""The incident lifecycle as one enum, one table of allowed transitions, one function."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from triaged.model import Severity


class IncidentStatus(enum.StrEnum):
    DETECTED = "detected"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"
    CLOSED = "closed"


OPEN = frozenset(
    {
        IncidentStatus.DETECTED,
        IncidentStatus.ACKNOWLEDGED,
        IncidentStatus.INVESTIGATING,
        IncidentStatus.MITIGATED,
    }
)

S = IncidentStatus
# Who the daemon is on the timeline, and on a reopen it made itself.
AUTO_ACTOR = "triaged"
# Forward moves may skip steps (an engineer can resolve straight from detected);
# "reopen" goes back to detected from resolved, or from postmortem: drafting the
# postmortem does not make the fix hold, so a recurrence within the reopen window is
# the same incident (its draft is then out of date and is drafted again).
ALLOWED: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    S.DETECTED: frozenset({S.ACKNOWLEDGED, S.INVESTIGATING, S.MITIGATED, S.RESOLVED}),
    S.ACKNOWLEDGED: frozenset({S.INVESTIGATING, S.MITIGATED, S.RESOLVED}),
    S.INVESTIGATING: frozenset({S.MITIGATED, S.RESOLVED}),
    S.MITIGATED: frozenset({S.INVESTIGATING, S.RESOLVED}),
    S.RESOLVED: frozenset({S.POSTMORTEM, S.CLOSED, S.DETECTED}),
    S.POSTMORTEM: frozenset({S.CLOSED, S.DETECTED}),
    S.CLOSED: frozenset(),
}


# The command that makes each move, for error messages: people type verbs, not states.
VERBS: dict[IncidentStatus, str] = {
    S.DETECTED: "reopen",
    S.ACKNOWLEDGED: "ack",
    S.INVESTIGATING: "investigate",
    S.MITIGATED: "mitigate",
    S.RESOLVED: "resolve",
    S.POSTMORTEM: "postmortem draft",
    S.CLOSED: "close",
}


class TransitionError(ValueError):
    pass


@dataclass(frozen=True)
class Lifetime:
    """One stretch of an incident from (re)opening to resolve. A reopen starts a new
    one and keeps the earlier ones as history: the reopened incident is unacknowledged
    again, and times to acknowledge or resolve are not measured across the healthy gap."""

    started_at: float
    acknowledged_at: float | None = None
    investigating_at: float | None = None
    mitigated_at: float | None = None
    resolved_at: float | None = None
    reopened_by: str | None = None  # None for the first; "triaged" when its alerts came back


@dataclass
class Incident:
    id: int
    group_key: str
    service: str
    title: str
    severity: Severity
    status: IncidentStatus
    detected_at: float
    opened_at: float
    updated_at: float
    rule: str = ""
    expr: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    acknowledged_at: float | None = None
    investigating_at: float | None = None
    mitigated_at: float | None = None
    resolved_at: float | None = None
    postmortem_at: float | None = None
    closed_at: float | None = None
    clear_since: float | None = None
    assignee: str | None = None
    reopen_count: int = 0
    # The current lifetime's start and who reopened it (None until a reopen).
    reopened_at: float | None = None
    reopened_by: str | None = None
    past_lifetimes: tuple[Lifetime, ...] = ()
    # Set when on-call chose the severity: who, and the worst severity of the alerts that
    # were firing then (None: none were). Alerts no worse than that do not override it.
    severity_set_by: str | None = None
    severity_seen: Severity | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def reopened_by_hand(self) -> bool:
        return self.reopened_by is not None and self.reopened_by != AUTO_ACTOR

    @property
    def lifetime(self) -> Lifetime:
        """The current lifetime, from the incident's own timestamps."""
        return Lifetime(
            started_at=self.opened_at if self.reopened_at is None else self.reopened_at,
            acknowledged_at=self.acknowledged_at,
            investigating_at=self.investigating_at,
            mitigated_at=self.mitigated_at,
            resolved_at=self.resolved_at,
            reopened_by=self.reopened_by,
        )

    @property
    def lifetimes(self) -> tuple[Lifetime, ...]:
        return (*self.past_lifetimes, self.lifetime)


def transition(
    incident: Incident, target: IncidentStatus, now: float, *, actor: str = AUTO_ACTOR
) -> Incident:
    """Move ``incident`` to ``target`` at ``now``, stamping the matching timestamp
    (``actor`` is kept only for a reopen). Raises :class:`TransitionError` naming the
    allowed moves."""
    if target not in ALLOWED[incident.status]:
        steps = ", ".join(VERBS[s] for s in sorted(ALLOWED[incident.status])) or "none"
        verb = VERBS[target]
        raise TransitionError(
            f"incident #{incident.id} is {incident.status}: {verb} is not possible now (next: {steps})"
        )
    if incident.status is S.DETECTED and target in (S.INVESTIGATING, S.MITIGATED):
        incident.acknowledged_at = now  # working on it is acknowledging it
    incident.status = target
    incident.updated_at = now
    if target is S.DETECTED:
        _reopen(incident, now, actor)
    else:
        setattr(incident, f"{target.value}_at", now)
    return incident


def draft_outdated(previous: IncidentStatus, incident_id: int) -> str:
    """What a reopen adds to the timeline when a postmortem was already drafted: that
    draft no longer tells the whole story."""
    if previous is not S.POSTMORTEM:
        return ""
    return (
        "; the postmortem draft predates this reopen: once resolved, draft it again"
        f" (triaged postmortem draft {incident_id} --force keeps the old one as .bak)"
    )


def _reopen(incident: Incident, now: float, actor: str) -> None:
    """Close the current lifetime into history and start a new, unacknowledged one."""
    incident.past_lifetimes = (*incident.past_lifetimes, incident.lifetime)
    incident.reopen_count += 1
    incident.reopened_at, incident.reopened_by = now, actor
    incident.acknowledged_at = incident.investigating_at = incident.mitigated_at = None
    incident.resolved_at = None
    incident.clear_since = None


def as_json(incident: Incident) -> dict[str, Any]:
    """The incident as the CLI's ``--json`` and the HTTP API show it: severities and
    the status by name."""
    data = asdict(incident)
    data["severity"] = incident.severity.name
    data["status"] = incident.status.value
    data["severity_seen"] = None if incident.severity_seen is None else incident.severity_seen.name
    return data
