"""A severity set by hand against the alerts: on-call lowered (or raised) it knowing
what was firing, so those alerts must not undo the choice at the next evaluation;
only something worse than what they saw does. Pure functions of the incident record,
shared by the service (which escalates) and on-call edits (which set it)."""

from __future__ import annotations

from triaged.incidents.model import Incident
from triaged.model import Severity


def escalation_bar(incident: Incident) -> Severity:
    """Alerts must be worse than this to escalate: the incident's severity, and when
    on-call set it by hand, also what was firing then (they lowered it knowing that)."""
    if incident.severity_set_by is None or incident.severity_seen is None:
        return incident.severity
    return min(incident.severity, incident.severity_seen)


def override_note(incident: Incident) -> str:
    """For the timeline: why an escalation overrides the hand-set severity ("" if not set by hand)."""
    if incident.severity_set_by is None:
        return ""
    seen = f"{incident.severity_seen}, the worst alert" if incident.severity_seen is not None else "any alert"
    return (
        f"worse than {seen} firing when {incident.severity_set_by} set {incident.severity} by hand,"
        " so the hand-set severity no longer holds"
    )


def holds_note(old: Severity, severity: Severity, seen: Severity | None) -> str:
    """What the timeline says the daemon will do with a lowered severity (a raised one
    needs no word: alerts only ever raise it further)."""
    if severity < old:
        return ""
    if seen is None:
        return f" (kept unless an alert worse than {severity} fires)"
    if seen < severity:
        return f" (kept while alerts up to {seen} fire, as now; a worse alert raises it again)"
    return ""
