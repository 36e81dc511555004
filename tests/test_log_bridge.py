"""Library log lines (APScheduler, urllib3) reach our own log format, rate-limited."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from triaged import log

SKIPPED = 'Execution of job "%s" skipped: maximum number of running instances reached (%d)'


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    log.configure("info", "json", stream=stream)
    yield stream
    structlog.configure(**saved)
    root.handlers, root.level = handlers, level


def record(created: float, *args: object) -> logging.LogRecord:
    r = logging.LogRecord("apscheduler.scheduler", logging.WARNING, __file__, 1, SKIPPED, args, None)
    r.created = created
    return r


def test_apscheduler_overrun_lines_are_json_and_once_a_minute(out: io.StringIO) -> None:
    sched = logging.getLogger("apscheduler.scheduler")
    for second in range(130):  # a cycle overrunning for two minutes: one line a second
        sched.handle(record(1000.0 + second, "Runner._cycle", 1))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 3, "at 0 s, 60 s and 120 s"
    first, second = lines[0], lines[1]
    assert first["event"] == "library_log" and first["logger"] == "apscheduler.scheduler"
    assert first["level"] == "warning"
    assert (
        first["message"]
        == 'Execution of job "Runner._cycle" skipped: maximum number of running instances reached (1)'
    )
    assert "repeated" not in first and second["repeated"] == 59


def test_library_info_lines_stay_out_unless_debug(out: io.StringIO) -> None:
    logging.getLogger("apscheduler.scheduler").info("Added job %s", "cycle")
    assert out.getvalue() == ""
