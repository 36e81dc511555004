"""A notifier that records messages and fails on command."""

from __future__ import annotations

from triaged.notifiers.base import Message, NotifyError, Receipt


class RecordingNotifier:
    def __init__(self, name: str = "recorder") -> None:
        self._name = name
        self.sent: list[Message] = []
        self.fail_with: NotifyError | None = None

    @property
    def name(self) -> str:
        return self._name

    def send(self, message: Message) -> Receipt:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)
        return Receipt(message_id=f"{self._name}-{len(self.sent)}")
