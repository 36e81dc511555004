"""The incident lifecycle as one enum, one table of allowed transitions, one function."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

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
# Forward moves may skip steps (an engineer can resolve straight from detected);
# "reopen" goes back to detected from resolved.
ALLOWED: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    S.DETECTED: frozenset({S.ACKNOWLEDGED, S.INVESTIGATING, S.MITIGATED, S.RESOLVED}),
    S.ACKNOWLEDGED: frozenset({S.INVESTIGATING, S.MITIGATED, S.RESOLVED}),
    S.INVESTIGATING: frozenset({S.MITIGATED, S.RESOLVED}),
    S.MITIGATED: frozenset({S.INVESTIGATING, S.RESOLVED}),
    S.RESOLVED: frozenset({S.POSTMORTEM, S.CLOSED, S.DETECTED}),
    S.POSTMORTEM: frozenset({S.CLOSED}),
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

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


def transition(incident: Incident, target: IncidentStatus, now: float) -> Incident:
    """Move ``incident`` to ``target`` at ``now``, stamping the matching timestamp.
    Raises :class:`TransitionError` naming the allowed moves."""
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
    if target is S.DETECTED:  # reopen
        incident.reopen_count += 1
        incident.resolved_at = None
        incident.clear_since = None
    else:
        setattr(incident, f"{target.value}_at", now)
    return incident
