"""A receiver that writes the notification to the daemon's log. Never fails."""

from __future__ import annotations

import structlog

from triaged.notifiers.base import Message, Receipt


class LogNotifier:
    def __init__(self, name: str = "log") -> None:
        self._name = name
        self._log = structlog.get_logger("triaged.notify")

    @property
    def name(self) -> str:
        return self._name

    def send(self, message: Message) -> Receipt:
        self._log.info(
            "page",
            receiver=self._name,
            title=message.title,
            incident_id=message.incident_id,
            severity=message.severity.name,
            event_kind=message.event.value,
            dedup_key=message.dedup_key,
        )
        return Receipt(message_id=message.dedup_key)
