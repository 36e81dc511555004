"""Dead-man's switch: a heartbeat to one receiver every N minutes while triaged works.

A watcher cannot page about its own death, so the receiver (a webhook such as
healthchecks.io, or an on-call tool's heartbeat endpoint) pages when the beats stop.
A beat is sent straight through the notifier, not through the outbox: a heartbeat
that is late is worse than none, because it claims life that is no longer there. For
the same reason no beat is sent while the scheduler loop is stuck.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import structlog

from triaged.messages import Event, Message
from triaged.model import Severity
from triaged.notifiers.base import Notifier, NotifyError
from triaged.service.watchdog import LoopProgress

log = structlog.get_logger("triaged.heartbeat")


class DeadMansSwitch:
    def __init__(
        self,
        notifier: Notifier,
        progress: LoopProgress,
        *,
        stale_after_s: float,
        record: Callable[[str], None] | None = None,
        host: str | None = None,
    ) -> None:
        self.notifier = notifier
        self.progress = progress
        self.stale_after_s = stale_after_s
        self.record = record or (lambda _result: None)
        self.host = host or socket.gethostname()
        self.log = log.bind(receiver=notifier.name)

    def message(self, now: float) -> Message:
        return Message(
            # Unique per beat, so receivers that de-duplicate never swallow one.
            dedup_key=f"triaged-heartbeat:{self.host}:{int(now)}",
            event=Event.HEARTBEAT,
            incident_id=0,
            severity=Severity.P3,
            title=f"triaged on {self.host} is alive",
            body="Heartbeat from triaged. If these stop, triaged is down: page its owner.",
            service="triaged",
            started_at=now,
            labels={"alertname": "TriagedHeartbeat", "host": self.host, "service": "triaged"},
        )

    def beat(self, now: float) -> str:
        """Send one heartbeat. Returns "sent", "failed" or "skipped"; never raises."""
        if not self.progress.healthy(self.stale_after_s):
            self.log.warning("heartbeat_skipped", loop_age_s=round(self.progress.age(), 1))
            result = "skipped"
        else:
            try:
                self.notifier.send(self.message(now))
                self.log.debug("heartbeat_sent")
                result = "sent"
            except NotifyError as exc:
                self.log.warning("heartbeat_failed", error=str(exc))
                result = "failed"
        self.record(result)
        return result
