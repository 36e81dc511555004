"""The reload outcome file `triaged reload` waits on after its SIGHUP."""

from __future__ import annotations

import os
import time
from pathlib import Path

from structlog.testing import capture_logs

from triaged.service import reload_status


def test_an_unwritable_state_dir_leaves_the_reload_applied_and_says_so(tmp_path: Path) -> None:
    """A full disk or a read-only state dir must not turn an applied reload into a
    failed one: the outcome file is skipped with one warning."""
    missing = tmp_path / "gone" / reload_status.FILE_NAME
    with capture_logs() as logs:
        reload_status.write(missing, {"ok": True, "rules": 3}, started=time.monotonic())
    assert [e["event"] for e in logs] == ["reload_status_unwritten"]
    assert logs[0]["path"] == str(missing)
    assert not missing.parent.exists()


def test_only_an_outcome_of_that_pid_begun_after_the_signal_answers(tmp_path: Path) -> None:
    """An older outcome (a reload before the signal) or another process's is not the
    answer: the wait goes on until the timeout."""
    path = tmp_path / reload_status.FILE_NAME
    sent = time.monotonic()
    reload_status.write(path, {"ok": False, "errors": ["old"]}, started=sent - 5)
    assert reload_status.wait(path, os.getpid(), sent, 0.2, alive=lambda: True) is None
    assert reload_status.wait(path, os.getpid() + 1, sent - 10, 0.2, alive=lambda: True) is None
    reload_status.write(path, {"ok": True, "rules": 2}, started=sent + 0.01)
    answer = reload_status.wait(path, os.getpid(), sent, 0.2, alive=lambda: True)
    assert answer is not None and answer["ok"] and answer["rules"] == 2
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert [p.name for p in tmp_path.iterdir()] == [reload_status.FILE_NAME]  # no temp file left


def test_a_daemon_that_died_ends_the_wait_at_once(tmp_path: Path) -> None:
    path = tmp_path / reload_status.FILE_NAME
    began = time.monotonic()
    assert reload_status.wait(path, os.getpid(), began, 30, alive=lambda: False) is None
    assert time.monotonic() - began < 1
