"""Runs a :class:`~triaged.app.Daemon` under APScheduler: the cycle on whole-second
ticks, tsdb gc, the daily reminders and the OCI heartbeat; beside it, the dispatch
thread (woken by each cycle, and every ``outbox.interval`` for retries) sweeps the
outbox and starts each receiver's sends on a lane of its own; and stops it
gracefully, flushing the outbox within a bound."""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from triaged.app import Daemon
from triaged.errors import describe
from triaged.outbox.lanes import Lanes
from triaged.service.watchdog import LoopProgress

log = structlog.get_logger("triaged.app")


def schedule_time(now: float, tick: float) -> float:
    """The tick a cycle belongs to, when ticks are whole seconds: ``now`` rounded to
    the second. A job fires a few ms late, by a different amount each time, so raw
    clock readings put 4.998 s between two evaluations 5 s apart and a ``for: 5s``
    alert would wait one whole interval more. Whole seconds are exact floats, so
    differences between snapped times are exact too (as Prometheus's evaluation
    timestamps are). Sub-second ticks are left as read."""
    return float(round(now)) if tick.is_integer() else now


class FailureLog:
    """One log line for a job that keeps failing the same way: the first failure, a
    reminder with the count once a minute, one line when it works again. A full disk
    fails the cycle every second; a traceback each time would bury everything else
    (and trip journald's rate limit)."""

    EVERY_S = 60.0

    def __init__(self, job: str) -> None:
        self.job = job
        self.error: str | None = None
        self.failures = 0
        self._logged_at = -math.inf

    def failed(self, error: str, now: float) -> None:
        self.failures += 1
        if error != self.error or now - self._logged_at >= self.EVERY_S:
            log.error("job_failed", job=self.job, error=error, failures=self.failures)
            self.error, self._logged_at = error, now

    def worked(self) -> None:
        if self.failures:
            log.info("job_recovered", job=self.job, failures=self.failures)
        self.error, self.failures, self._logged_at = None, 0, -math.inf


class ClockGuard:
    """Notices the wall clock stepping: an NTP correction, a VM resumed, `date -s`.
    APScheduler plans runs in wall-clock time, so a clock stepped back an hour would run
    nothing for an hour; the runner re-plans every job when this reports a step."""

    def __init__(self, step_s: float = 2.0) -> None:
        self.step_s = step_s
        self._offset = self._read()

    @staticmethod
    def _read() -> float:
        return time.time() - time.monotonic()  # looked up per call: tests move time.time

    def stepped(self) -> float:
        """Seconds the wall clock moved against the monotonic clock since the last call;
        0 for less than ``step_s`` (ordinary NTP slewing)."""
        offset = self._read()
        moved, self._offset = offset - self._offset, offset
        return moved if abs(moved) >= self.step_s else 0.0


class Runner:
    """Runs a daemon under APScheduler until stopped."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
        )
        self.stopped = threading.Event()
        # Written by each cycle; the systemd watchdog, heartbeat and /healthz read it.
        self.progress = LoopProgress(daemon.tick_interval())
        self.failures: dict[str, FailureLog] = {}
        self._guard_stop = threading.Event()
        self._dispatch_wake = threading.Event()
        self._dispatch_stop = threading.Event()
        self._dispatch_at = 0.0  # the latest cycle's time: what it recorded is due then
        self._dispatch_thread: threading.Thread | None = None
        self.lanes = Lanes(self._round)
        self._round_jobs: dict[str, Callable[[], None]] = {}
        self.remind_at = (9, 0)  # the daily reminders' hour and minute, once started

    def start(self) -> None:
        d = self.daemon
        tick = d.tick_interval()
        # Whole-second ticks start on a whole second, so schedule_time() can snap to them.
        now = time.time()
        first = datetime.fromtimestamp(math.ceil(now) if tick.is_integer() else now, UTC)
        self.scheduler.add_job(self._cycle, "interval", seconds=tick, id="cycle", next_run_time=first)
        self._start_dispatching()
        self.scheduler.add_job(self._guarded("gc", d.gc), "interval", seconds=60, id="gc")
        if d.lifecycle is not None:  # daily: postmortems and action items due or late
            hour, minute = self.remind_at = d.cfg.lifecycle.actions.remind_at
            self.scheduler.add_job(self._remind, "cron", hour=hour, minute=minute, id="reminders")
        if d.heartbeat is not None:
            beat = d.heartbeat
            self.scheduler.add_job(lambda: beat(d.clock.now()), "interval", seconds=60, id="oci_heartbeat")
        self.scheduler.start()
        guard = threading.Thread(target=self._watch_clock, args=(tick,), name="clock-guard", daemon=True)
        guard.start()
        log.info(
            "daemon_started",
            sources=len(d.sources),
            rules=sum(len(g.rules) for g in d.rules.groups),
            db=d.store.path,
            tick_s=d.tick_interval(),
        )

    def _remind(self) -> None:
        lifecycle = self.daemon.lifecycle  # looked up each day: a reload may replace it
        if lifecycle is not None:
            lifecycle.remind(self.daemon.clock.now())

    def replan_reminders(self, remind_at: tuple[int, int]) -> None:
        """Follow a reload that moved ``actions.remind_at``."""
        job = self.scheduler.get_job("reminders")
        if job is None or remind_at == self.remind_at:
            return
        hour, minute = self.remind_at = remind_at
        job.reschedule("cron", hour=hour, minute=minute)
        log.info("reminders_replanned", at=f"{hour:02d}:{minute:02d}")

    def retick(self) -> None:
        """Follow a reload that changed the tick (a target or group interval under 1 s
        added or gone): re-plan the cycle job on the new interval."""
        tick = self.daemon.tick_interval()
        job = self.scheduler.get_job("cycle")
        if job is None or not isinstance(job.trigger, IntervalTrigger):
            return
        if job.trigger.interval.total_seconds() != tick:
            job.reschedule("interval", seconds=tick)
            self.progress.interval_s = tick
            log.info("tick_changed", tick_s=tick)

    def _cycle(self) -> None:
        self.progress.cycle_started()
        failures = self.failures.setdefault("cycle", FailureLog("cycle"))
        try:
            report = self.daemon.cycle(schedule_time(self.daemon.clock.now(), self.daemon.tick_interval()))
        # A boundary: a cycle that fails (a full disk, a read-only store) is tried again
        # at the next tick, and recovers by itself when the cause goes. /healthz and the
        # heartbeat see that it is not detecting; the systemd watchdog sees the loop turn
        # and leaves it be (a restart would not free the disk).
        except Exception as exc:
            error = self._describe(exc)
            failures.failed(error, self.daemon.clock.now())
            self.progress.cycle_failed(error)
            return
        # Only a cycle that evaluated rules wrote to the store: a tick with nothing due
        # succeeding says nothing about the disk being full, so it recovers nothing.
        worked = report.evaluated or not self.daemon.rules.groups
        if worked:
            failures.worked()
        self.progress.cycle_done(worked=worked)

    def _watch_clock(self, tick: float) -> None:
        guard = ClockGuard()
        while not self._guard_stop.wait(max(tick, 1.0)):  # an Event waits on the monotonic clock
            moved = guard.stepped()
            if moved:
                log.warning("clock_stepped", seconds=round(moved, 3), action="every job re-planned")
                self._replan()

    def _replan(self) -> None:
        """Plan each job's next run from the new wall-clock time (interval jobs on the
        next whole second, as at start; cron jobs at their next match)."""
        now = datetime.fromtimestamp(time.time(), UTC)
        for job in self.scheduler.get_jobs():
            if isinstance(job.trigger, IntervalTrigger):
                at: datetime | None = datetime.fromtimestamp(math.ceil(now.timestamp()), UTC)
            else:
                at = job.trigger.get_next_fire_time(None, now)
            job.modify(next_run_time=at)

    # -- the dispatch thread and the receivers' lanes ----------------------------------
    def _start_dispatching(self) -> None:
        """Sends happen off the loop, so the cycle never waits for a receiver (one that
        hangs would stall scrapes and rules for its timeout, per attempt), and each
        receiver on its own lane, so a hung one delays only its own pages. The cycle
        wakes the dispatch thread as it ends: a new incident's first page still goes
        at once."""
        self.daemon.wake_dispatch = self._wake_dispatch
        self._dispatch_thread = threading.Thread(target=self._dispatch_loop, name="dispatch", daemon=True)
        self._dispatch_thread.start()

    def _wake_dispatch(self, now: float) -> None:
        self._dispatch_at = max(self._dispatch_at, now)
        self._dispatch_wake.set()

    def _dispatch_loop(self) -> None:
        kick = self._guarded("dispatch", self._kick_due)
        while not self._dispatch_stop.is_set():
            self._dispatch_wake.wait(self.daemon.cfg.outbox.interval_s)  # monotonic: immune to clock steps
            self._dispatch_wake.clear()  # a wake during the sweep brings another
            if not self._dispatch_stop.is_set():
                kick()

    def _kick_due(self) -> int:
        """Sweep, then start a round on the lane of each receiver with rows due."""
        receivers = self.daemon.due_receivers(self._dispatch_at)
        for receiver in receivers:
            self.lanes.kick(receiver)
        return len(receivers)

    def _round(self, receiver: str) -> None:
        guarded = self._round_jobs.get(receiver)
        if guarded is None:  # one failure log per receiver: each fails its own way
            guarded = self._guarded(
                f"dispatch:{receiver}", lambda: self.daemon.dispatch_to(receiver, self._dispatch_at)
            )
            self._round_jobs[receiver] = guarded
        guarded()

    def _stop_dispatching(self, flush_s: float) -> bool:
        """Stop waking the lanes, then keep kicking them while rows are due, for at most
        ``flush_s``: the rounds in flight end (every send has a deadline) and rows
        waiting out a short backoff still go; a receiver that hangs holds up no other.
        What is left is sent after the restart. Returns False if a lane is still
        sending at the end (the store must then stay open for it to record)."""
        self.daemon.wake_dispatch = None  # a cycle run by hand from now on sends itself
        self._dispatch_stop.set()
        self._dispatch_wake.set()
        deadline = time.monotonic() + flush_s
        if self._dispatch_thread is not None:  # it only sweeps and kicks: quick
            self._dispatch_thread.join(max(flush_s, 1.0))
        kick = self._guarded("dispatch", self._kick_due)
        while time.monotonic() < deadline and self.daemon.pending_notifications() > 0:
            self._dispatch_at = max(self._dispatch_at, self.daemon.clock.now())
            kick()
            # Short waits, so the other receivers' rows (a retry coming due) are
            # kicked again while one receiver hangs.
            if self.lanes.wait_idle(min(0.25, max(0.0, deadline - time.monotonic()))):
                time.sleep(0.05)  # every lane idle: what is left waits out a backoff
        if self.lanes.close(max(0.0, deadline - time.monotonic()) + 1.0):
            return True
        log.warning("dispatch_still_sending", receivers=sorted(self.lanes.busy()))
        return False

    def _describe(self, exc: Exception) -> str:
        """SQLite names neither the file nor the cause ("disk I/O error" for a file
        size limit, "attempt to write a readonly database"): say it is the store."""
        error = describe(exc)
        if isinstance(exc, sqlite3.Error):
            return f"{error} (store {self.daemon.store.path})"
        return error

    def _guarded(self, name: str, job: Callable[[], object]) -> Callable[[], None]:
        failures = self.failures.setdefault(name, FailureLog(name))

        def run() -> None:
            try:
                job()
            # A boundary, as for the cycle: one line, and the next run tries again.
            except Exception as exc:
                failures.failed(self._describe(exc), self.daemon.clock.now())
            else:
                failures.worked()

        return run

    def stop(self, flush_s: float = 5.0) -> None:
        """Finish the running cycle, try to flush the outbox for ``flush_s``, stop."""
        self._guard_stop.set()
        self.scheduler.shutdown(wait=True)
        idle = self._stop_dispatching(flush_s)
        left = self.daemon.pending_notifications()
        if left:
            log.warning("outbox_not_flushed", pending=left, flush_s=flush_s)
        self.daemon.close()
        if idle:
            self.daemon.store.close()
        # Else a lane is still sending: the store stays open so a page that gets through
        # before the process exits is recorded (not sent again after the restart). The
        # lane is a daemon thread, so it does not hold up the exit.
        self.stopped.set()
        log.info("daemon_stopped")
