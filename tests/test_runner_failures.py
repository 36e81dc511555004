"""A cycle that keeps failing (a full disk, a read-only store) says so in one line,
keeps trying, and says when it works again."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from triaged.app import Daemon, build
from triaged.config import load_config
from triaged.runner import FailureLog, Runner
from triaged.service.selfmetrics import SelfMetrics, ServiceStats
from triaged.service.watchdog import LoopProgress
from triaged.testing.clock import FakeClock

RULES = """groups:
  - name: g
    interval: 1s
    rules:
      - alert: Always
        expr: vector(1)
        labels: {severity: P2, service: api}
"""


@contextmanager
def runner_with_rules(tmp_path: Path, interval: str) -> Iterator[tuple[Daemon, Runner, FakeClock]]:
    """A daemon whose one rule group runs every ``interval``, its runner (cycles run
    by hand) and its clock; closed afterwards."""
    (tmp_path / "r.rules.yml").write_text(RULES.replace("interval: 1s", f"interval: {interval}"))
    (tmp_path / "t.yaml").write_text(
        f"storage: {{db: t.db}}\nrule_files: ['*.rules.yml']\nevaluation_interval: {interval}\n"
    )
    clock = FakeClock(1_790_000_000.0)
    daemon = build(load_config(tmp_path / "t.yaml"), sources=[], clock=clock)
    try:
        yield daemon, Runner(daemon), clock
    finally:
        daemon.close()
        daemon.store.close()


@pytest.mark.usefixtures("default_logging")
def test_a_store_that_refuses_writes_gives_one_line_not_a_traceback_per_tick(tmp_path: Path) -> None:
    with runner_with_rules(tmp_path, "1s") as (daemon, runner, clock):
        daemon.store.execute("PRAGMA query_only = ON")  # what a full disk looks like to the cycle
        with capture_logs() as logs:
            for _ in range(30):
                clock.advance(1)
                runner._cycle()
        failed = [e for e in logs if e["event"] == "job_failed"]
        assert len(failed) == 1  # not 30
        assert failed[0]["job"] == "cycle" and "readonly" in failed[0]["error"]
        assert "\n" not in failed[0]["error"]
        assert runner.progress.cycles == 0  # not progressing: the watchdog and /healthz see it
        daemon.store.execute("PRAGMA query_only = OFF")  # space freed
        with capture_logs() as logs:
            clock.advance(1)
            runner._cycle()
        assert [(e["event"], e["failures"]) for e in logs if e["event"] == "job_recovered"] == [
            ("job_recovered", 30)
        ]
        assert runner.progress.cycles == 1


@pytest.mark.usefixtures("default_logging")
def test_ticks_with_nothing_due_do_not_count_as_recovery_from_a_full_disk(tmp_path: Path) -> None:
    """Rules every 3 s, ticks every second: the two idle ticks between failing
    evaluations succeed (they write nothing). Before, each logged job_recovered and
    refreshed /healthz, so a full disk read as healthy with two lines per evaluation."""
    with runner_with_rules(tmp_path, "3s") as (daemon, runner, clock):
        daemon.store.execute("PRAGMA query_only = ON")
        with capture_logs() as logs:
            for _ in range(30):
                clock.advance(1)
                runner._cycle()
        assert [e["event"] for e in logs if e["event"].startswith("job_")] == ["job_failed"]
        assert runner.progress.last_done is None  # /healthz: no cycle completed since start
        assert runner.progress.failing is not None and "readonly" in runner.progress.failing
        assert runner.progress.turning(5.0)  # the systemd watchdog still sees the loop turn
        daemon.store.execute("PRAGMA query_only = OFF")
        with capture_logs() as logs:
            for _ in range(3):
                clock.advance(1)
                runner._cycle()
        assert [e["event"] for e in logs if e["event"].startswith("job_")] == ["job_recovered"]
        assert runner.progress.failing is None and runner.progress.last_done is not None


@pytest.mark.usefixtures("default_logging")
def test_a_group_whose_outcome_was_not_recorded_is_evaluated_again_at_the_next_tick(tmp_path: Path) -> None:
    """An hourly group fails to record once (a locked or full store): the next tick
    evaluates it again, so the cycle recovers at once. Before, it waited the whole
    hour: /healthz failed and nothing was detected from that group all the while."""
    with runner_with_rules(tmp_path, "1h") as (daemon, runner, clock):
        daemon.store.execute("PRAGMA query_only = ON")
        clock.advance(1)
        runner._cycle()
        assert runner.progress.failing is not None
        daemon.store.execute("PRAGMA query_only = OFF")
        with capture_logs() as logs:
            clock.advance(1)
            runner._cycle()
        assert [e["event"] for e in logs if e["event"].startswith("job_")] == ["job_recovered"]
        assert runner.progress.failing is None
        assert (
            daemon.store.query("SELECT COUNT(*) AS n FROM incidents")[0]["n"] == 1
        )  # detected now, not in an hour


def test_scrapes_of_a_cycle_that_failed_later_still_count_in_the_metrics(tmp_path: Path) -> None:
    """The target refuses connections while the disk is full: /metrics says it is down
    (before, the failed cycle's report was dropped: `up 1`, no failures counted)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # closed again: connections are refused
    (tmp_path / "r.rules.yml").write_text(RULES)
    (tmp_path / "t.yaml").write_text(
        "storage: {db: t.db}\nrule_files: ['*.rules.yml']\nevaluation_interval: 1s\n"
        f"targets: [{{job: shop, url: 'http://127.0.0.1:{dead}/metrics', interval: 1s}}]\n"
    )
    clock = FakeClock(1_790_000_000.0)
    daemon = build(load_config(tmp_path / "t.yaml"), clock=clock)
    stats = ServiceStats()
    daemon.on_cycle = stats.observe_cycle
    try:
        daemon.store.execute("PRAGMA query_only = ON")
        with pytest.raises(sqlite3.OperationalError):
            daemon.cycle(clock.now())
        rendered = SelfMetrics(Runner(daemon), stats).render().decode()
    finally:
        daemon.close()
        daemon.store.close()
    assert f'triaged_scrape_failures_total{{target="scrape/shop/127.0.0.1:{dead}"}} 1.0' in rendered
    assert f'triaged_target_up{{target="scrape/shop/127.0.0.1:{dead}"}} 0.0' in rendered


def test_healthz_counts_only_cycles_that_worked_once_one_failed() -> None:
    now = [0.0]
    progress = LoopProgress(1.0, clock=lambda: now[0])
    progress.cycle_done()
    now[0] = 10.0
    progress.cycle_failed("OperationalError: database or disk is full")
    for _ in range(50):  # idle ticks
        now[0] += 1
        progress.cycle_done(worked=False)
    assert progress.age() == 60.0 and not progress.healthy(30.0)  # since the last that worked
    progress.cycle_done(worked=True)
    assert progress.age() == 0.0 and progress.failing is None


@pytest.mark.usefixtures("default_logging")
def test_a_repeating_failure_is_logged_again_once_a_minute_with_its_count() -> None:
    failures = FailureLog("dispatch")
    with capture_logs() as logs:
        for t in range(0, 125):
            failures.failed("OperationalError: database or disk is full", float(t))
        failures.failed("OperationalError: disk I/O error", 125.0)  # a new error: at once
    assert [e["failures"] for e in logs] == [1, 61, 121, 126]
    assert logs[-1]["error"] == "OperationalError: disk I/O error"


def test_a_wall_clock_stepped_back_an_hour_does_not_stop_the_cycles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """APScheduler plans in wall-clock time: before, stepping the clock back an hour
    (NTP, a resumed VM) ran no cycle for an hour, with nothing in the log."""
    import apscheduler.executors.base
    import apscheduler.schedulers.base

    offset = [0.0]
    real_time = time.time

    class Shifted(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Shifted:
            return cls.fromtimestamp(real_time() + offset[0], tz)

    # Every reader of the wall clock in the scheduler moves together, as with a real step.
    monkeypatch.setattr(apscheduler.schedulers.base, "datetime", Shifted)
    monkeypatch.setattr(apscheduler.executors.base, "datetime", Shifted)
    monkeypatch.setattr(time, "time", lambda: real_time() + offset[0])
    (tmp_path / "t.yaml").write_text("storage: {db: t.db}\nrule_files: []\nevaluation_interval: 1s\n")
    daemon = build(load_config(tmp_path / "t.yaml"), sources=[])
    cycles: list[float] = []
    daemon.on_cycle = lambda report: cycles.append(report.at)
    runner = Runner(daemon)
    runner.start()
    try:
        deadline = real_time() + 5
        while len(cycles) < 2 and real_time() < deadline:
            threading.Event().wait(0.1)
        assert len(cycles) >= 2
        offset[0] = -3600.0
        before = len(cycles)
        threading.Event().wait(4.5)
        assert len(cycles) - before >= 2
        assert cycles[-1] < cycles[before - 1]  # the cycles run on the new (earlier) time
    finally:
        runner.stop(flush_s=0)


def test_healthz_names_a_failing_cycle_before_its_grace_runs_out(tmp_path: Path) -> None:
    """During the grace a failure gets before /healthz answers 503, `curl /healthz`
    already shows the error, not a cheerful 'last cycle 2s ago'."""
    from triaged.service.host import ServiceHost

    with runner_with_rules(tmp_path, "1s") as (_, runner, _clock):
        host = ServiceHost(runner, str(tmp_path / "t.yaml"), environ={})
        runner.progress.cycle_done()
        runner.progress.cycle_failed("OperationalError: database or disk is full")
        ok, detail = host.live()
        assert ok and detail.endswith("the latest failed: OperationalError: database or disk is full")
        runner.progress.cycle_done(worked=True)
        ok, detail = host.live()
        assert ok and "failed" not in detail
