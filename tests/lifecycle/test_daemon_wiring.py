"""The daemon wires the lifecycle in: the cycle records evidence and SLIs, and the
runner schedules the daily reminder job at the configured time."""

from __future__ import annotations

from pathlib import Path

from triaged.app import build
from triaged.config import load_config
from triaged.runner import Runner
from triaged.testing.clock import FakeClock


def test_runner_schedules_daily_reminders_at_remind_at(tmp_path: Path) -> None:
    path = tmp_path / "triaged.yaml"
    path.write_text('storage: {db: t.db}\nactions: {remind_at: "08:30"}\n')
    daemon = build(load_config(path), clock=FakeClock(), sources=[], notifiers={})
    assert daemon.lifecycle is not None
    runner = Runner(daemon)
    runner.start()
    try:
        job = runner.scheduler.get_job("reminders")
        assert job is not None
        fields = {f.name: str(f) for f in job.trigger.fields}
        assert (fields["hour"], fields["minute"]) == ("8", "30")
    finally:
        runner.stop(flush_s=0)
