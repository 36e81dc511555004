"""Who holds an outbox claim: host, pid, and when that process started.

A pid alone does not name a process for long. In a container the daemon is PID 1 on
every start, so after ``kill -9`` the new daemon would take its predecessor's claims
for its own (pid 1 is alive: it is us) and the page would wait out the lease. The
start time of the process (field 22 of ``/proc/<pid>/stat``, clock ticks since boot)
together with the boot id tells two processes with the same pid apart; both are
recorded in the ``claimed_by`` column, so no schema change is needed:

    host:pid:n               where /proc cannot be read (and rows from older versions)
    host:pid:start@boot:n    elsewhere

A claim's owner is alive only if a process with that pid exists *and*, where a start
token was recorded and the process's /proc entry can be read, started at that time.
Where it cannot be read (no /proc, or ``hidepid``), "the pid exists" decides, as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    start: str | None  # None: not recorded, compare by pid only
    n: str

    def worker(self) -> str:
        middle = str(self.pid) if self.start is None else f"{self.pid}:{self.start}"
        return f"{self.host}:{middle}:{self.n}"


def current(host: str, n: int) -> Owner:
    """This process, as its claims record it."""
    return Owner(host, os.getpid(), start_token(os.getpid()), str(n))


def parse(worker: str) -> Owner | None:
    """The owner a ``claimed_by`` value names; None if it is not ours to judge."""
    parts = worker.split(":")
    if len(parts) == 3:
        host, pid, n = parts
        start = None
    elif len(parts) == 4:
        host, pid, start, n = parts
    else:
        return None
    return Owner(host, int(pid), start, n) if pid.isdigit() else None


def start_token(pid: int) -> str | None:
    """``<start ticks>@<boot id prefix>`` of a running process, None if unreadable
    (no such process, no /proc, or not allowed to look)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # Field 2 (the command) is in parentheses and may hold spaces or ')': split after it.
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 20 or not fields[19].isdigit():
        return None
    return f"{fields[19]}@{_boot_id()}"


def _boot_id() -> str:
    # Start ticks count from boot: after a reboot another process may match them.
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return "-"


def alive(owner: Owner) -> bool:
    """Whether the process that made a claim still runs."""
    if owner.start is not None:
        now = start_token(owner.pid)
        if now is not None:
            return now == owner.start  # same pid, other start: the pid was reused
    # Nothing recorded, or nothing readable now (no such process, no /proc, hidepid):
    # the pid alone decides, and a process we may not look at counts as alive.
    return _pid_alive(owner.pid)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
