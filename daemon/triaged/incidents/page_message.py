"""What receivers are told of an incident: the message for each event, and the dedup
key that lets a receiver recognise a re-send of it."""

from __future__ import annotations

import math

from triaged.alerts.pipeline import AlertGroup
from triaged.incidents.model import Incident
from triaged.messages import AlertSummary, Event, Message
from triaged.model import short_value
from triaged.store import notify_state
from triaged.store.db import Store


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


def build_message(store: Store, incident: Incident, event: Event, group: AlertGroup | None) -> Message:
    alerts = group.alerts if group is not None else []
    summaries = tuple(
        AlertSummary(
            rule=a.rule,
            labels=a.labels.as_dict(),
            annotations=dict(a.annotations),
            value=json_value(a.value),
            state=a.state.value,
            started_at=a.active_at,
        )
        for a in alerts
    )
    lead = alerts[0] if alerts else None
    annotations = dict(lead.annotations) if lead else {}
    verb = {Event.RESOLVE: "RESOLVED", Event.ACK: "ACK", Event.REOPEN: "REOPENED"}.get(event)
    prefix = f"[{incident.severity.name}]" + (f"[{verb}]" if verb else "")
    lines = [
        f"Incident #{incident.id} {event.value}: {incident.title}",
        f"Severity: {incident.severity.name}   Service: {incident.service or '-'}"
        f"   Status: {incident.status}",
    ]
    if lead is not None:
        lines.append(f"Alert: {lead.rule} = {short_value(lead.value)}")
        if annotations.get("description"):
            lines.append(annotations["description"])
    lines.append(f"Acknowledge: triaged incidents ack {incident.id}")
    seq = notify_state.escalations(store, incident.id) + 1 if event is Event.ESCALATE else 0
    return Message(
        dedup_key=dedup_key(incident, event, seq),
        event=event,
        incident_id=incident.id,
        severity=incident.severity,
        title=f"{prefix} {incident.title}",
        body="\n".join(lines),
        service=incident.service,
        started_at=incident.detected_at,
        resolved_at=incident.resolved_at,
        labels=dict(incident.labels),
        annotations=annotations,
        alerts=summaries,
    )


def json_value(v: float) -> float | None:
    """A sample value as JSON can carry it: NaN and ±Inf become null."""
    return None if math.isnan(v) or math.isinf(v) else v
