"""Which receivers get a notification, decided by labels, severity and event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from triaged.messages import Event
from triaged.model import Severity


@dataclass(frozen=True)
class Route:
    receiver: str
    severities: frozenset[Severity] = frozenset(Severity)
    events: frozenset[Event] = frozenset(Event)
    match: Mapping[str, str] = field(default_factory=dict)

    def accepts(self, labels: Mapping[str, str], severity: Severity, event: Event) -> bool:
        if severity not in self.severities or event not in self.events:
            return False
        return all(labels.get(k) == v for k, v in self.match.items())


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)

    def receivers(self, labels: Mapping[str, str], severity: Severity, event: Event) -> list[str]:
        seen: list[str] = []
        for route in self.routes:
            if route.accepts(labels, severity, event) and route.receiver not in seen:
                seen.append(route.receiver)
        return seen
