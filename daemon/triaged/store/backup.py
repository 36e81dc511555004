"""A consistent copy of a live store, for ``triaged backup``.

Copying ``triaged.db`` with ``cp`` while the daemon runs is not a backup: in WAL mode
the newest pages live in ``triaged.db-wal`` until a checkpoint, so the copy misses
them or catches a page half written. SQLite's online backup API reads every page
inside one read transaction, which in WAL mode never blocks the daemon's writes, and
so gets one instant of the store, whatever the daemon does meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from triaged.store.db import BUSY_TIMEOUT_S, StoreError

# All pages in one step: a step-wise copy restarts each time another process writes,
# so under a busy daemon it could run forever. One step holds a read snapshot instead.
ALL_PAGES = -1


class BackupError(StoreError):
    """The backup could not be made; nothing was left at the destination."""


@dataclass(frozen=True)
class BackupResult:
    path: str
    size: int
    incidents: int


def backup(source: str | Path, out: str | Path, *, force: bool = False) -> BackupResult:
    """Copy the store at ``source`` to ``out``, check the copy, and only then move it
    into place, so a failed backup neither leaves a broken file nor clobbers an older
    good one. ``out`` is refused if it exists, unless ``force``, and if it is a
    symbolic link. The copy is written to an unpredictable name made by mkstemp (mode
    0600, kept by the rename): it holds every incident, readable by its owner only."""
    src, dst = Path(source), Path(out)
    _check_paths(src, dst, force=force)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".partial", dir=dst.parent)
    except OSError as exc:
        raise BackupError(f"{dst}: cannot create a file in {dst.parent}: {exc.strerror or exc}") from exc
    partial = Path(name)
    try:
        incidents = _copy(src, partial, fd)
        os.replace(partial, dst)  # replaces a name, never follows one
    except sqlite3.Error as exc:
        raise BackupError(f"{src}: backup failed: {exc}") from exc
    except OSError as exc:
        raise BackupError(f"{dst}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
        _remove_quietly(partial)
    _sync_directory(dst.parent)
    return BackupResult(str(dst), dst.stat().st_size, incidents)


def _check_paths(src: Path, dst: Path, *, force: bool) -> None:
    if not src.is_file():
        raise BackupError(f"{src}: no such database (check --db or the config's storage.db)")
    if dst.is_dir():
        raise BackupError(f"{dst} is a directory: name the backup file, e.g. {dst / src.name}")
    if not dst.parent.is_dir():
        raise BackupError(f"{dst}: directory {dst.parent} does not exist")
    if dst.is_symlink():
        # Whoever planted it may point it anywhere; a backup goes to the name given.
        raise BackupError(f"{dst} is a symbolic link: name the backup file itself")
    if dst.exists():
        if dst.resolve() == src.resolve():
            raise BackupError(f"{dst} is the store itself: name another file")
        if not force:
            raise BackupError(f"{dst} already exists: pass --force to replace it")


def _copy(src: Path, dst: Path, fd: int) -> int:
    """Copy into ``dst`` (the file open as ``fd``), make the copy one self-contained
    file, check it; return its incident count."""
    # Only read from, never migrated. Not ``mode=ro``: a read-only connection cannot
    # remove the -wal and -shm files it creates when no daemon runs, and left behind
    # (owned by whoever ran the backup) they lock the daemon out of its own store.
    reader = sqlite3.connect(src, timeout=BUSY_TIMEOUT_S)
    writer = sqlite3.connect(dst)
    try:
        _same_file(dst, fd)  # before the first page is written
        reader.backup(writer, pages=ALL_PAGES)
        # The copy inherits WAL mode; rollback mode keeps it a single file, safe to
        # move and copy around. The daemon switches a restored copy back to WAL.
        writer.execute("PRAGMA journal_mode=DELETE")
        problems = [row[0] for row in writer.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"{src}: the copy fails integrity_check: {'; '.join(problems[:3])}")
        return _incident_count(writer)
    finally:
        writer.close()
        reader.close()


def _same_file(path: Path, fd: int) -> None:
    """``path`` is still the 0600 file mkstemp made, not a link or file swapped in
    since: sqlite3 opens by name and follows a symbolic link, so anyone who may write
    to the backup directory could otherwise redirect the copy of the store."""
    made, now = os.fstat(fd), os.lstat(path)
    if stat.S_ISLNK(now.st_mode) or (now.st_dev, now.st_ino) != (made.st_dev, made.st_ino):
        raise BackupError(f"{path} was replaced while the backup ran: check who can write to {path.parent}")


def _incident_count(conn: sqlite3.Connection) -> int:
    """How many incidents the copy holds (0 for a store never migrated)."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'incidents'")
    if found.fetchone() is None:
        return 0
    count = conn.execute("SELECT count(*) FROM incidents").fetchone()[0]
    return int(count)


def _remove_quietly(path: Path) -> None:
    for leftover in [path, *(path.with_name(path.name + end) for end in ("-journal", "-wal", "-shm"))]:
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable: a power cut right after must not lose it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the data is synced already
    finally:
        os.close(fd)
