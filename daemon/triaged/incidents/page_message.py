"""What receivers are told of an incident: the message for each event, and the dedup
key that lets a receiver recognise a re-send of it.

Every message carries what the on-call needs to act without opening anything else:
the alerts behind it with their annotations (description, runbook link), and for a
change after the page, what changed and who made it. Who and why are read from the
timeline entry the change wrote just before, so the daemon's own changes and those
made by hand (CLI, HTTP API) are told the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from triaged.alerts.pipeline import AlertGroup
from triaged.incidents.model import AUTO_ACTOR, Incident, IncidentStatus
from triaged.messages import AlertSummary, Event, Message
from triaged.model import Severity, short_value
from triaged.store import incidents as rows
from triaged.store import notify_state
from triaged.store.db import Store

# The title tag of each event after the page, e.g. ``[P1][ACK] …``. Notifiers that tag
# titles themselves (ONS) recognise these and do not tag twice.
EVENT_TAGS = {
    Event.ACK: "ACK",
    Event.RESOLVE: "RESOLVED",
    Event.REOPEN: "REOPENED",
    Event.ESCALATE: "ESCALATED",
}
# The timeline entries that record each event's change (kind = what the writer used).
_CAUSES: dict[Event, tuple[str, ...]] = {
    Event.ACK: ("acknowledged", "investigating", "mitigated"),
    Event.RESOLVE: ("resolved",),
    Event.REOPEN: ("detected", "reopened"),
    Event.ESCALATE: ("severity", "escalated"),
}
# "Acknowledge: …" is an instruction; an ack or resolve notice has nothing left to ack.
_NO_ACK_HINT = frozenset({Event.ACK, Event.RESOLVE})


def dedup_key(incident: Incident, event: Event, seq: int = 0) -> str:
    """Stable per incident and event occurrence, so a re-send is recognisable and a new
    occurrence is never taken for an old one: ``triaged-12-open``,
    ``triaged-12-escalate-P0``, ``triaged-12-resolve-0``. After a reopen the other
    events name the lifetime (``triaged-12-ack-r1``): an ack happens once per lifetime.
    ``seq`` numbers escalations within one, as severity can be lowered by hand and
    raised again."""
    key = f"triaged-{incident.id}-{event.value}"
    if event in (Event.RESOLVE, Event.REOPEN):
        return f"{key}-{incident.reopen_count}"
    if event is Event.ESCALATE:
        key += f"-{incident.severity.name}"
    if event is not Event.OPEN and incident.reopen_count:
        key += f"-r{incident.reopen_count}"
    return f"{key}-{seq}" if seq > 1 else key


@dataclass(frozen=True)
class Change:
    """What an event after the page changed: one line for the body, and for an
    escalation the severity it came from."""

    line: str
    previous: Severity | None = None


def build_message(store: Store, incident: Incident, event: Event, group: AlertGroup | None) -> Message:
    """``group``: the alerts that caused the event, when the daemon has them; without
    it (changes by hand, resolves) the incident's recorded alerts are told instead."""
    alerts = _from_group(group) if group is not None and group.alerts else _from_store(store, incident)
    lead = alerts[0] if alerts else None
    annotations = dict(lead.annotations) if lead else {}
    change = what_changed(store, incident, event)
    lines = [
        f"Incident #{incident.id} {event.value}: {incident.title}",
        f"Severity: {incident.severity.name}   Service: {incident.service or '-'}"
        f"   Status: {incident.status}",
    ]
    if change is not None:
        lines.append(change.line)
    if lead is not None:
        lines.append(_alert_line(lead))
        if annotations.get("description"):
            lines.append(annotations["description"])
        if annotations.get("runbook_url"):
            lines.append(f"Runbook: {annotations['runbook_url']}")
    if event not in _NO_ACK_HINT and incident.status is IncidentStatus.DETECTED:
        lines.append(f"Acknowledge: triaged incidents ack {incident.id}")
    seq = notify_state.escalations(store, incident.id) + 1 if event is Event.ESCALATE else 0
    return Message(
        dedup_key=dedup_key(incident, event, seq),
        event=event,
        incident_id=incident.id,
        severity=incident.severity,
        title=f"{title_tags(incident.severity, event, change)} {incident.title}",
        body="\n".join(lines),
        service=incident.service,
        started_at=incident.detected_at,
        resolved_at=incident.resolved_at,
        labels=dict(incident.labels),
        annotations=annotations,
        alerts=alerts,
    )


def title_tags(severity: Severity, event: Event, change: Change | None = None) -> str:
    """``[P1]``, ``[P1][ACK]``, ``[P0][ESCALATED from P1]``: an escalation must not
    read like a new page, nor a new page like an escalation."""
    tag = EVENT_TAGS.get(event)
    if tag and change is not None and change.previous is not None:
        tag += f" from {change.previous.name}"
    return f"[{severity.name}]" + (f"[{tag}]" if tag else "")


def what_changed(store: Store, incident: Incident, event: Event) -> Change | None:
    """The change behind ``event`` as its timeline entry (this lifetime's) tells it."""
    kinds = _CAUSES.get(event)
    if kinds is None:
        return None
    entry = rows.latest_timeline(store, incident.id, kinds, incident.lifetime.started_at)
    if entry is None:
        return None
    actor, data = entry["actor"], entry["data"]
    reason = f": {data['reason']}" if data.get("reason") else ""
    by_hand = actor != AUTO_ACTOR
    if event is Event.ACK:
        doing = "" if data.get("to") in (None, "acknowledged") else f" ({data['to']})"
        return Change(f"Acknowledged by {actor}{doing}{reason}")
    if event is Event.ESCALATE:
        return _escalation(incident, actor, data, reason)
    verb = "Resolved" if event is Event.RESOLVE else "Reopened"
    if by_hand:
        return Change(f"{verb} by {actor}{reason}")
    text = str(entry["message"])  # the daemon's own words: "auto-resolved: all alerts clear …"
    return Change(_capital(text) if verb.lower() in text.lower() else f"{verb}: {text}")


def _escalation(incident: Incident, actor: str, data: dict[str, Any], reason: str) -> Change | None:
    if data.get("to") != incident.severity.name:
        return None  # not the change this message is about
    previous = Severity[data["from"]] if data.get("from") in Severity.__members__ else None
    was = f" {previous.name} →" if previous is not None else ""
    who = f"by {actor}" if actor != AUTO_ACTOR else f"by alert {data.get('alert') or '-'}"
    return Change(f"Escalated{was} {incident.severity.name} {who}{reason}", previous)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _alert_line(alert: AlertSummary) -> str:
    if alert.value is None:
        return f"Alert: {alert.rule} ({alert.state})"
    if alert.state == "resolved":
        return f"Alert: {alert.rule} resolved (last value {short_value(alert.value)})"
    return f"Alert: {alert.rule} = {short_value(alert.value)}"


def _from_group(group: AlertGroup) -> tuple[AlertSummary, ...]:
    return tuple(
        AlertSummary(
            rule=a.rule,
            labels=a.labels.as_dict(),
            annotations=dict(a.annotations),
            value=json_value(a.value),
            state=a.state.value,
            started_at=a.active_at,
        )
        for a in group.alerts
    )


def _from_store(store: Store, incident: Incident) -> tuple[AlertSummary, ...]:
    """The incident's recorded alerts, those still firing first, worst first: the
    first one leads the message (its description and runbook)."""
    recorded = rows.incident_alerts(store, incident.id)

    def rank(r: dict[str, Any]) -> tuple[bool, int, float]:
        sev = Severity[r["severity"]] if r["severity"] in Severity.__members__ else Severity.P3
        return (r["state"] != "firing", sev.value, r["active_at"])

    return tuple(
        AlertSummary(
            rule=r["alertname"],
            labels=r["labels"],
            annotations=r["annotations"],
            value=r["value"],
            state=r["state"],
            started_at=r["active_at"],
            ended_at=r["resolved_at"],
        )
        for r in sorted(recorded, key=rank)
    )


def json_value(v: float) -> float | None:
    """A sample value as JSON can carry it: NaN and ±Inf become null."""
    return None if math.isnan(v) or math.isinf(v) else v
