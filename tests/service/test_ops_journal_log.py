"""Under journald, each JSON log line carries its syslog priority, so
`journalctl -p err -u triaged` shows `job_failed`; anywhere else, lines are plain JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import daemon_env

EMIT = """
import logging
import structlog
from triaged import log
log.configure("debug", "auto")
say = structlog.get_logger("test")
say.critical("store_lost")
say.error("job_failed", job="cycle")
say.warning("reload_needs_restart")
say.info("rules_loaded")
say.debug("cycle_done")
logging.getLogger("urllib3").warning("connection pool is full")
"""

PRIORITIES = ["<3>", "<3>", "<4>", "<6>", "<7>", "<4>"]
EVENTS = ["store_lost", "job_failed", "reload_needs_restart", "rules_loaded", "cycle_done", "library_log"]


def emit(tmp_path: Path, journal_stream: str | None) -> list[str]:
    """Run the snippet with stderr on a file, ``JOURNAL_STREAM`` set as given."""
    err = tmp_path / "stderr"
    env = daemon_env()
    if journal_stream is not None:
        env["JOURNAL_STREAM"] = journal_stream
    with err.open("wb") as out:
        if journal_stream == "this file":
            st = os.fstat(out.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        subprocess.run([sys.executable, "-c", EMIT], stderr=out, env=env, check=True, timeout=30)
    return err.read_text().splitlines()


def test_only_lines_to_the_journal_start_with_their_priority(tmp_path: Path) -> None:
    lines = emit(tmp_path, "this file")
    assert [line[:3] for line in lines] == PRIORITIES
    assert [json.loads(line[3:])["event"] for line in lines] == EVENTS
    for stream in (None, "12345:67890", "not a stream"):  # unset; another stream (a redirect); junk
        lines = emit(tmp_path, stream)
        assert [json.loads(line)["event"] for line in lines] == EVENTS, stream
