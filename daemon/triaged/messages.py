"""What a notification says: plain values shared by incidents (which record them in the
outbox) and notifiers (which deliver them)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from triaged.model import Severity


class Event(enum.StrEnum):
    OPEN = "open"
    ESCALATE = "escalate"
    REPAGE = "repage"
    ACK = "ack"
    RESOLVE = "resolve"
    REMINDER = "reminder"
    REOPEN = "reopen"
    HEARTBEAT = "heartbeat"


@dataclass(frozen=True)
class AlertSummary:
    rule: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    value: float | None
    state: str  # "firing" or "resolved"
    started_at: float
    ended_at: float | None = None


@dataclass(frozen=True)
class Message:
    """One notification. ``dedup_key`` is stable for an incident and event, so a
    receiver can recognise the re-send that follows a crash between send and record."""

    dedup_key: str
    event: Event
    incident_id: int
    severity: Severity
    title: str
    body: str
    service: str
    started_at: float
    resolved_at: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    alerts: tuple[AlertSummary, ...] = ()

    @property
    def status(self) -> str:
        return "resolved" if self.event is Event.RESOLVE else "firing"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["event"] = self.event.value
        data["severity"] = self.severity.name
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        fields = dict(data)
        fields["event"] = Event(fields["event"])
        fields["severity"] = Severity[fields["severity"]]
        fields["alerts"] = tuple(AlertSummary(**a) for a in fields.get("alerts", ()))
        return cls(**fields)
