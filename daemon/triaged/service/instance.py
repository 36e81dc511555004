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
import time
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
    """Beside the store's file itself: a ``storage.db`` that is a symbolic link to
    another daemon's store must meet that daemon's lock, as SQLite follows it too."""
    store = Path(db_path).resolve()
    return store.with_name(store.name + ".lock")


# A CLI asking whether a daemon runs (:func:`running`) holds the lock for microseconds;
# a daemon starting at that instant must not take that for a rival.
ACQUIRE_TRIES = 20
ACQUIRE_PAUSE_S = 0.05


def acquire(db_path: str) -> InstanceLock:
    """Take the store's lock or raise :class:`AlreadyRunningError` naming the holder.
    Raises ``OSError`` when the lock file cannot be opened (read-only state dir)."""
    path = lock_path_for(db_path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    for attempt in range(ACQUIRE_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if attempt + 1 < ACQUIRE_TRIES:
                time.sleep(ACQUIRE_PAUSE_S)
    else:
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


def running(db_path: str) -> str | None:
    """The pid of the daemon running on this store ("" if it wrote none), or None when
    no daemon holds its lock. For the CLI, to say who will announce a change."""
    try:
        fd = os.open(lock_path_for(db_path), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # no lock file: no daemon has run here since it was made
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(fd)
    except OSError:
        return None
    finally:
        os.close(fd)  # also drops the shared lock if it was taken
    return None


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
