"""One daemon per store: an exclusive ``flock`` on ``<db>.lock``, held for the life of
the process.

Two daemons on one store evaluate every rule twice, fight over SQLite's write lock
("database is locked" every cycle) and overwrite each other's pid file, so a reload
signal then reaches the wrong one or none. A pid file alone cannot prevent that: it
outlives a ``kill -9``, and its pid may be reused. The kernel drops a ``flock`` when
its process dies however it dies, so the next start after a crash never has to guess.
The lock file holds the owner's pid only to name it in the refusal.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class AlreadyRunningError(RuntimeError):
    pass


class InstanceLock:
    """Held from :func:`acquire` until :meth:`release` or the process ends."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def lock_path_for(db_path: str) -> Path:
    return Path(db_path).resolve().with_name(Path(db_path).name + ".lock")


def acquire(db_path: str) -> InstanceLock:
    """Take the store's lock or raise :class:`AlreadyRunningError` naming the holder.
    Raises ``OSError`` when the lock file cannot be opened (read-only state dir)."""
    path = lock_path_for(db_path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        who = f"another triaged (pid {holder})" if holder else "another triaged"
        raise AlreadyRunningError(
            f"{who} is running on {Path(db_path).resolve()}: stop it first"
            " (systemctl stop triaged), or give this one its own storage.db"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return InstanceLock(path, fd)


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
