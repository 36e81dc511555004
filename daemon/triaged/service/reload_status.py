"""The outcome of the daemon's last reload, in a small file beside its pid file, so a
reload sent as a signal can still be answered.

SIGHUP carries nothing back: ``kill`` returns before the daemon has read a file. So
``triaged reload --pid N`` (what systemd's ``ExecReload=`` runs) notes the time, sends
the signal and waits here for an outcome written by that process for a reload that
started after the signal; it then prints the daemon's verdict and exits 1 if the files
were rejected. Without this, a file edited between a ``check`` and the signal was
refused by the daemon while ``systemctl reload`` reported success.

Times are ``time.monotonic()``: on Linux one clock for every process on the host,
immune to wall-clock steps.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("triaged.service")

FILE_NAME = "triaged.reload.json"


def path_beside(pid_file: Path) -> Path:
    return pid_file.with_name(FILE_NAME)


def write(path: Path, outcome: dict[str, Any], *, started: float) -> None:
    """Record ``outcome`` for the reload that began at ``started`` (monotonic). Never
    raises: a full disk must not turn an applied reload into a failed one; the CLI
    waiting for it then times out and points at the log, which has the outcome too."""
    record = {**outcome, "pid": os.getpid(), "started_monotonic": started}
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(record, out)
            os.replace(tmp, path)  # readers see the old outcome or the new, never half
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        log.warning("reload_status_unwritten", path=str(path), error=exc.strerror or str(exc))


def read(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def wait(
    path: Path,
    pid: int,
    sent: float,
    timeout_s: float,
    *,
    alive: Callable[[], bool],
    poll_s: float = 0.05,
) -> dict[str, Any] | None:
    """The outcome ``pid`` recorded for a reload it started at or after ``sent``
    (monotonic), or None once ``timeout_s`` has passed or ``alive()`` turns false."""
    deadline = time.monotonic() + timeout_s
    while True:
        record = read(path)
        if record is not None and _answers(record, pid, sent):
            return record
        if time.monotonic() >= deadline or not alive():
            return None
        time.sleep(poll_s)


def _answers(record: dict[str, Any], pid: int, sent: float) -> bool:
    started = record.get("started_monotonic")
    return record.get("pid") == pid and isinstance(started, int | float) and started >= sent
