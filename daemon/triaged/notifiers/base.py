"""What every notifier receives and how it reports failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from triaged.messages import AlertSummary, Event, Message

__all__ = ["AlertSummary", "Event", "Message", "Notifier", "NotifyError", "Receipt"]


@dataclass(frozen=True)
class Receipt:
    """What a successful delivery returns: the receiver's id for the message, if any."""

    message_id: str | None = None


class NotifyError(Exception):
    """A failed delivery. ``permanent`` errors go to the dead-letter state at once;
    others are retried with backoff, no sooner than ``retry_after`` seconds.
    ``throttled``: the receiver as a whole asked us to slow down (HTTP 429), so its
    other rows wait as long too; any other failure holds up only this row's incident.
    ``deferred``: nothing was sent, the notifier's own limit held it back (ONS's
    per-topic budget): the row waits ``retry_after`` without spending an attempt."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        throttled: bool = False,
        deferred: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.throttled = throttled
        self.deferred = deferred


class Notifier(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, message: Message) -> Receipt:
        """Deliver or raise :class:`NotifyError`. Must be bounded in time."""
        ...
