"""The systemd watchdog, fed by the scheduler loop's progress, not by a timer.

A thread that pinged on its own clock would keep a daemon with a stuck cycle alive
forever. Instead the cycle records each turn in :class:`LoopProgress`, and the
watchdog thread pings only while the last turn is recent. A stuck loop stops the
pings and systemd restarts the service (``WatchdogSec=`` + ``Restart=on-failure``).

A cycle that *fails* (a full disk, a read-only store) still turns: the loop is alive
and recovers by itself when the cause goes, which a restart would not speed up, only
lose the in-memory series and alert state every ``WatchdogSec``. So the watchdog
counts failed turns; ``/healthz`` and the OCI heartbeat count successful ones only, and
say the daemon is not detecting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from triaged.service.sdnotify import SdNotifier

log = structlog.get_logger("triaged.watchdog")


class LoopProgress:
    """Monotonic timestamps of the scheduler loop; written by the cycle, read by the
    watchdog, the heartbeat, ``/healthz`` and the self-metrics."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self.started_at = clock()
        self.last_start: float | None = None
        self.last_done: float | None = None
        self.last_turn: float | None = None  # a cycle that ended, done or failed
        self.last_duration_s = 0.0
        self.lag_s = 0.0
        self.cycles = 0
        self.failing: str | None = None  # the error of a failed cycle not yet followed by one that worked

    def cycle_started(self) -> None:
        now = self._clock()
        with self._lock:
            if self.last_start is not None:
                # How much later than one interval after the previous start this one began.
                self.lag_s = max(0.0, now - self.last_start - self.interval_s)
            self.last_start = now

    def cycle_done(self, *, worked: bool = True) -> None:
        """The cycle ended without an error. ``worked``: it evaluated the due rules and
        recorded their outcome. A tick with nothing due proves nothing about the failure
        before it (a full disk fails only the ticks that write): it keeps the loop
        turning but does not count as completed while a failure stands."""
        now = self._clock()
        with self._lock:
            self.last_turn = now
            if worked:
                self.failing = None
            if self.failing is None:
                self.last_done = now
            if self.last_start is not None:
                self.last_duration_s = now - self.last_start
            self.cycles += 1

    def cycle_failed(self, error: str = "") -> None:
        """The cycle raised and the loop goes on: alive, but not detecting."""
        with self._lock:
            self.last_turn = self._clock()
            self.failing = error or "cycle failed"

    def age(self) -> float:
        """Seconds since the last completed cycle (since start if none completed yet)."""
        with self._lock:
            return self._clock() - (self.last_done if self.last_done is not None else self.started_at)

    def turn_age(self) -> float:
        """Seconds since the last cycle ended, completed or failed."""
        with self._lock:
            return self._clock() - (self.last_turn if self.last_turn is not None else self.started_at)

    def healthy(self, stale_after_s: float) -> bool:
        return self.age() <= stale_after_s

    def turning(self, stale_after_s: float) -> bool:
        return self.turn_age() <= stale_after_s


class Watchdog:
    """Pings ``WATCHDOG=1`` every ``timeout_s / 2`` while the loop is progressing."""

    def __init__(
        self, notifier: SdNotifier, progress: LoopProgress, timeout_s: float, *, stale_after_s: float
    ) -> None:
        self.notifier = notifier
        self.progress = progress
        self.timeout_s = timeout_s
        self.stale_after_s = stale_after_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self.pings = 0
        self.withheld = 0

    def start(self) -> None:
        log.info("watchdog_started", timeout_s=self.timeout_s, stale_after_s=self.stale_after_s)
        self._thread.start()

    def tick(self) -> bool:
        """One decision: ping if the loop turned recently. Returns whether it pinged."""
        if self.progress.turning(self.stale_after_s):
            self.notifier.watchdog()
            self.pings += 1
            return True
        if self.withheld == 0:
            log.error("watchdog_withheld", loop_age_s=round(self.progress.turn_age(), 1))
        self.withheld += 1
        return False

    def _run(self) -> None:
        period = max(0.05, self.timeout_s / 2)
        while not self._stop.wait(period):
            pinged = self.tick()
            if pinged and self.withheld:
                log.info("watchdog_resumed", withheld=self.withheld)
                self.withheld = 0

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
